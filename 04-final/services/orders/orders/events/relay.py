"""The relay: publishes the outbox's unsent messages to the broker and marks them sent (T26).

At least once: a message is marked sent only after the broker took it, so a relay killed between
the two sends it again on its next pass (consumers de-duplicate by message id). In order: each
pass sends the oldest rows first, by `position`.

Two relays at once are safe: on PostgreSQL each pass locks the rows it takes with
`SELECT ... FOR UPDATE SKIP LOCKED`, so the other relay takes the next rows instead of waiting or
sending the same ones. (SQLite has one writer at a time: the pass's transaction holds it.)

The relay sleeps until the doorbell rings (outbox.ring, a Redis PUBLISH after a commit) or
RELAY_POLL_SECONDS pass: polling is the safety net, the doorbell the fast path.
"""

import logging
import time

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.events import consumer
from orders.events.outbox import DOORBELL
from orders.models import OutboxMessage

log = logging.getLogger(__name__)


def relay_once(batch: int | None = None) -> int:
    """One pass: publish up to `batch` unsent messages, oldest first. Returns how many."""
    with transaction.atomic():
        rows = list(OutboxMessage.objects.select_for_update(skip_locked=True)
                    .filter(sent_at=None).order_by("position")[:batch or settings.RELAY_BATCH])
        if not rows:
            return 0
        with consumer.app.producer_or_acquire() as producer:
            for row in rows:
                consumer.publish(row.envelope, producer=producer)
        OutboxMessage.objects.filter(pk__in=[row.pk for row in rows]).update(
            sent_at=timezone.now())
    return len(rows)


class Relay:
    def __init__(self):
        self.bell = None

    def _listen(self):
        if self.bell is None:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1,
                                          socket_timeout=settings.RELAY_POLL_SECONDS + 1)
            self.bell = client.pubsub(ignore_subscribe_messages=True)
            self.bell.subscribe(DOORBELL)
        return self.bell

    def wait(self) -> None:
        """Until the doorbell rings or a poll interval passes."""
        try:
            bell = self._listen()
            if bell.get_message(timeout=settings.RELAY_POLL_SECONDS):
                while bell.get_message(timeout=0):  # many rings, one pass
                    pass
        except (redis.RedisError, OSError):
            self.bell = None
            time.sleep(settings.RELAY_POLL_SECONDS)

    def step(self) -> None:
        """One loop turn: drain everything unsent, then wait."""
        try:
            while relay_once() == settings.RELAY_BATCH:
                pass
        except Exception as exc:  # noqa: BLE001 - broker or database down: next turn retries
            log.warning("relay: %s: %s; trying again", type(exc).__name__, exc)
            time.sleep(settings.RELAY_POLL_SECONDS)
            return
        self.wait()
