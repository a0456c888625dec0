"""Exercise 02.2: whatever fails after (or while) the inventory reserves, no unit stays taken.

What the lesson guarantees, one check each, counting the monolith's real stock (its real gRPC
server, started for the session) before and after:
- a declined card and a payment timeout: 402, the reservation released;
- an error of the orders database after the charge: 503, refunded and released;
- an order that succeeds keeps its units (confirmed, not released);
- no answer from the inventory: 503, and the release it owes is recorded for the sweeper;
- an answer that comes too late (our deadline passed while the reserve waited): 504, and the
  reserve that lands afterwards takes nothing for good;
- a definite "no" (out of stock) is answered 409 and leaves the stock alone.
"""

import threading
import time

import pytest
from django.db import DatabaseError

from orders import services
from orders.clients import inventory
from orders.models import Order, OrderLine, StrandedReservation
from payments.models import Payment

from ..conftest import DECLINED_CARD, GOOD_CARD, TIMEOUT_CARD
from ..monolith import free_port

URL = "/api/v1/orders/"
pytestmark = pytest.mark.django_db(transaction=True)


def place(client, product, quantity=2, card=GOOD_CARD):
    body = {"lines": [{"product_id": product["id"], "quantity": quantity}], "card_number": card}
    return client.post(URL, body, format="json")


@pytest.fixture
def reservation_ids(monkeypatch):
    """The ids this service reserves under, as it makes them."""
    made = []
    real = inventory.reserve

    def spy(reservation_id, *args, **kwargs):
        made.append(reservation_id)
        return real(reservation_id, *args, **kwargs)

    monkeypatch.setattr(inventory, "reserve", spy)
    return made


def statuses(monolith, ids) -> list:
    return [(monolith.reservation(rid) or ("absent",))[0] for rid in ids]


def test_a_declined_card_releases_the_reservation(alice_api, product, monolith,
                                                  reservation_ids):
    before = monolith.stock()
    resp = place(alice_api, product, card=DECLINED_CARD)
    assert resp.status_code == 402 and resp.json()["code"] == "payment_declined"
    assert monolith.stock() == before, "the declined order kept its units"
    assert statuses(monolith, reservation_ids) == ["released"]


def test_an_order_that_succeeds_keeps_its_units(alice_api, product, monolith, reservation_ids):
    before = monolith.stock()[product["id"]]
    resp = place(alice_api, product)
    assert resp.status_code == 201 and resp.json()["status"] == "confirmed"
    assert statuses(monolith, reservation_ids) == ["confirmed"]
    assert monolith.stock()[product["id"]] == before - 2


def test_an_orders_database_error_refunds_and_releases(alice_api, product, monolith,
                                                       monkeypatch, reservation_ids):
    def broken(*args, **kwargs):
        raise DatabaseError("disk full (injected)")

    monkeypatch.setattr(OrderLine.objects, "bulk_create", broken)
    before = monolith.stock()
    resp = place(alice_api, product)
    assert resp.status_code == 503 and resp.json()["code"] == "orders_unavailable"
    assert monolith.stock() == before, "the order that was never stored kept its units"
    assert statuses(monolith, reservation_ids) == ["released"]
    assert not Order.objects.exists() and not Payment.objects.exists()


def test_no_answer_from_the_inventory_leaves_a_release_for_the_sweeper(
    alice_api, product, monolith, settings, reservation_ids
):
    settings.MONOLITH_GRPC = f"127.0.0.1:{free_port()}"  # nobody listens there
    before = monolith.stock()
    resp = place(alice_api, product)
    assert resp.status_code == 503 and resp.json()["code"] == "inventory_unavailable"
    assert StrandedReservation.objects.count() == 1, (
        "nothing says this reservation id must be released once the inventory is back: if the "
        "reserve landed before the answer was lost, its units stay taken"
    )
    settings.MONOLITH_GRPC = monolith.target
    services.sweep()  # the inventory is back: the sweeper delivers the release (a tombstone)
    assert statuses(monolith, reservation_ids) == ["released"]
    assert monolith.stock() == before and not StrandedReservation.objects.exists()


def test_a_payment_timeout_releases_the_reservation(alice_api, product, monolith,
                                                    reservation_ids):
    before = monolith.stock()
    resp = place(alice_api, product, card=TIMEOUT_CARD)
    assert resp.status_code == 402 and resp.json()["code"] == "payment_timeout"
    assert monolith.stock() == before
    assert statuses(monolith, reservation_ids) == ["released"]


def test_out_of_stock_is_a_definite_no(alice_api, product, monolith, reservation_ids):
    monolith.set_stock(product["id"], 1)
    before = monolith.stock()
    resp = place(alice_api, product, quantity=2)
    assert resp.status_code == 409 and resp.json()["code"] == "out_of_stock"
    assert monolith.stock() == before and not StrandedReservation.objects.exists()


def test_a_reserve_that_lands_after_the_deadline_takes_nothing(
    alice_api, product, monolith, settings, reservation_ids
):
    """The inventory is slow (its database is locked): our deadline passes while the reserve
    waits, and the reserve lands after we answered 504. Whichever arrives first, the reserve or
    our release, no unit stays taken."""
    settings.INVENTORY_DEADLINE_SECONDS = 0.3
    before = monolith.stock()
    locked, done = threading.Event(), threading.Event()

    def hold_lock():
        with monolith.write_locked():
            locked.set()
            done.wait(120)  # until the order's answer is in, however slow the machine

    locker = threading.Thread(target=hold_lock)
    locker.start()
    try:
        assert locked.wait(30), "could not take the monolith's write lock"
        resp = place(alice_api, product)
    finally:
        done.set()
        locker.join()
    assert resp.status_code == 504 and resp.json()["code"] == "inventory_timeout", resp.content
    assert not Order.objects.exists()
    # The monolith finishes what was queued behind the lock; the sweeper delivers what is owed.
    deadline = time.monotonic() + 20
    while statuses(monolith, reservation_ids) != ["released"] or \
            StrandedReservation.objects.exists():
        assert time.monotonic() < deadline, (
            f"the late reserve kept its units: reservation {statuses(monolith, reservation_ids)}"
        )
        services.sweep()
        time.sleep(0.05)
    assert monolith.stock() == before
