"""Exercise 03.4: the order-history read model (CQRS) applies each `order.changed` once and in
order, and can be thrown away and rebuilt from the event log to the very same rows.

What the lesson guarantees, one check each, through the stage's real consumer
(`consumer.consume`, called in this process as the Celery worker calls it):
- an event applied is in the read model, and the lag says nothing is behind;
- a message delivered again changes nothing and is reported as seen;
- an older event delivered after a newer one (Celery's retries reorder) never overwrites it;
- a rebuild replays every event from the log's start to the same rows, positions included,
  whatever order and duplicates the live deliveries had;
- a rebuild starts from nothing: a row no event wrote is gone, and a second rebuild changes
  nothing; afterwards the next live event still applies once.
"""

import random
import uuid

import pytest
from django.db import transaction
from orders.events import consumer, outbox
from orders.projections import order_history

from orders.models import Order, OrderLine, OutboxMessage

pytestmark = pytest.mark.django_db


def new_order(customer_id: int = 7) -> Order:
    with transaction.atomic():
        order = Order.objects.create(customer_id=customer_id, status="pending",
                                     total_cents=3400, reservation_id=uuid.uuid4().hex)
        OrderLine.objects.create(order=order, product_id=2, product_name="French press",
                                 unit_price_cents=3400, quantity=1)
        order_history.emit_changed(order)
        # The saga's first command, in the same outbox: the log holds more than this model's
        # events, so their positions have gaps.
        outbox.emit("saga.reserve_stock", 1, order.id, {"order_id": order.id})
    return order


def change(order: Order, status: str, reason: str = "") -> None:
    """The write side changes the order and writes its order.changed in the same transaction."""
    with transaction.atomic():
        order.status, order.reason = status, reason
        order.save(update_fields=["status", "reason"])
        order_history.emit_changed(order)
        if status == "confirmed":  # as the saga does: the read model's feed, and the event
            outbox.emit("order.confirmed", 1, order.id, {
                "order_id": order.id, "customer_id": order.customer_id,
                "total_cents": order.total_cents, "customer_email": "alice@example.com",
                "lines": [{"product_id": 2, "quantity": 1}]})


def events(order: Order | None = None) -> list[dict]:
    rows = OutboxMessage.objects.filter(type=order_history.EVENT).order_by("position")
    if order is not None:
        rows = rows.filter(aggregate_id=str(order.id))
    return [row.envelope for row in rows]


def position_of(envelope: dict) -> int:
    return OutboxMessage.objects.get(message_id=envelope["id"]).position


def deliver(*envelopes) -> None:
    for envelope in envelopes:
        consumer.consume(envelope)


def row_of(order: Order) -> dict | None:
    for order_id, _c, status, reason, _t, _d, _l, position in order_history.rows():
        if order_id == order.id:
            return {"status": status, "reason": reason, "position": position}
    return None


def test_an_event_applied_is_in_the_read_model_and_nothing_is_behind():
    order = new_order()
    assert order_history.lag().events == 1  # written, not applied yet
    deliver(*events(order))
    assert row_of(order) == {"status": "pending", "reason": "", "position":
                             position_of(events(order)[0])}
    behind = order_history.lag()
    assert behind.events == 0, (
        f"the event was applied, yet the lag says {behind.events} behind: the lag counts the "
        "events whose id is not in the store's inbox")


def test_a_message_delivered_again_changes_nothing_and_is_reported_as_seen():
    order = new_order()
    change(order, "confirmed")
    placed, confirmed = events(order)
    assert order_history.project(placed) is True
    assert order_history.project(confirmed) is True
    assert order_history.project(confirmed) is False, "a duplicate was taken for a new event"
    assert order_history.project(placed) is False, "a duplicate was taken for a new event"
    assert row_of(order) == {"status": "confirmed", "reason": "",
                             "position": position_of(confirmed)}
    assert order_history.lag().events == 0


def test_an_older_event_never_overwrites_a_newer_one():
    order = new_order()
    change(order, "rejected", "payment_declined")
    placed, rejected = events(order)
    deliver(rejected, placed)  # a retry delivered the first event last
    assert row_of(order) == {"status": "rejected", "reason": "payment_declined",
                             "position": position_of(rejected)}, (
        "an older event overwrote a newer one: the order went back in time")


def test_a_rebuild_replays_every_event_to_the_same_rows():
    orders = [new_order(customer_id=c) for c in (7, 7, 8)]
    change(orders[0], "confirmed")
    change(orders[1], "rejected", "out_of_stock")
    change(orders[2], "confirmed")
    change(orders[2], "cancelled")
    log = events()
    live = log + random.Random(4).sample(log, len(log))  # every event, then again, shuffled
    random.Random(3).shuffle(live)
    deliver(*live)
    expected = order_history.rows()
    assert [row[2] for row in expected] == ["confirmed", "rejected", "cancelled"]
    assert order_history.rebuild() == len(log)
    assert order_history.rows() == expected, "the rebuilt rows differ from the live ones"
    assert order_history.lag().events == 0


def test_a_rebuild_starts_from_nothing_and_a_second_one_changes_nothing():
    order = new_order()
    change(order, "confirmed")
    deliver(*events())
    expected = order_history.rows()
    db = order_history.connect()
    db.execute("INSERT INTO order_history VALUES (999, 1, 'confirmed', '', 1, "
               "'2020-01-01T00:00:00+00:00', '[]', 999)")  # a row no event in this log wrote
    assert order_history.rebuild() == 2
    assert order_history.rows() == expected, "the rebuild kept a row no event wrote"
    assert order_history.rebuild() == 2
    assert order_history.rows() == expected, "a second rebuild changed the rows"
    later = new_order()  # the live feed goes on after a rebuild
    deliver(*events(later), *events(later))
    assert row_of(later)["status"] == "pending" and order_history.lag().events == 0
