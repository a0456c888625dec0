"""Place and cancel orders, now across two services and two databases.

In the monolith, place_order was ONE database transaction: a declined card rolled the stock
back for free. Here the stock lives in the monolith and is reserved over gRPC, so that
guarantee must be earned by hand:
- every failure after the reservation releases it, by its id; a release that cannot get
  through is recorded and retried by the sweeper (StrandedReservation);
- the reservation stays PENDING (it expires) until the order is committed; only then is it
  confirmed, so a crash between the two leaks nothing: the inventory takes it back;
- everything happens within the request's deadline (orders/deadline.py): past it, nothing new is
  committed, and an order that could not be confirmed in time is undone (504, nothing kept).
The tests walk each failure point and count the stock afterwards.
"""

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from notifications import services as notifications
from orders.clients import inventory
from orders.deadline import Deadline, DeadlineExceeded
from orders.models import IdempotencyKey, Order, OrderLine, StrandedReservation
from payments import services as payments

log = logging.getLogger(__name__)

OutOfStock = inventory.OutOfStock
UnknownProduct = inventory.UnknownProduct
InventoryUnavailable = inventory.InventoryUnavailable
PaymentFailed = payments.PaymentFailed


class NotCancellable(Exception):
    pass


class OrdersUnavailable(Exception):
    """Our own database failed: nothing was kept, the card was refunded, the stock released
    (unless `kept`: the order was recorded before the failure, and the sweeper settles it)."""

    code = "orders_unavailable"

    def __init__(self, message: str, kept: bool = False):
        super().__init__(message)
        self.kept = kept


@dataclass(frozen=True)
class Line:
    product_id: int
    quantity: int


def place_order(customer, lines: list[Line], card_number: str, deadline: Deadline | None = None,
                record: Callable[[Order], None] | None = None) -> Order:
    """`record(order)` runs inside the order's transaction (the Idempotency-Key's outcome)."""
    deadline = deadline or Deadline.from_budget(None)
    wanted = Counter()
    for line in lines:  # the same product twice becomes one line
        wanted[line.product_id] += line.quantity
    reservation_id = uuid.uuid4().hex
    deadline.check()  # no time for a reserve and its undo: nothing sent, nothing to release
    try:
        reserved = inventory.reserve(reservation_id, dict(sorted(wanted.items())), deadline)
    except (inventory.InventoryUnavailable, DeadlineExceeded):
        # UnknownProduct and OutOfStock are a definite "no" and pass straight through. But
        # no answer is not "no": the reserve may have landed before the answer was lost.
        # Release by id: it gives back what was taken, or leaves a tombstone that stops a
        # late reserve from taking anything.
        inventory.release(reservation_id, deadline)
        raise
    try:
        order = _charge_and_record(customer, reservation_id, reserved, card_number, deadline,
                                   record)
    finally:
        inventory.release(reservation_id, deadline)
    return _confirm(order, customer, deadline)


