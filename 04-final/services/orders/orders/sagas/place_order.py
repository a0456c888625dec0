"""Placing an order as an orchestrated saga, persisted as an explicit state machine (T25).

The saga is one declaration (FTGO's CreateOrderSaga, in miniature): an ordered list of steps,
each naming the command that runs it and the state that undoes it if a LATER step fails.

    reserving --ok--> charging --ok--> confirming --ok--> CONFIRMED  (order.confirmed)
        |                 |                 |
        no (out_of_stock) no (declined)     no (the reservation expired)
        |                 |                 v
        |                 |             refunding --ok--> releasing --ok--> REJECTED
        |                 +---------------------------->  releasing        (order.rejected)
        +--> REJECTED

- A definite "no" undoes the steps before the one that said it; a step that may or may not have
  happened (it timed out: "unknown") is undone too. Undoing is safe either way: release and
  refund work by id and leave a tombstone, so a late reserve or charge takes nothing.
- Compensations and the confirm never give up: they are sent again until they are answered
  (a compensation that fails must not stop the undo chain, FTGO's issue #107). A reserve or a
  charge whose participant never answers (the consumer's retries ran out) is compensated.
- A step whose message is lost (a broker restart) or whose worker died is sent again by the
  sweeper when its deadline passes (on_timeout), with a growing deadline.
- A reply that does not fit the current state (a duplicate, a message from before a restart) is
  ignored: `on_reply` returns None. That, with the inbox, makes every consumer idempotent.

The first half of this file is pure (no database, no broker): tests/unit/test_place_order_saga.py
walks every transition. The second half persists a decision: the saga's row, the order's status
and the next message, in one transaction (the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum, StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone


class State(StrEnum):
    RESERVING = "reserving"
    CHARGING = "charging"
    CONFIRMING = "confirming"
    REFUNDING = "refunding"
    RELEASING = "releasing"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


FINAL = frozenset({State.CONFIRMED, State.REJECTED})


class Outcome(Enum):
    OK = "ok"
    NO = "no"            # a definite refusal: the step did nothing
    UNKNOWN = "unknown"  # no answer in time: the step may or may not have happened


@dataclass(frozen=True)
class Step:
    state: State
    command: str                  # the message that runs it
    undo: State | None = None     # the state that undoes it
    gives_up: bool = True         # False: sent again until answered, never compensated


STEPS = (
    Step(State.RESERVING, "saga.reserve_stock", undo=State.RELEASING),
    Step(State.CHARGING, "saga.charge_payment", undo=State.REFUNDING),
    Step(State.CONFIRMING, "saga.confirm_order", gives_up=False),
)
# Compensations, in the order they run: each one's command. They never give up.
COMPENSATIONS = {
    State.REFUNDING: "saga.refund_payment",
    State.RELEASING: "saga.release_stock",
}
COMMAND = {**{s.state: s.command for s in STEPS}, **COMPENSATIONS}
STATE_OF = {command: state for state, command in COMMAND.items()}


@dataclass(frozen=True)
class Decision:
    state: State
    send: str | None  # the command to send next; None once final
    reason: str = ""


def start() -> Decision:
    return Decision(STEPS[0].state, STEPS[0].command)


def _index(state: State) -> int:
    return next(i for i, step in enumerate(STEPS) if step.state == state)


def _undo_from(index: int, reason: str) -> Decision:
    """Undo STEPS[index], then every step before it, latest first."""
    for step in reversed(STEPS[:index + 1]):
        if step.undo is not None:
            return Decision(step.undo, COMPENSATIONS[step.undo], reason)
    return Decision(State.REJECTED, None, reason)


def on_reply(state: State, replying: State, outcome: Outcome, reason: str = "",
             current_reason: str = "") -> Decision | None:
    """The saga in `state` hears from the step run for `replying`. None: ignore the reply."""
    if state != replying or state in FINAL:
        return None  # stale or duplicate: the saga has moved on
    if state in COMPENSATIONS:
        if outcome is not Outcome.OK:  # not answered: send it again, for as long as it takes
            return Decision(state, COMPENSATIONS[state], current_reason)
        # the next compensation down the chain (the one undoing an earlier step), or the end
        undone = next(i for i, step in enumerate(STEPS) if step.undo == state)
        return _undo_from(undone - 1, current_reason)
    index = _index(state)
    if outcome is Outcome.OK:
        if index + 1 < len(STEPS):
            return Decision(STEPS[index + 1].state, STEPS[index + 1].command)
        return Decision(State.CONFIRMED, None)
    if outcome is Outcome.NO:
        return _undo_from(index - 1, reason)
    if not STEPS[index].gives_up:
        return Decision(state, STEPS[index].command)  # again, until it answers
    return _undo_from(index, reason)


def on_timeout(state: State, attempts: int) -> Decision | None:
    """The sweeper found the step in flight unanswered past its deadline, after `attempts`
    sends: its message was lost (a broker restart) or its worker died. Send it again. Our own
    pipeline being down is no reason to give up on an order: giving up is for a participant
    that does not answer (`on_reply` with UNKNOWN, after the consumer's retries)."""
    if state in FINAL:
        return None
    return Decision(state, COMMAND[state])


# ------------------------------------------------------------------------------------------------
# Persistence: a decision, its order's new status and its next message commit together.


def begin(order, data: dict, parent_trace: str | None = None):
    """Inside the transaction that creates `order`: its saga, and the first command."""
    from orders.models import PlaceOrderSaga

    decision = start()
    saga = PlaceOrderSaga.objects.create(order=order, state=decision.state, data=data,
                                         step_deadline=_deadline())
    _send(saga, decision, parent_trace)
    return saga


def _deadline(sends: int = 1):
    """When the step's answer is due: SAGA_STEP_SECONDS after its first send, then twice as long
    after each resend (up to 8x). A worker behind a backlog is slow, not gone: resending at a
    fixed pace would only add to the backlog (a resend storm)."""
    return timezone.now() + timedelta(
        seconds=settings.SAGA_STEP_SECONDS * min(2 ** (sends - 1), 8))


def _send(saga, decision: Decision, parent_trace: str | None) -> None:
    from orders.events import outbox

    outbox.emit(decision.send, 1, saga.order_id, {"order_id": saga.order_id}, parent_trace)


def advance(order_id: int, replying: State, outcome: Outcome, reason: str = "",
            effects=None, parent_trace: str | None = None) -> Decision | None:
    """Apply a step's reply: in one transaction, `effects(saga)` (the step's own writes), the
    saga's new state, the order's status when final, and the next message. None: ignored."""
    from orders.models import PlaceOrderSaga

    with transaction.atomic():
        saga = PlaceOrderSaga.objects.select_for_update().select_related("order").filter(
            order_id=order_id).first()
        if saga is None:
            return None
        decision = on_reply(State(saga.state), replying, outcome, reason, saga.reason)
        if decision is None:
            return None
        if effects is not None:
            effects(saga)
        _apply(saga, decision, parent_trace, resend=decision.state == saga.state)
    return decision


def time_out(saga) -> Decision | None:
    """The sweeper's move for a saga whose step is overdue (see on_timeout)."""
    from orders.models import PlaceOrderSaga

    with transaction.atomic():
        saga = PlaceOrderSaga.objects.select_for_update().select_related("order").get(
            pk=saga.pk)
        if saga.step_deadline > timezone.now():
            return None  # it moved on meanwhile
        decision = on_timeout(State(saga.state), saga.attempts)
        if decision is not None:
            _apply(saga, decision, None, resend=decision.state == saga.state)
    return decision


def _apply(saga, decision: Decision, parent_trace: str | None, resend: bool) -> None:
    from orders.events import outbox
    from orders.models import Order

    saga.attempts = saga.attempts + 1 if resend else 1
    saga.state = decision.state
    saga.reason = decision.reason or saga.reason
    saga.step_deadline = _deadline(saga.attempts)
    order = saga.order
    if decision.state in FINAL:
        saga.finished_at = timezone.now()
        saga.data.pop("card_number", None)
        order.status = (Order.Status.CONFIRMED if decision.state == State.CONFIRMED
                        else Order.Status.REJECTED)
        order.reason = decision.reason if decision.state == State.REJECTED else ""
        order.save(update_fields=["status", "reason", "total_cents"])
        from orders.projections import order_history

        order_history.emit_changed(order, parent_trace)  # the read model's feed (CQRS)
        if decision.state == State.CONFIRMED:
            outbox.emit("order.confirmed", 1, order.id, {
                "order_id": order.id, "customer_id": order.customer_id,
                "total_cents": order.total_cents,
                "lines": [{"product_id": line.product_id, "quantity": line.quantity}
                          for line in order.lines.all()],
                "customer_email": saga.data.get("email", ""),
            }, parent_trace)
        else:
            outbox.emit("order.rejected", 1, order.id, {
                "order_id": order.id, "customer_id": order.customer_id,
                "reason": order.reason or "rejected"}, parent_trace)
    else:
        _send(saga, decision, parent_trace)
    saga.save()
