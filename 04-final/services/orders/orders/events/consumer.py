"""The consumer: one Celery task receives every message, checks its contract and hands it to the
handler for its type, exactly once in effect (T45).

- Idempotent: a handler records the message id in the inbox (InboxMessage) in the same
  transaction as its effect; a second delivery finds it and does nothing. Handlers also guard
  their state transitions (a saga step only moves the saga from the state it was sent for).
- Retries: a transient failure (Transient) is retried by Celery itself, with exponential backoff
  and jitter, CONSUMER_MAX_RETRIES times; after the last, the message is kept as a dead letter.
- Poison: a message that is malformed, of an unknown type or of a version we do not read goes to
  the dead letters at once, with its error. It never crashes the worker, blocks the queue or
  is retried forever. `manage.py dead_letters list|replay` shows and re-sends them.
"""

import json
import logging

from celery import Task
from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction
from orders_service.celery import app, configure

from orders.events import contracts
from orders.models import DeadLetter, InboxMessage
from orders.sagas import participants
from orders.sagas import place_order as saga
from orders.sagas.participants import Transient

log = logging.getLogger(__name__)
configure()

TASK = "orders.consume"


def first_time(consumer: str, message_id: str) -> bool:
    """Record `message_id` for `consumer`, inside the caller's transaction. False: done before."""
    try:
        with transaction.atomic():  # a savepoint: a duplicate does not spoil the outer one
            InboxMessage.objects.create(consumer=consumer, message_id=message_id)
    except IntegrityError:
        return False
    return True


def run_saga_step(message: dict) -> None:
    """A saga command: run its participant, then record the reply (place_order.advance)."""
    from orders.models import PlaceOrderSaga

    consumer, message_id = "saga", message["id"]
    if InboxMessage.objects.filter(consumer=consumer, message_id=message_id).exists():
        return  # a redelivery: done already
    state = saga.STATE_OF[message["type"]]
    current = PlaceOrderSaga.objects.select_related("order").filter(
        order_id=message["payload"]["order_id"]).first()
    if current is None or current.state != state:
        # The saga has moved on (or never existed here): calling the participant now could do
        # what a compensation has already undone. Record it, do nothing.
        with transaction.atomic():
            first_time(consumer, message_id)
        return
    outcome, reason, effects = participants.RUN[state](current, current.order)

    def record(saga_row):
        first_time(consumer, message_id)
        if effects is not None:
            effects(saga_row)

    decided = saga.advance(current.order_id, state, outcome, reason, effects=record,
                           parent_trace=message.get("traceparent"))
    if decided is None:  # a concurrent delivery got there first: still, never again
        with transaction.atomic():
            first_time(consumer, message_id)


def notify_confirmed(message: dict) -> None:
    from notifications import services as notifications

    with transaction.atomic():
        if first_time("notifications", message["id"]):
            notifications.send_order_confirmed(message["payload"])


def note_rejected(message: dict) -> None:
    with transaction.atomic():
        if first_time("notifications", message["id"]):
            log.info("order %s rejected: %s", message["payload"]["order_id"],
                     message["payload"]["reason"])


def project_order_history(message: dict) -> None:
    from orders.projections import order_history

    order_history.project(message)  # idempotent by its own inbox, in the read model's store


def gave_up_on_step(message, exc) -> bool:
    """A saga step whose participant never answered, after every retry: the saga hears "no
    answer" (UNKNOWN) and compensates a reserve or a charge, or sends a confirm or a
    compensation again. Not a dead letter: the saga owns what happens next."""
    try:
        contracts.check(message)
    except contracts.ContractError:
        return False
    state = saga.STATE_OF.get(message["type"])
    if state is None:
        return False
    decided = saga.advance(message["payload"]["order_id"], state, saga.Outcome.UNKNOWN,
                           f"{state.value}_timeout", parent_trace=message.get("traceparent"))
    log.warning("saga of order %s: %s never answered (%s): now %s",
                message["payload"]["order_id"], state.value, exc,
                decided.state.value if decided else "unchanged")
    return True


HANDLERS = {
    **{command: run_saga_step for command in saga.STATE_OF},
    "order.confirmed": notify_confirmed,
    "order.rejected": note_rejected,
    "order.changed": project_order_history,
}


def dead_letter(message, kind: str, error: str, attempts: int = 1) -> None:
    body = message if isinstance(message, (dict, list, str, int, float)) else None
    ident = message.get("id") if isinstance(message, dict) else None
    DeadLetter.objects.create(
        message_id=str(ident or "")[:64], kind=kind, error=error[:2000], attempts=attempts,
        type=str(message.get("type", ""))[:60] if isinstance(message, dict) else "",
        body=body, raw="" if body is not None else repr(message)[:2000])
    log.error("dead letter (%s) %s: %s", kind, ident, error)


class Consumer(Task):
    # Our own database failing (locked, restarting) is as transient as the inventory.
    autoretry_for = (Transient, DatabaseError)
    max_retries = settings.CONSUMER_MAX_RETRIES
    retry_backoff = 1                       # 1, 2, 4, 8 ... s
    retry_backoff_max = settings.CONSUMER_BACKOFF_MAX
    retry_jitter = True                     # each wait drawn from [0, backoff): no herd

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # The last retry failed, or the handler raised what no retry fixes.
        message = args[0] if args else kwargs
        transient = isinstance(exc, self.autoretry_for)
        if not connection.in_atomic_block:
            close_old_connections()  # the failure may have been our database: a fresh one
        if transient and gave_up_on_step(message, exc):
            return  # the saga takes it from here: compensate, or send the step again later
        kind = DeadLetter.Kind.EXHAUSTED if transient else DeadLetter.Kind.POISON
        dead_letter(message, kind, f"{type(exc).__name__}: {exc}", self.request.retries + 1)


@app.task(name=TASK, bind=True, base=Consumer)
def consume(self, message=None, *args, **kwargs):
    if not connection.in_atomic_block:  # (a test runs the task inside its own transaction)
        close_old_connections()
    if args or kwargs:
        dead_letter(message, DeadLetter.Kind.POISON, "a message is one JSON object, nothing else")
        return
    try:
        contracts.check(message)
    except contracts.ContractError as exc:
        dead_letter(message, DeadLetter.Kind.POISON, str(exc))
        return
    HANDLERS[message["type"]](message)


def publish(envelope: dict, producer=None) -> None:
    """Put one message on the broker (the relay calls this; so does a dead letter's replay)."""
    app.send_task(TASK, args=[envelope], task_id=str(envelope["id"]), queue="orders",
                  headers={"traceparent": envelope.get("traceparent", ""),
                           "message_type": envelope.get("type", "")},
                  producer=producer)


def describe(message) -> str:
    return json.dumps(message, sort_keys=True)[:200]
