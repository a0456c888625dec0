"""The saga's participants: what each command does, and what its answer means for the saga.

Each step calls its participant OUTSIDE any transaction (a network call must not hold a database
lock), then `place_order.advance` records the outcome, the step's own writes and the next message
in one transaction. Every call is idempotent by an id the saga owns, so a step run twice (a
redelivery, a resend after a timeout) has one effect:
- the inventory reserves, confirms and releases by the order's reservation id (a release leaves
  a tombstone: a late reserve takes nothing);
- the payment provider charges and refunds by the key `order-<id>` (a refund first leaves a
  tombstone too: a late charge takes nothing).
A transient failure (the inventory unreachable) raises Transient: Celery retries the message with
backoff and jitter (orders/events/consumer.py).
"""

import grpc
from django.conf import settings

from orders.clients import inventory
from orders.models import Order
from orders.sagas.place_order import Outcome, State
from payments import provider
from payments.models import Payment


class Transient(Exception):
    """Worth another try later: the participant did not answer."""


def payment_key(order_id: int) -> str:
    return f"order-{order_id}"


def reserve_stock(saga, order: Order):
    wanted = {}
    for line in order.lines.all():
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    try:
        reserved = inventory.reserve(order.reservation_id, dict(sorted(wanted.items())))
    except inventory.OutOfStock:
        return Outcome.NO, "out_of_stock", None
    except inventory.UnknownProduct:
        return Outcome.NO, "unknown_product", None
    except inventory.InventoryUnavailable as exc:
        raise Transient(str(exc)) from exc
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.ABORTED:  # released already: the saga moved on
            return Outcome.NO, "reservation_released", None
        raise Transient(str(exc)) from exc
    prices = {line.product_id: line for line in reserved}

    def effects(saga):
        # The inventory's names and prices as of the reservation are the order's.
        total = 0
        for line in saga.order.lines.all():
            got = prices.get(line.product_id)
            if got is not None:
                line.product_name, line.unit_price_cents = got.product_name, got.unit_price_cents
                line.save(update_fields=["product_name", "unit_price_cents"])
            total += line.unit_price_cents * line.quantity
        saga.order.total_cents = total

    return Outcome.OK, "", effects


def charge_payment(saga, order: Order):
    card = saga.data.get("card_number", "")
    try:
        ref = provider.charge(card, order.total_cents, settings.PAYMENT_TIMEOUT_SECONDS,
                              idempotency_key=payment_key(order.id))
    except provider.PaymentDeclined:
        return Outcome.NO, "payment_declined", None
    except provider.PaymentTimeout:
        return Outcome.UNKNOWN, "payment_timeout", None

    def effects(saga):
        Payment.objects.get_or_create(order=saga.order, defaults={
            "amount_cents": saga.order.total_cents, "status": Payment.Status.CHARGED,
            "charge_ref": ref, "card_last4": card[-4:]})
        saga.data.pop("card_number", None)  # charged: we keep no card number we do not need

    return Outcome.OK, "", effects


def confirm_order(saga, order: Order):
    try:
        inventory.confirm(order.reservation_id)
    except inventory.ReservationReleased:
        return Outcome.NO, "reservation_expired", None
    except inventory.InventoryUnavailable as exc:
        raise Transient(str(exc)) from exc
    return Outcome.OK, "", None


def refund_payment(saga, order: Order):
    provider.refund("", order.total_cents, idempotency_key=payment_key(order.id))

    def effects(saga):
        Payment.objects.filter(order=saga.order).update(status=Payment.Status.REFUNDED)

    return Outcome.OK, "", effects


def release_stock(saga, order: Order):
    try:
        inventory._release_once(order.reservation_id)
    except grpc.RpcError as exc:
        raise Transient(f"{exc.code().name}: {exc.details()}") from exc
    return Outcome.OK, "", None


RUN = {
    State.RESERVING: reserve_stock,
    State.CHARGING: charge_payment,
    State.CONFIRMING: confirm_order,
    State.REFUNDING: refund_payment,
    State.RELEASING: release_stock,
}
