from payments import provider
from payments.models import Payment

PaymentFailed = provider.PaymentFailed


def charge(card_number: str, amount_cents: int, timeout: float | None = None) -> str:
    return provider.charge(card_number, amount_cents, timeout)


def record_charge(order, charge_ref: str, card_number: str) -> Payment:
    return Payment.objects.create(
        order=order,
        amount_cents=order.total_cents,
        status=Payment.Status.CHARGED,
        charge_ref=charge_ref,
        card_last4=card_number[-4:],
    )


def refund_charge(charge_ref: str, amount_cents: int) -> str:
    """Refund a charge that no order was recorded for (our database failed after charging)."""
    return provider.refund(charge_ref, amount_cents)


def refund(order) -> None:
    payment = Payment.objects.select_for_update().get(order=order)
    if payment.status == Payment.Status.REFUNDED:
        return
    payment.refund_ref = provider.refund(payment.charge_ref, payment.amount_cents)
    payment.status = Payment.Status.REFUNDED
    payment.save(update_fields=["refund_ref", "status"])
