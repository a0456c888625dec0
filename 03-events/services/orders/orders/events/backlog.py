"""What is still on its way to the worker: the outbox's unsent rows, then the broker's queue.

The sweeper (orders/services.py: sweep) sends a saga step again when its answer is overdue,
because its message was lost (a broker restart) or its worker died. A message that is merely
still waiting is neither: a worker behind a backlog is slow, not gone, and sending again what is
still queued only makes the queue longer. Measured on a loaded 2-core machine (tests/faults):
the sweeper resent 1,175 steps for 136 orders, the queue grew to ~450 messages while ~100 orders
were pending, and the worker spent most of its time on copies of messages still in the queue.

A message still in the outbox says so itself (`sent_at` is empty). In the broker, the queue is
first in, first out: the relay publishes the outbox in `position` order and the worker takes the
oldest message first (kombu pushes on the left and pops on the right). So the outbox position of
the message at the queue's consuming end (`LINDEX orders -1`) tells what is still queued: a sent
step whose message is at or after it has not been taken yet; one before it was taken by a worker
(which may have died on it) or was lost with the broker. Nothing here needs a clock.
"""

from __future__ import annotations

import json
import logging

import redis
from django.conf import settings
from django.db.models import Max

from orders.models import OutboxMessage

log = logging.getLogger(__name__)

QUEUE = "orders"  # the worker's queue (orders_service/celery.py: task_default_queue)

_broker: redis.Redis | None = None


def queue_head() -> str | None:
    """The id of the next message a worker will take; None if the queue is empty, the broker
    unreachable (what it held is lost anyway) or the message not one of ours."""
    global _broker
    try:
        if _broker is None:
            _broker = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1,
                                           socket_connect_timeout=1)
        raw = _broker.lindex(QUEUE, -1)
    except redis.RedisError as exc:
        log.debug("broker unreachable (%s): judging by the outbox alone", exc)
        return None
    if raw is None:
        return None
    try:
        return str(json.loads(raw)["headers"]["id"])  # Celery's task id is our message id
    except (ValueError, KeyError, TypeError):
        return None


def queued_from() -> int | None:
    """The outbox position of the next message a worker will take; None: nothing of ours is
    queued (or the broker is unreachable, and what it held is lost anyway)."""
    head = queue_head()
    if head is None:
        return None
    return (OutboxMessage.objects.filter(message_id=head)
            .values_list("position", flat=True).first())


def still_waiting(order_ids, commands) -> set[int]:
    """Of these orders, those whose saga's latest command (the step in flight: a saga only sends
    the command of the state it is in) has not been taken by a worker yet: unsent, or queued."""
    if not order_ids:
        return set()
    latest = (OutboxMessage.objects.filter(aggregate_id__in=[str(i) for i in order_ids],
                                           type__in=list(commands))
              .values("aggregate_id").annotate(last=Max("position")))
    rows = OutboxMessage.objects.filter(position__in=[row["last"] for row in latest]) \
        .values_list("aggregate_id", "position", "sent_at")
    queued = queued_from()
    return {int(aggregate) for aggregate, position, sent_at in rows
            if sent_at is None or (queued is not None and position >= queued)}
