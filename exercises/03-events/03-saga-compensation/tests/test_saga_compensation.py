"""Exercise 03.3: the saga refunds what it charged, latest step first, and never gives up on an
undo.

What the lesson guarantees, one check each. First the state machine alone (pure: no database):
- a reservation that expired before the confirm: refund, then release, then rejected;
- a payment that timed out (charged or not, nobody knows): refund by key, release, rejected;
- a declined card charged nothing: release only;
- a compensation that was not answered is sent again, never skipped;
- a confirm that was not answered (the inventory is down for a moment) is sent again: a
  transient failure is retried, not compensated.
Then persisted, through the stage's consumer and sweeper, on this service's database:
- each compensation is the saga's state while it is in flight, with its message in the outbox:
  the refund runs once however often it is delivered, and a lost release is sent again.
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from orders.events import consumer
from orders.sagas import place_order as saga
from orders.sagas.place_order import Decision, Outcome, State

from orders import services
from orders.models import Order, OutboxMessage, PlaceOrderSaga
from payments import provider
from payments.models import Payment, ProviderCharge

OK, NO, UNKNOWN = Outcome.OK, Outcome.NO, Outcome.UNKNOWN


def walk(*replies, state=State.RESERVING):
    """Apply replies (outcome, reason) from `state`; every decision on the way."""
    decision = Decision(state, saga.COMMAND.get(state))
    seen = [decision]
    for outcome, reason in replies:
        decision = on_reply(decision, outcome, reason)
        seen.append(decision)
    return seen


def on_reply(decision, outcome, reason=""):
    nxt = saga.on_reply(decision.state, decision.state, outcome, reason, decision.reason)
    assert nxt is not None, f"the saga ignored the reply of its own step {decision.state}"
    return nxt


def steps(path):
    return [(d.state.value, d.send, d.reason) for d in path]


def test_an_expired_reservation_is_refunded_then_released_then_rejected():
    path = walk((OK, ""), (OK, ""), (NO, "reservation_expired"), (OK, ""), (OK, ""))
    assert steps(path[3:]) == [
        ("refunding", "saga.refund_payment", "reservation_expired"),
        ("releasing", "saga.release_stock", "reservation_expired"),
        ("rejected", None, "reservation_expired"),
    ], "undo the steps latest first: the charge (refund), then the reservation (release)"


def test_a_payment_timeout_is_refunded_by_key_then_released_then_rejected():
    path = walk((OK, ""), (UNKNOWN, "payment_timeout"), (OK, ""), (OK, ""))
    assert steps(path[2:]) == [
        ("refunding", "saga.refund_payment", "payment_timeout"),
        ("releasing", "saga.release_stock", "payment_timeout"),
        ("rejected", None, "payment_timeout"),
    ], "a charge that may have happened is refunded (by key: a charge that never was refunds "\
       "nothing)"


def test_a_declined_card_has_nothing_to_refund():
    path = walk((OK, ""), (NO, "payment_declined"), (OK, ""))
    assert steps(path[2:]) == [("releasing", "saga.release_stock", "payment_declined"),
                               ("rejected", None, "payment_declined")]


@pytest.mark.parametrize("undo", [State.REFUNDING, State.RELEASING])
def test_an_undo_that_was_not_answered_is_sent_again(undo):
    in_flight = Decision(undo, saga.COMMAND[undo], "reservation_expired")
    again = on_reply(in_flight, UNKNOWN, "refunding_timeout")
    assert again == in_flight, (
        f"{undo.value} was not answered and the saga moved on to {again.state.value}: an undo "
        "that is given up on leaves the money taken or the units held for good")


def test_a_confirm_that_did_not_answer_is_sent_again_not_compensated():
    in_flight = Decision(State.CONFIRMING, "saga.confirm_order")
    assert on_reply(in_flight, UNKNOWN, "confirming_timeout") == in_flight, (
        "the inventory did not answer the confirm (a transient failure): the order is paid "
        "and its units reserved, so the confirm is sent again, not undone")


@pytest.fixture
def charged_and_confirming(db):
    """An order whose card was charged (by key) and whose confirm is in flight."""
    order = Order.objects.create(customer_id=7, total_cents=3000, reservation_id=uuid.uuid4().hex)
    PlaceOrderSaga.objects.create(order=order, state="confirming", data={"email": ""},
                                  step_deadline=timezone.now() + timedelta(seconds=30))
    ref = provider.charge("4242424242424242", 3000, idempotency_key=f"order-{order.id}")
    Payment.objects.create(order=order, amount_cents=3000, status="charged", charge_ref=ref,
                           card_last4="4242")
    return order


def unsent(type_):
    return list(OutboxMessage.objects.filter(sent_at=None, type=type_).order_by("position"))


@pytest.mark.django_db
def test_each_undo_is_the_state_in_flight_and_a_lost_one_is_sent_again(charged_and_confirming):
    order = charged_and_confirming
    saga.advance(order.id, State.CONFIRMING, NO, "reservation_expired")
    assert PlaceOrderSaga.objects.get(order=order).state == "refunding"
    (refund,) = unsent("saga.refund_payment")

    for _ in range(2):  # delivered, then delivered again
        consumer.consume(refund.envelope)
    assert Payment.objects.get(order=order).status == "refunded"
    assert ProviderCharge.objects.get(idempotency_key=f"order-{order.id}").refunded
    row = PlaceOrderSaga.objects.get(order=order)
    assert row.state == "releasing", "the saga is not waiting for the release it owes"
    (release,) = unsent("saga.release_stock")

    # The release's message is lost (Redis restarted empty): its deadline passes, the sweeper
    # sends it again, because the saga's state says it is owed.
    OutboxMessage.objects.filter(pk=release.pk).update(sent_at=timezone.now())
    PlaceOrderSaga.objects.filter(order=order).update(
        step_deadline=timezone.now() - timedelta(seconds=1))
    services.sweep()
    assert len(unsent("saga.release_stock")) == 1, "the lost release was never sent again"
    saga.advance(order.id, State.RELEASING, OK)
    order.refresh_from_db()
    assert (order.status, order.reason) == ("rejected", "reservation_expired")