def _charge_and_record(customer, reservation_id, reserved, card_number, deadline,
                       record) -> Order:
    total = sum(line.unit_price_cents * line.quantity for line in reserved)
    try:
        # raises PaymentFailed: nothing charged
        charge_ref = payments.charge(card_number, total,
                                     deadline.timeout(settings.PAYMENT_TIMEOUT_SECONDS))
    except payments.PaymentFailed:
        deadline.check()  # the provider was cut short by our deadline, not by its own timeout
        raise
    try:
        with transaction.atomic():
            order = Order.objects.create(
                customer_id=customer.id,
                status=Order.Status.PENDING,  # until the inventory confirms its units
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
            if record is not None:
                record(order)
            # Last, right before the commit: never commit an order we may not have time to
            # confirm (and, failing that, undo) before our deadline.
            deadline.check()
    except BaseException as exc:
        payments.refund_charge(charge_ref, total)  # nothing was recorded: the money goes back too
        if isinstance(exc, DatabaseError):
            raise OrdersUnavailable(f"the orders database failed: {exc}") from exc
        raise
    return order


def _confirm(order: Order, customer, deadline: Deadline) -> Order:
    """The order is committed: now, and only now, the units become the order's for good."""
    try:
        try:
            inventory.confirm(order.reservation_id, deadline)
        except (inventory.InventoryUnavailable, inventory.ReservationReleased,
                DeadlineExceeded) as exc:
            # Not confirmed (or the hold ran out): this order must not stand, since its caller
            # is about to hear "nothing kept". Undo it, unless the sweeper settled it first.
            if not _undo(order, deadline, reason=f"not confirmed: {exc}"):
                order.refresh_from_db()
                return order
            if isinstance(exc, inventory.InventoryUnavailable | DeadlineExceeded):
                raise
            raise DeadlineExceeded(f"the reservation expired before it was confirmed: {exc}") \
                from exc
        if Order.objects.filter(pk=order.pk, status=Order.Status.PENDING).update(
                status=Order.Status.CONFIRMED):
            order.status = Order.Status.CONFIRMED
        else:
            order.refresh_from_db()  # the sweeper got there first: answer what it decided
            return order
    except DatabaseError as exc:
        # The order is recorded (pending), so not "nothing kept": the sweeper settles it, and a
        # retry with the same Idempotency-Key answers it.
        raise OrdersUnavailable(f"the orders database failed after recording: {exc}",
                                kept=True) from exc
    notifications.send_order_confirmation(order, customer)
    return order


def _undo(order: Order, deadline: Deadline | None, reason: str) -> bool:
    """Delete a PENDING order (lines, payment and idempotency key with it), refund its charge and
    release its units. False if it is no longer pending (the sweeper settled it)."""
    payment = order.payment
    with transaction.atomic():
        deleted, _ = Order.objects.filter(pk=order.pk, status=Order.Status.PENDING).delete()
        if not deleted:
            return False
        # The release we now owe, recorded with the undo: if we die before delivering it,
        # the sweeper will.
        StrandedReservation.objects.get_or_create(reservation_id=order.reservation_id,
                                                  defaults={"reason": reason[:200]})
    payments.refund_charge(payment.charge_ref, payment.amount_cents)
    inventory.release(order.reservation_id, deadline)
    log.warning("order %s undone and refunded: %s", order.pk, reason)
    return True


def cancel_order(customer, order_id: int, deadline: Deadline | None = None) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(id=order_id, customer_id=customer.id)
        if order.status != Order.Status.CONFIRMED:
            raise NotCancellable(f"order {order.id} is {order.status}")
        payments.refund(order)
        order.status = Order.Status.CANCELLED
        order.save(update_fields=["status"])
    # After our commit: if the inventory does not answer, the release is recorded and the
    # sweeper delivers it; the customer's cancellation and refund stand either way.
    inventory.release(order.reservation_id, deadline)
    return order


def orders_of(customer_id: int):
    return Order.objects.filter(customer_id=customer_id).prefetch_related("lines")


def sweep() -> None:
    """What a crash or an unreachable inventory left half-done, settled (`manage.py sweep`).

    - Stranded releases are delivered.
    - An order still PENDING after its request's deadline surely passed was committed by a
      process that died before confirming it. Confirm it now; if the inventory already took the
      units back (the hold expired first), the order cannot stand: it is rejected and refunded.
    - Idempotency keys older than IDEMPOTENCY_KEY_HOURS are forgotten.
    """
    released, left = inventory.release_stranded()
    if released or left:
        log.warning("stranded releases: %s delivered, %s still owed", released, left)
    settle_before = timezone.now() - timedelta(
        seconds=settings.REQUEST_BUDGET_MS / 1000 + settings.SETTLE_MARGIN_SECONDS)
    for order in Order.objects.filter(status=Order.Status.PENDING,
                                      created_at__lt=settle_before)[:100]:
        _settle(order)
    IdempotencyKey.objects.filter(
        created_at__lt=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    ).delete()


def _settle(order: Order) -> None:
    try:
        inventory.confirm(order.reservation_id)
    except inventory.InventoryUnavailable as exc:
        log.warning("order %s still pending: %s", order.pk, exc)  # next sweep
        return
    except inventory.ReservationReleased:
        with transaction.atomic():
            if Order.objects.filter(pk=order.pk, status=Order.Status.PENDING).update(
                    status=Order.Status.REJECTED, reason="reservation_expired"):
                payments.refund(order)
                log.warning("order %s rejected: its reservation expired before it was "
                            "confirmed; refunded", order.pk)
        return
    if Order.objects.filter(pk=order.pk, status=Order.Status.PENDING).update(
            status=Order.Status.CONFIRMED):
        # No email here: the customer's address lives in the monolith (stage 03's events fix it).
        log.warning("order %s confirmed by the sweeper", order.pk)
