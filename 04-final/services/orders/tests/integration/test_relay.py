"""The outbox's relay against a real Redis (the machine's, on a database number of this run's own):
every message is published, with its id and traceparent, and marked sent; a relay that dies
between publishing and marking sends again (and the consumer keeps one effect); two relays at once
send each message once (SKIP LOCKED, PostgreSQL); a broker that is down loses nothing."""

import base64
import json
import os
import threading

import pytest
import redis
from django.core.management import call_command
from django.db import connection
from orders.events import consumer, relay

from orders.models import DeadLetter, Order, OutboxMessage

from ..conftest import GOOD_CARD, settle

URL = "/api/v1/orders/"


@pytest.fixture
def broker(settings):
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis at {settings.REDIS_URL}: start one (redis-server) or set REDIS_URL")
    client.flushdb()
    yield client
    client.flushdb()


def published(broker) -> list[tuple[dict, dict]]:
    """Take every message off the orders queue: (Celery's headers, our envelope)."""
    out = []
    while (raw := broker.rpop("orders")) is not None:  # kombu pushes left, pops right
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"], args[0]))
    return out


def place(api, product, n=1):
    for _ in range(n):
        resp = api.post(URL, {"lines": [{"product_id": product["id"], "quantity": 1}],
                              "card_number": GOOD_CARD}, format="json")
        assert resp.status_code == 202, resp.content
    # Only the saga's messages are counted here: the read model's feed (order.changed) has its
    # own tests (tests/integration/test_order_history.py).
    OutboxMessage.objects.filter(type="order.changed").delete()


@pytest.mark.django_db
def test_the_relay_publishes_every_message_once_in_order_and_marks_it_sent(
        broker, alice_api, product):
    place(alice_api, product, 5)
    assert relay.relay_once() == 5 and relay.relay_once() == 0
    assert not OutboxMessage.objects.filter(sent_at=None).exists()
    sent = published(broker)
    rows = list(OutboxMessage.objects.order_by("position"))
    assert [envelope["id"] for _, envelope in sent] == [str(r.message_id) for r in rows]
    for headers, envelope in sent:
        assert headers["id"] == envelope["id"] and headers["task"] == consumer.TASK
        assert headers["traceparent"] == envelope["traceparent"]
    for _, envelope in sent:  # what the worker would do with them
        consumer.consume(envelope)
    settle()
    assert set(Order.objects.values_list("status", flat=True)) == {"confirmed"}


@pytest.mark.django_db
def test_a_relay_killed_between_publish_and_mark_sends_again_and_one_effect_stands(
        broker, alice_api, product, monkeypatch, monolith):
    place(alice_api, product)
    real_filter = OutboxMessage.objects.filter

    def dies_before_marking(*args, **kwargs):
        if "pk__in" in kwargs:
            raise SystemExit("relay killed")  # after publishing, before the mark commits
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(OutboxMessage.objects, "filter", dies_before_marking)
    with pytest.raises(SystemExit):
        relay.relay_once()
    monkeypatch.undo()
    assert OutboxMessage.objects.filter(sent_at=None).count() == 1  # rolled back: not sent
    assert relay.relay_once() == 1
    (h1, first), (h2, second) = published(broker)
    assert first["id"] == second["id"]  # the same message twice: at least once
    before = monolith.stock()[product["id"]]
    consumer.consume(first)
    consumer.consume(second)
    (reservations,) = monolith.sql("SELECT count(*) FROM inventory_reservation "
                                   "WHERE reservation_id = ?", Order.objects.get().reservation_id)
    assert reservations == (1,) and monolith.stock()[product["id"]] == before - 1


@pytest.mark.django_db
def test_with_the_broker_down_the_relay_keeps_every_message(alice_api, product, broker,
                                                            monkeypatch):
    """The broker refuses the third message: the pass rolls back, every row stays unsent and the
    next pass sends all of them (the first two a second time: at least once). A Redis really
    restarted under load is tests/faults' job."""
    from kombu.exceptions import OperationalError

    place(alice_api, product, 3)
    real, calls = consumer.publish, []

    def refuses_the_third(envelope, producer=None):
        calls.append(envelope["id"])
        if len(calls) == 3:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        real(envelope, producer=producer)

    monkeypatch.setattr(consumer, "publish", refuses_the_third)
    with pytest.raises(OperationalError):
        relay.relay_once()
    monkeypatch.undo()
    assert OutboxMessage.objects.filter(sent_at=None).count() == 3
    assert relay.relay_once() == 3
    assert len(published(broker)) == 5


@pytest.mark.django_db
def test_a_dead_letter_is_replayed_to_the_broker(broker):
    from orders.events.outbox import envelope

    message = envelope("saga.reserve_stock", 1, 42, {"order_id": 42})
    consumer.dead_letter(message, DeadLetter.Kind.EXHAUSTED, "Transient: the inventory was down")
    call_command("dead_letters", "list")
    call_command("dead_letters", "replay")
    ((headers, again),) = published(broker)
    assert again == message and DeadLetter.objects.get().replayed_at is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_relays_at_once_send_each_message_once(broker, alice_api, product):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has a single writer anyway")
    place(alice_api, product, 40)
    counts, start = [], threading.Barrier(2)

    def run():
        start.wait(10)
        try:
            while (n := relay.relay_once(batch=3)):
                counts.append(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [envelope["id"] for _, envelope in published(broker)]
    assert len(ids) == len(set(ids)) == 40 and sum(counts) == 40
