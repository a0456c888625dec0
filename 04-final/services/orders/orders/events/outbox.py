"""The transactional outbox: a message is a row, written in the same transaction as the state
change it announces (T26).

`emit()` must run inside that transaction (`transaction.atomic()`): the order's new state and its
message commit together, or neither does. Publishing is the relay's job (orders/events/relay.py),
after the commit; a crash anywhere leaves either both or nothing, and the relay sends what is
left. The "before" this replaces: `transaction.on_commit(task.delay)`, which loses the message
when the broker is down or the process dies right after the commit.

After the commit, the doorbell rings (a Redis PUBLISH) so the relay wakes at once instead of at
its next poll. A doorbell lost (Redis down) delays a message by one poll, nothing more.
"""

import logging
import os
import uuid

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from orders.events import contracts
from orders.models import OutboxMessage

log = logging.getLogger(__name__)

DOORBELL = "orders:outbox"


def traceparent(parent: str | None = None) -> str:
    """W3C trace context: the caller's trace id, a new span id (stage 04 collects the spans)."""
    trace_id = parent.split("-")[1] if parent and parent.count("-") == 3 else uuid.uuid4().hex
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


def envelope(message_type: str, version: int, aggregate_id, payload: dict,
             parent_trace: str | None = None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "type": message_type,
        "version": version,
        "occurred_at": timezone.now().isoformat(),
        "aggregate_id": str(aggregate_id),
        "traceparent": traceparent(parent_trace),
        "payload": payload,
    }


def emit(message_type: str, version: int, aggregate_id, payload: dict,
         parent_trace: str | None = None) -> OutboxMessage:
    """Write a message to the outbox, in the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("emit() outside a transaction: the message could outlive, or miss, "
                           "the state change it announces")
    message = envelope(message_type, version, aggregate_id, payload, parent_trace)
    contracts.check(message)  # a producer never publishes what it did not promise
    row = OutboxMessage.objects.create(
        message_id=message["id"], type=message_type, version=version,
        aggregate_id=str(aggregate_id), envelope=message)
    transaction.on_commit(ring)
    return row


_bell: redis.Redis | None = None


def ring() -> None:
    """Wake the relay (best effort: it polls anyway)."""
    global _bell
    try:
        if _bell is None:
            _bell = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.2,
                                         socket_connect_timeout=0.2)
        _bell.publish(DOORBELL, b"1")
    except redis.RedisError as exc:
        log.debug("doorbell not rung (%s): the relay's next poll sends the message", exc)
