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


def charge(card_number: str, amount_cents: int, timeout: float | None = None,
           idempotency_key: str | None = None) -> str:
    """Charge the card, waiting at most `timeout` s (default PAYMENT_TIMEOUT_SECONDS); returns
    the provider's charge reference. The same `idempotency_key` again returns the first charge."""
    from payments.models import ProviderCharge

    timeout = settings.PAYMENT_TIMEOUT_SECONDS if timeout is None else timeout
    if idempotency_key is not None:
        done = ProviderCharge.objects.filter(idempotency_key=idempotency_key).first()
        if done is not None:
            return done.charge_ref
    if card_number == DECLINE_CARD:
        raise PaymentDeclined("the card was declined")
    if card_number == TIMEOUT_CARD:
        time.sleep(timeout)
        raise PaymentTimeout(f"the payment provider did not answer within {timeout:g} s")
    ref = f"ch_{uuid.uuid4().hex[:16]}"
    if idempotency_key is not None:
        charge, _ = ProviderCharge.objects.get_or_create(
            idempotency_key=idempotency_key,
            defaults={"charge_ref": ref, "amount_cents": amount_cents})
        ref = charge.charge_ref  # a concurrent call with the same key won: its charge stands
    return ref


def refund(charge_ref: str, amount_cents: int, idempotency_key: str | None = None) -> str:
    """Refund a charge; by `idempotency_key`, a charge that never happened refunds nothing."""
    from payments.models import ProviderCharge

    if idempotency_key is not None:
        # A refund before its charge (the charge timed out, the saga gave up) leaves a
        # tombstone: the late charge then finds the key used and takes nothing.
        charge, created = ProviderCharge.objects.get_or_create(
            idempotency_key=idempotency_key,
            defaults={"charge_ref": "", "amount_cents": 0, "refunded": True})
        if not created and not charge.refunded:
            ProviderCharge.objects.filter(pk=charge.pk).update(refunded=True)
    return f"re_{uuid.uuid4().hex[:16]}"
