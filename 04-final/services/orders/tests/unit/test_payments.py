import time

import pytest

from payments import provider


def test_the_success_card_and_any_other_number_are_charged():
    assert provider.charge("4242424242424242", 100).startswith("ch_")
    assert provider.charge("5555555555554444", 100).startswith("ch_")


def test_the_decline_card_always_declines():
    with pytest.raises(provider.PaymentDeclined):
        provider.charge(provider.DECLINE_CARD, 100)


def test_the_timeout_card_waits_for_the_timeout_then_gives_up(settings):
    settings.PAYMENT_TIMEOUT_SECONDS = 0.2
    started = time.monotonic()
    with pytest.raises(provider.PaymentTimeout) as exc:
        provider.charge(provider.TIMEOUT_CARD, 100)
    assert time.monotonic() - started >= 0.2
    assert exc.value.code == "payment_timeout"


def test_every_failure_has_the_machine_code_of_the_contract():
    assert provider.PaymentDeclined.code == "payment_declined"
    assert provider.PaymentTimeout.code == "payment_timeout"
