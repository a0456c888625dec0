"""Exercise 03.1's fixtures: no monolith, a queue of its own on the real Redis, a crash."""

import base64
import contextlib
import json
import os
import uuid

import pytest
import redis
from django.db import connections


@pytest.fixture(autouse=True)
def _settings(settings):
    """The stage's autouse fixture starts the monolith's gRPC server: the outbox needs only this
    service's own database, so this exercise does without."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield


class Broker:
    """The machine's real Redis, on a queue of this test's own: what the relay put there."""

    def __init__(self, client: redis.Redis, queue: str):
        self.client, self.queue = client, queue

    def published(self) -> list[dict]:
        """Take every message off the queue, oldest first: the envelopes."""
        out = []
        while (raw := self.client.rpop(self.queue)) is not None:  # kombu pushes left
            message = json.loads(raw)
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            assert message["headers"]["id"] == args[0]["id"], "the task id is the message id"
            out.append(args[0])
        return out


@pytest.fixture
def broker(settings, monkeypatch):
    """Everything published in this test goes to a queue of its own on the real Redis (runs of
    this exercise side by side never read each other's messages), removed afterwards."""
    from orders.events import consumer

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis at {settings.REDIS_URL}: start one (redis-server) or set REDIS_URL")
    queue = f"exercise-outbox-{uuid.uuid4().hex[:12]}"
    real = consumer.app.send_task

    def send_task(name, *args, **kwargs):
        return real(name, *args, **{**kwargs, "queue": queue})

    monkeypatch.setattr(consumer.app, "send_task", send_task)
    yield Broker(client, queue)
    with contextlib.suppress(redis.RedisError):
        client.delete(queue, f"_kombu.binding.{queue}")


@pytest.fixture
def crash_after_commit(monkeypatch):
    """The process dies right after a COMMIT: nothing registered to run after it runs
    (transaction.on_commit callbacks are dropped, as they are when the process is killed)."""

    def dropped(self):
        self.run_on_commit = []

    monkeypatch.setattr(type(connections["default"]), "run_and_clear_commit_hooks", dropped)
