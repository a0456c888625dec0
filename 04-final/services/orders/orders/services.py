"""Place and cancel orders. Since stage 03, placing is asynchronous (T19).

Stage 02 placed an order inside the request: reserve over gRPC, charge, record, confirm, and undo
by hand on every failure, all before the deadline. Here the request only records the order as
PENDING, with its saga and the saga's first command, in one transaction, and answers 202: the saga
(orders/sagas/place_order.py) reserves, charges and confirms through messages, compensating on
the way back when a step says no. The client polls the order until its status is final.

Cancelling stays synchronous: the customer's own order, refunded and released at once (a release
the inventory does not take is recorded and the sweeper delivers it).
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

from orders.clients import inventory
from orders.deadline import Deadline
from orders.models import IdempotencyKey, Order, OrderLine, PlaceOrderSaga
from orders.projections import order_history
from orders.sagas import place_order as saga
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


def accept_order(customer, lines: list[Line], card_number: str,
                 deadline: Deadline | None = None,
                 record: Callable[[Order], None] | None = None,
                 traceparent: str | None = None) -> Order:
    """Record the order as PENDING with its saga and the saga's first command, in ONE
    transaction (the outbox), and answer at once: the saga decides it later (202 + Location).

    Only what can be known now is checked now: the products exist (a 400 naming the field, as
    before). Stock and payment are the saga's (orders/sagas/place_order.py). `record(order)` runs
    inside the transaction (the Idempotency-Key's outcome).
    """
    deadline = deadline or Deadline.from_budget(None)
    deadline.check()  # no time left to accept: nothing recorded, nothing sent
    wanted = Counter()
    for line in lines:  # the same product twice becomes one line
        wanted[line.product_id] += line.quantity
    products = inventory.describe(wanted, deadline.timeout(settings.INVENTORY_DEADLINE_SECONDS))
    deadline.check()
    try:
        with transaction.atomic():
            order = Order.objects.create(
                customer_id=customer.id, status=Order.Status.PENDING,
                total_cents=sum(products[pid][1] * qty for pid, qty in wanted.items()),
                reservation_id=uuid.uuid4().hex)
            OrderLine.objects.bulk_create(
                OrderLine(order=order, product_id=pid, product_name=products[pid][0],
                          unit_price_cents=products[pid][1], quantity=qty)
                for pid, qty in sorted(wanted.items()))
            order_history.emit_changed(order, traceparent)  # the read model's feed (CQRS)
            saga.begin(order, {"card_number": card_number,
                               "email": getattr(customer, "email", "") or ""}, traceparent)
            if record is not None:
                record(order)
    except DatabaseError as exc:
        raise OrdersUnavailable(f"the orders database failed: {exc}") from exc
    return order


def cancel_order(customer, order_id: int, deadline: Deadline | None = None) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(id=order_id, customer_id=customer.id)
        if order.status != Order.Status.CONFIRMED:
            raise NotCancellable(f"order {order.id} is {order.status}")
        payments.refund(order)
        order.status = Order.Status.CANCELLED
        order.save(update_fields=["status"])
        order_history.emit_changed(order)
    # After our commit: if the inventory does not answer, the release is recorded and the
    # sweeper delivers it; the customer's cancellation and refund stand either way.
    inventory.release(order.reservation_id, deadline)
    return order


def orders_of(customer_id: int):
    return Order.objects.filter(customer_id=customer_id).prefetch_related("lines")


def sweep() -> None:
    """What a crash, a lost message or an unreachable inventory left half-done (`manage.py
    sweep`, a process of the stage, every SWEEP_SECONDS):

    - a saga whose step was not answered by its deadline (its message lost with a broker
      restart, its worker killed) has that step sent again (place_order.on_timeout): no saga
      stays stuck for want of a message;
    - releases a cancellation could not deliver (StrandedReservation) are delivered;
    - idempotency keys older than IDEMPOTENCY_KEY_HOURS are forgotten.
    """
    for stuck in PlaceOrderSaga.objects.exclude(state__in=saga.FINAL).filter(
            step_deadline__lt=timezone.now()).order_by("step_deadline")[:200]:
        decision = saga.time_out(stuck)
        if decision is not None:
            log.warning("saga of order %s overdue in %s: now %s%s", stuck.order_id, stuck.state,
                        decision.state, f" ({decision.reason})" if decision.reason else "")
    released, left = inventory.release_stranded()
    if released or left:
        log.warning("stranded releases: %s delivered, %s still owed", released, left)
    IdempotencyKey.objects.filter(
        created_at__lt=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    ).delete()
