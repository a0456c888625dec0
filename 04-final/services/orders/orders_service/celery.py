"""Celery on Redis, configured for at-least-once delivery (../../../../shared machine notes).

- acks_late: a message is acknowledged after its task ran, not when it was received; a worker
  that dies mid-task leaves it unacknowledged, and Redis hands it out again.
- reject_on_worker_lost: the same when the worker process is killed (SIGKILL), not only crashes.
- prefetch 1: a worker holds one unacknowledged message at a time, so a crash strands one.
- visibility_timeout: how long Redis waits for an ack before it redelivers. It must be above the
  longest task plus the longest retry countdown, or a slow task runs twice (kombu#337). Our
  consumers are idempotent anyway (orders/events/consumer.py); this only keeps duplicates rare.

What Redis does not give: a message in a Redis that restarts without persistence is gone
(celery#1789). The outbox and the sweeper's step timeouts cover that: a saga step not answered in
time is sent again from our own database.
"""

import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_service.settings")

app = Celery("orders")

# The longest task: a payment that times out, or an inventory call; plus the longest countdown.
VISIBILITY_TIMEOUT = 60


def configure() -> Celery:
    app.conf.update(
        broker_url=settings.REDIS_URL,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        broker_connection_retry_on_startup=True,
        # On a lost connection the running task's ack cannot reach the broker anyway: cancel it
        # (Redis delivers it again) rather than let the consumer wait on it (Celery 6's default).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Publishing to a Redis that is down fails fast: the relay keeps the row and tries later.
        broker_connection_timeout=2,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.1,
                                   "interval_step": 0.2, "interval_max": 0.5},
        task_default_queue="orders",
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app
