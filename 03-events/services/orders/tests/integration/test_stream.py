"""The event stream (orders/events/stream.py) and its consumer group's read model
(orders/projections/sales_by_product.py) against a real Redis (the machine's, on a database
number of this run's own): events appended in outbox order; a second group reads everything,
independently; a replay from an offset reprocesses and ends in the same state; a reader killed
with entries pending has them taken over by another; duplicates have one effect."""

import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from orders.events import consumer, relay, stream
from orders.projections import sales_by_product as sales

from orders.models import Order, OutboxMessage

from ..conftest import DECLINED_CARD, GOOD_CARD
from .test_relay import broker, published  # noqa: F401 - the broker fixture

URL = "/api/v1/orders/"
SERVICE = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def place(api, product, quantity=1, card=GOOD_CARD) -> int:
    resp = api.post(URL, {"lines": [{"product_id": product["id"], "quantity": quantity}],
                          "card_number": card}, format="json")
    assert resp.status_code == 202, resp.content
    return resp.json()["id"]


def flow(broker):  # noqa: F811
    """The relay and the Celery worker, in this process: until the outbox is empty."""
    while relay.relay_once():
        for _, envelope in published(broker):
            consumer.consume(envelope)


def expected_sales() -> list[tuple]:
    """Sales by product as the write side says: confirmed orders' lines."""
    totals: dict[int, list] = {}
    for order in Order.objects.filter(status="confirmed").prefetch_related("lines"):
        for line in order.lines.all():
            row = totals.setdefault(line.product_id, [line.product_name, 0, 0])
            row[1] += line.quantity
            row[2] += line.quantity * line.unit_price_cents
    return sorted(((p, n, u, r) for p, (n, u, r) in totals.items()), key=lambda x: (-x[2], x[0]))


@pytest.fixture
def orders_flowed(broker, alice_api, bob_api, product, monolith):  # noqa: F811
    """Four orders through the whole pipe: two confirmed, one declined, one confirmed then
    cancelled. Returns the outbox's domain events, oldest first."""
    kettle = monolith.product("pour-over-kettle")
    monolith.set_stock(kettle["id"], 10)
    place(alice_api, product, 2)
    place(bob_api, kettle, 3)
    place(alice_api, product, 1, card=DECLINED_CARD)
    cancelled = place(bob_api, product, 1)
    flow(broker)
    assert bob_api.post(f"{URL}{cancelled}/cancel/").status_code == 200
    flow(broker)
    assert sorted(Order.objects.values_list("status", flat=True)) == [
        "cancelled", "confirmed", "confirmed", "rejected"]
    return list(OutboxMessage.objects.filter(type__startswith="order.").order_by("position"))


def test_the_relay_appends_every_domain_event_in_outbox_order_and_no_command(orders_flowed):
    entries = stream.read("-", count=1000)
    assert [e.message_id for e in entries] == [str(r.message_id) for r in orders_flowed]
    assert [e.position for e in entries] == sorted(e.position for e in entries)
    assert {e.type for e in entries} == {"order.changed", "order.confirmed", "order.rejected"}
    assert [e.envelope for e in entries] == [r.envelope for r in orders_flowed]
    ids = [e.id for e in entries]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))  # offsets increase
    assert OutboxMessage.objects.filter(type__startswith="saga.").exists()  # commands: not here


def test_a_second_group_reads_every_event_independently(orders_flowed):
    first = sales.Reader(group="sales-by-product", name="a1")
    assert first.drain() == len(orders_flowed)
    assert sales.sales("sales-by-product") == expected_sales() != []
    # A group created after the first read everything still starts at the first entry, and
    # reading does not take entries away from the first group or the stream.
    stream.ensure_group("audit")
    assert {g["name"]: g["lag"] for g in stream.info()["groups"]}["audit"] == len(orders_flowed)
    second = sales.Reader(group="audit", name="b1")
    assert second.drain() == len(orders_flowed)
    assert sales.state("audit") == sales.state("sales-by-product")
    assert stream.client().xlen(stream.STREAM) == len(orders_flowed)
    groups = {g["name"]: g for g in stream.info()["groups"]}
    assert groups["sales-by-product"]["pending"] == groups["audit"]["pending"] == 0
    assert groups["sales-by-product"]["lag"] == groups["audit"]["lag"] == 0
    assert first.drain() == 0 and second.drain() == 0  # nothing read twice


