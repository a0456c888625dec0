"""The order-history read model (CQRS, orders/projections/order_history.py): fed by
`order.changed` events through the consumer, idempotent, out-of-order safe, rebuilt from every
event to the same rows, its lag measured, and the caller's own writes never missing."""

import io

import pytest
from django.core.management import call_command
from orders.events import consumer
from orders.projections import order_history

from orders import services
from orders.models import Order, OutboxMessage

from ..conftest import DECLINED_CARD, GOOD_CARD, api_as, settle

URL = "/api/v1/orders/"
pytestmark = pytest.mark.django_db


def place(api, product, quantity=1, card=GOOD_CARD):
    resp = api.post(URL, {"lines": [{"product_id": product["id"], "quantity": quantity}],
                          "card_number": card}, format="json")
    assert resp.status_code == 202, resp.content
    return resp.json()["id"]


def listed(api):
    resp = api.get(URL)
    assert resp.status_code == 200, resp.content
    return {o["id"]: o for o in resp.json()["results"]}, resp["X-Projection-Lag"]


def changes():
    return [m.envelope for m in OutboxMessage.objects.filter(type="order.changed")
            .order_by("position")]


def test_the_list_is_served_from_the_read_model(alice_api, product):
    order_id = place(alice_api, product)
    settle()
    assert order_history.lag().events == 0
    # A read model, not the orders table: a change the write side made without an event (never
    # done in the code) is not seen; the one the read model holds is.
    Order.objects.filter(id=order_id).update(total_cents=1)
    orders, lag = listed(alice_api)
    assert orders[order_id]["status"] == "confirmed"
    assert orders[order_id]["total_cents"] == product["price_cents"]
    assert orders[order_id]["lines"][0]["product_name"] == product["name"]
    assert lag == "events=0; seconds=0.000"


def test_the_caller_reads_its_own_writes_before_the_read_model_has_them(
        alice_api, bob_api, product):
    mine = place(alice_api, product)
    theirs = place(bob_api, product)
    orders, lag = listed(alice_api)  # nothing delivered yet: the read model is empty
    assert list(orders) == [mine] and orders[mine]["status"] == "pending"
    assert lag.startswith("events=2;")
    assert order_history.rows() == []
    assert set(listed(bob_api)[0]) == {theirs}  # merged, and only the caller's own


def test_every_event_delivered_twice_more_in_reverse_order_changes_nothing(
        alice_api, bob_api, product):
    place(alice_api, product)
    place(bob_api, product, card=DECLINED_CARD)
    settle()
    rows = order_history.rows()
    assert {r[2] for r in rows} == {"confirmed", "rejected"}
    for envelope in list(reversed(changes())) * 2:
        consumer.consume(envelope)
    assert order_history.rows() == rows
    assert order_history.project(changes()[0]) is False  # the inbox saw it


def test_an_older_event_never_overwrites_a_newer_one(alice_api, product):
    place(alice_api, product)
    settle()
    placed, confirmed = changes()
    path = order_history.connect().execute("PRAGMA database_list").fetchone()[2] + ".b"
    order_history.project(confirmed, path=path)
    order_history.project(placed, path=path)  # late: a retried delivery
    assert [r[2] for r in order_history.rows(path)] == ["confirmed"]
    assert order_history.rows(path) == order_history.rows()


def test_a_rebuild_replays_every_event_from_the_start_to_the_same_rows(
        alice_api, bob_api, alice, product):
    confirmed = place(alice_api, product)
    place(alice_api, product, card=DECLINED_CARD)
    place(bob_api, product, 2)
    settle()
    services.cancel_order(alice, confirmed)
    settle()
    live = order_history.rows()
    assert sorted(r[2] for r in live) == ["cancelled", "confirmed", "rejected"]
    assert order_history.rebuild() == len(changes()) == 7
    assert order_history.rows() == live  # row by row, positions included
    out = io.StringIO()
    call_command("rebuild_projection", stdout=out)
    assert out.getvalue().startswith("replayed 7 events into 3 orders")
    assert order_history.rows() == live


def test_the_lag_counts_events_not_applied_and_the_age_of_the_oldest(alice_api, product):
    place(alice_api, product)
    place(alice_api, product)
    behind = order_history.lag()
    assert behind.events == 2 and behind.seconds >= 0 and len(behind.order_ids) == 2
    first = changes()[0]
    order_history.project(first)
    assert order_history.lag().events == 1
    assert "order_history_lag_events 1\n" in api_as().get("/metrics").content.decode()
    settle()
    assert order_history.lag().events == 0
    assert "order_history_lag_seconds 0.000\n" in api_as().get("/metrics").content.decode()


def test_a_poisoned_order_changed_is_a_dead_letter_not_a_row(alice_api, product):
    from orders.models import DeadLetter

    place(alice_api, product)
    envelope = dict(changes()[0], payload={"order_id": "x"})
    consumer.consume(envelope)
    assert DeadLetter.objects.filter(type="order.changed", kind="poison").exists()
    assert order_history.rows() == []


def test_a_store_built_from_another_event_log_is_rebuilt_not_mixed(alice_api, product):
    """A file left from an earlier run, or the orders database recreated: the store's rows
    would hide the new log's (an older position never overwrites) and show orders that are not
    there. The store remembers its log's first event and rebuilds when it differs."""
    place(alice_api, product)
    settle()
    live = order_history.rows()
    db = order_history.connect()
    db.execute("INSERT INTO order_history VALUES (999, 2, 'confirmed', '', 1, "
               "'2026-01-01T00:00:00+00:00', '[]', 99999)")
    db.execute("UPDATE source SET first_event = 'from-another-log'")
    order_history._verified.clear()  # as a process started afresh
    assert order_history.lag().events == 0
    assert order_history.rows() == live
