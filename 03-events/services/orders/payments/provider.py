"""A fake payment provider with deterministic test cards, like a real provider's sandbox.

    4242424242424242  always succeeds (so does any other well-formed number)
    4000000000000002  always declines
    4000000000000119  never answers in time: we wait PAYMENT_TIMEOUT_SECONDS (or less, when the
                      request's deadline is nearer), then give up

It sleeps for real on the timeout card so that the cost of a slow dependency is felt, not faked.
"""

import time
import uuid

from django.conf import settings

DECLINE_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000119"


class PaymentFailed(Exception):
    code = "payment_failed"


class PaymentDeclined(PaymentFailed):
    code = "payment_declined"


class PaymentTimeout(PaymentFailed):
    code = "payment_timeout"


def charge(card_number: str, amount_cents: int, timeout: float | None = None) -> str:
    """Charge the card, waiting at most `timeout` s (default PAYMENT_TIMEOUT_SECONDS); returns
    the provider's charge reference."""
    timeout = settings.PAYMENT_TIMEOUT_SECONDS if timeout is None else timeout
    if card_number == DECLINE_CARD:
        raise PaymentDeclined("the card was declined")
    if card_number == TIMEOUT_CARD:
        time.sleep(timeout)
        raise PaymentTimeout(f"the payment provider did not answer within {timeout:g} s")
    return f"ch_{uuid.uuid4().hex[:16]}"


def refund(charge_ref: str, amount_cents: int) -> str:
    return f"re_{uuid.uuid4().hex[:16]}"
