"""Place and cancel orders, now across two services and two databases.

In the monolith, place_order was ONE database transaction: a declined card rolled the stock
back for free. Here the stock lives in the monolith and is reserved over gRPC, so that
guarantee must be earned by hand: every failure after the reservation releases it, by its id,
and a release that cannot get through is recorded and retried (StrandedReservation). The tests
walk each failure point and count the stock afterwards.
"""

import uuid
from collections import Counter
from dataclasses import dataclass

from django.db import DatabaseError, transaction

from notifications import services as notifications
from orders import inventory
from orders.models import Order, OrderLine
from payments import services as payments

OutOfStock = inventory.OutOfStock
UnknownProduct = inventory.UnknownProduct
InventoryUnavailable = inventory.InventoryUnavailable
PaymentFailed = payments.PaymentFailed


class NotCancellable(Exception):
    pass


class OrdersUnavailable(Exception):
    """Our own database failed: nothing was kept, the card was refunded, the stock released."""

    code = "orders_unavailable"


@dataclass(frozen=True)
class Line:
    product_id: int
    quantity: int


def place_order(customer, lines: list[Line], card_number: str) -> Order:
    wanted = Counter()
    for line in lines:  # the same product twice becomes one line
        wanted[line.product_id] += line.quantity
    reservation_id = uuid.uuid4().hex
    try:
        reserved = inventory.reserve(reservation_id, dict(sorted(wanted.items())))
    except inventory.InventoryUnavailable:
        # UnknownProduct and OutOfStock are a definite "no" and pass straight through. But
        # no answer is not "no": the reserve may have landed before the answer was lost.
        # Release by id: it gives back what was taken, or leaves a tombstone that stops a
        # late reserve from taking anything.
        inventory.release(reservation_id)
        raise
    try:
        return _charge_and_record(customer, reservation_id, reserved, card_number)
    except BaseException:
        inventory.release(reservation_id)  # every failure from here on gives the units back
        raise


def _charge_and_record(customer, reservation_id, reserved, card_number) -> Order:
    total = sum(line.unit_price_cents * line.quantity for line in reserved)
    charge_ref = payments.charge(card_number, total)  # raises PaymentFailed: nothing charged
    try:
        with transaction.atomic():
            order = Order.objects.create(
                customer_id=customer.id,
                status=Order.Status.CONFIRMED,
                total_cents=total,
                reservation_id=reservation_id,
            )
            OrderLine.objects.bulk_create(
                OrderLine(order=order, product_id=line.product_id,
                          product_name=line.product_name,
                          unit_price_cents=line.unit_price_cents, quantity=line.quantity)
                for line in reserved
            )
            payments.record_charge(order, charge_ref, card_number)
            # After commit only: never email about an order that a later error rolled back.
            transaction.on_commit(
                lambda: notifications.send_order_confirmation(order, customer)
            )
    except DatabaseError as exc:
        payments.refund_charge(charge_ref, total)  # the money goes back too, not just stock
        raise OrdersUnavailable(f"the orders database failed: {exc}") from exc
    return order


def cancel_order(customer, order_id: int) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(id=order_id, customer_id=customer.id)
        if order.status != Order.Status.CONFIRMED:
            raise NotCancellable(f"order {order.id} is {order.status}")
        payments.refund(order)
        order.status = Order.Status.CANCELLED
        order.save(update_fields=["status"])
    # After our commit: if the inventory does not answer, the release is recorded and retried
    # (release_stranded); the customer's cancellation and refund stand either way.
    inventory.release(order.reservation_id)
    return order


def orders_of(customer_id: int):
    return Order.objects.filter(customer_id=customer_id).prefetch_related("lines")
