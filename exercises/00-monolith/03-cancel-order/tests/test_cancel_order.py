"""Exercise 00.3: cancelling gives back what placing took, exactly once."""

import pytest

from orders import services
from orders.models import Order
from payments.models import Payment

from ..conftest import GOOD_CARD, stock_of


@pytest.fixture
def order(alice, product):
    return services.place_order(alice, [services.Line(product.id, 3)], GOOD_CARD)


def test_cancel_gives_the_stock_back(alice, product, order):
    before = stock_of(product)
    services.cancel_order(alice, order.id)
    assert stock_of(product) == before + 3


def test_cancel_refunds_the_payment(alice, order):
    services.cancel_order(alice, order.id)
    assert Payment.objects.get(order=order).status == Payment.Status.REFUNDED


def test_an_order_is_cancelled_once(alice, product, order):
    services.cancel_order(alice, order.id)
    after_first = stock_of(product)
    with pytest.raises(services.NotCancellable):
        services.cancel_order(alice, order.id)
    assert stock_of(product) == after_first


def test_nobody_cancels_someone_elses_order(bob, order):
    with pytest.raises(Order.DoesNotExist):
        services.cancel_order(bob, order.id)
    assert Order.objects.get(id=order.id).status == "confirmed"


def test_stock_and_money_go_back_together_or_not_at_all(alice, product, order, monkeypatch):
    """One transaction: when the refund fails, the cancel is refused as a whole: the order stays
    confirmed and keeps its stock, so a retry can do all of it later."""
    from payments import provider

    def provider_down(charge_ref, amount_cents):
        raise ConnectionError("the payment provider does not answer (injected)")

    monkeypatch.setattr(provider, "refund", provider_down)
    before = stock_of(product)
    with pytest.raises(ConnectionError):
        services.cancel_order(alice, order.id)
    assert Order.objects.get(id=order.id).status == "confirmed"
    assert stock_of(product) == before, "the stock went back for an order that was not refunded"
    assert Payment.objects.get(order=order).status == Payment.Status.CHARGED
