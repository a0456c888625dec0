"""Exercise 03.1: a message commits with the state change it announces, or not at all.

What the lesson guarantees, one check each, with the saga's own code writing the state and the
real relay publishing to the machine's real Redis:
- the order's saga and its first command commit together: a crash right after the commit (no
  after-commit code runs) loses nothing, and the relay publishes the message, marked sent;
- a state change that rolls back leaves no message, neither in the outbox nor on the broker;
- a saga step's new state and its next message commit together, and one order's messages are
  published in the order they were written, each under its own id;
- emit() refuses to run outside a transaction: a message written on its own could outlive, or
  miss, its state change.
"""

import uuid

import pytest
from django.db import transaction
from orders.events import outbox, relay
from orders.sagas import place_order as saga

from orders.models import Order, OutboxMessage, PlaceOrderSaga

pytestmark = pytest.mark.django_db(transaction=True)

GOOD_CARD = "4242424242424242"


def new_order() -> Order:
    """A pending order with its saga and its first command, as the API records it."""
    with transaction.atomic():
        order = Order.objects.create(customer_id=7, total_cents=1500,
                                     reservation_id=uuid.uuid4().hex)
        saga.begin(order, {"card_number": GOOD_CARD, "email": "alice@example.com"})
    return order


def test_a_crash_right_after_the_commit_loses_no_message(broker, crash_after_commit):
    order = new_order()
    rows = list(OutboxMessage.objects.filter(sent_at=None))
    assert len(rows) == 1, (
        "the order committed, the process died before any after-commit code ran, and no "
        f"message is left to send ({len(rows)} unsent outbox rows): its saga never starts")
    (row,) = rows
    assert (row.type, row.aggregate_id) == ("saga.reserve_stock", str(order.id))
    assert str(row.message_id) == row.envelope["id"], (
        "the row's message_id is not the message's own id: the relay publishes under one id, "
        "the consumers' inbox de-duplicates by the other")
    assert row.envelope["payload"] == {"order_id": order.id}

    assert relay.relay_once() == 1, "the relay found nothing to publish"
    (published,) = broker.published()
    assert published == row.envelope
    row.refresh_from_db()
    assert row.sent_at is not None and relay.relay_once() == 0


def test_a_state_change_that_rolls_back_leaves_no_message(broker):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        order = Order.objects.create(customer_id=7, total_cents=1500,
                                     reservation_id=uuid.uuid4().hex)
        saga.begin(order, {"card_number": GOOD_CARD, "email": ""})
        raise Boom("the Idempotency-Key's record failed after the saga began")
    assert not Order.objects.exists()
    assert broker.published() == [], (
        "the order rolled back, but its saga.reserve_stock is on the broker already: a worker "
        "will reserve stock for an order that does not exist")
    assert not OutboxMessage.objects.exists()
    assert relay.relay_once() == 0 and broker.published() == []


def test_a_saga_step_commits_its_new_state_with_its_next_message(broker):
    order = new_order()

    def effects_fail(saga_row):
        raise RuntimeError("the database failed while recording the reservation")

    with pytest.raises(RuntimeError):
        saga.advance(order.id, saga.State.RESERVING, saga.Outcome.OK, effects=effects_fail)
    assert PlaceOrderSaga.objects.get(order=order).state == "reserving"
    assert list(OutboxMessage.objects.values_list("type", flat=True)) == [
        "saga.reserve_stock"], "a message announces a step the saga never took"

    saga.advance(order.id, saga.State.RESERVING, saga.Outcome.OK)
    assert PlaceOrderSaga.objects.get(order=order).state == "charging"
    rows = list(OutboxMessage.objects.order_by("position"))
    assert [(r.type, r.aggregate_id) for r in rows] == [
        ("saga.reserve_stock", str(order.id)), ("saga.charge_payment", str(order.id))]

    assert relay.relay_once() == 2
    published = broker.published()
    assert [m["type"] for m in published] == ["saga.reserve_stock", "saga.charge_payment"], (
        "one order's messages must be published in the order they were written")
    assert [m["id"] for m in published] == [str(r.message_id) for r in rows]
    assert len({m["id"] for m in published}) == 2


def test_emit_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="transaction"):
        outbox.emit("saga.reserve_stock", 1, 42, {"order_id": 42})
    assert not OutboxMessage.objects.exists(), "a message was written on its own"