def test_a_replay_from_an_offset_reprocesses_and_ends_in_the_same_state(orders_flowed):
    reader = sales.Reader(group="sales-by-product", name="r1")
    reader.drain()
    before = sales.state("sales-by-product")
    entries = stream.read("-", count=1000)
    middle = entries[len(entries) // 2]
    out = io.StringIO()
    call_command("stream", "replay", "--group", "sales-by-product", "--from", middle.id,
                 stdout=out)
    assert reader.drain() == len(entries) - len(entries) // 2  # read again from `middle` on
    assert sales.state("sales-by-product") == before
    call_command("stream", "replay", "--group", "sales-by-product", "--from", "0", "--rebuild",
                 stdout=out)
    assert sales.state("sales-by-product")["messages"] == set()  # emptied, then rebuilt
    assert reader.drain() == len(entries)
    assert sales.state("sales-by-product") == before
    assert "reads again from 0 into an emptied read model" in out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(condition, timeout=60.0, what="the condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def pending_of(group: str) -> dict[str, int]:
    stream.ensure_group(group)  # (before the reader under test has created it)
    summary = stream.client().xpending(stream.STREAM, group)
    return {c["name"]: c["pending"] for c in summary["consumers"]}


def members(group: str) -> set[str]:
    return {m["name"] for m in stream.client().xinfo_consumers(stream.STREAM, group)}


def test_a_reader_killed_with_entries_pending_has_them_taken_over(orders_flowed, tmp_path):
    """A real `manage.py stream_consumer` reads its entries, then stalls on its store (the test
    holds the store's write lock) and is SIGKILLed: its entries stay pending with it. Another
    member of the group takes them over once they have been idle long enough."""
    store = str(tmp_path / "sales.sqlite3")
    sales.connect(store)
    lock = sqlite3.connect(store, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "orders_service.settings_test",
           "TEST_REDIS_URL": settings.REDIS_URL, "SALES_DB": store,
           "CONTRACTS_DIR": str(settings.CONTRACTS_DIR)}
    doomed = subprocess.Popen(
        [sys.executable, "manage.py", "stream_consumer", "--group", "sales-by-product",
         "--name", "doomed", "--port", str(free_port())],
        cwd=SERVICE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        until(lambda: pending_of("sales-by-product").get("doomed") == len(orders_flowed)
              or doomed.poll() is not None, what="the reader holding every entry")
        assert doomed.poll() is None, doomed.stderr.read().decode()[-2000:]
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        lock.execute("ROLLBACK")
        lock.close()
    assert sales.state("sales-by-product", store)["messages"] == set()  # it applied nothing
    survivor = sales.Reader(group="sales-by-product", name="survivor", path=store,
                            claim_idle_ms=200)
    handled = []
    until(lambda: handled.append(survivor.step(block=False)) or sum(handled) >= len(
        orders_flowed), what="the survivor taking the entries over")
    assert sum(handled) == len(orders_flowed)
    assert pending_of("sales-by-product") == {}
    # The dead member, with nothing left pending, is forgotten once silent long enough.
    until(lambda: "doomed" in survivor.tidy() or not members("sales-by-product") - {"survivor"},
          what="the dead member forgotten")
    assert members("sales-by-product") == {"survivor"}
    assert sales.sales("sales-by-product", store) == expected_sales()


def test_duplicates_have_one_effect_and_poison_is_kept_aside(broker, alice_api, product,  # noqa: F811
                                                             monkeypatch):
    place(alice_api, product, 2)
    real_filter = OutboxMessage.objects.filter

    def dies_before_marking(*args, **kwargs):
        if "pk__in" in kwargs:
            raise SystemExit("relay killed")  # after XADD, before the mark commits
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(OutboxMessage.objects, "filter", dies_before_marking)
    with pytest.raises(SystemExit):
        relay.relay_once()
    monkeypatch.undo()
    published(broker)  # the Celery copies of that pass: the relay sends them again
    flow(broker)
    entries = stream.read("-", count=1000)
    events = OutboxMessage.objects.filter(type__startswith="order.").count()
    assert len(entries) == events + 1  # the pending order.changed, appended twice
    assert len({e.message_id for e in entries}) == events
    stream.client().xadd(stream.STREAM, {"type": "order.changed", "envelope": "{not json"})
    reader = sales.Reader(group="sales-by-product", name="d1")
    assert reader.drain() == len(entries) + 1
    assert sales.sales("sales-by-product") == expected_sales() == [
        (product["id"], product["name"], 2, 2 * product["price_cents"])]
    assert len(sales.state("sales-by-product")["messages"]) == events
    (poison,) = sales.connect().execute("SELECT error FROM sales_poison").fetchall()
    assert "KeyError" in poison[0]
    out = io.StringIO()
    call_command("stream", "read", "--from", "0", "--count", "100", stdout=out)
    assert "(not an event: KeyError)" in out.getvalue().splitlines()[-1]
    assert pending_of("sales-by-product") == {}


def test_the_stream_command_says_what_is_wrong_with_its_input(broker):  # noqa: F811
    with pytest.raises(CommandError, match="--from"):
        call_command("stream", "replay", "--group", "sales-by-product")
    with pytest.raises(CommandError, match="--rebuild .* from 0"):
        call_command("stream", "replay", "--group", "g", "--from", "1-0", "--rebuild")
    with pytest.raises(CommandError, match="an offset looks like"):
        call_command("stream", "read", "--from", "yesterday")
    out = io.StringIO()
    call_command("stream", "info", stdout=out)
    assert "stream:orders: empty" in out.getvalue()
