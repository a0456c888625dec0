"""Exercise 02.2: whatever fails after the inventory reserved, the units go back.

These checks place real orders against the monolith's real gRPC server (started for the test
session) and count its stock before and after.
"""

import threading
import time

import pytest
from django.db import DatabaseError

from orders import inventory
from orders.models import Order, OrderLine, StrandedReservation

from ..conftest import DECLINED_CARD, GOOD_CARD
from ..monolith import free_port

URL = "/api/v1/orders/"
pytestmark = pytest.mark.django_db(transaction=True)


def place(client, product, card=GOOD_CARD):
    body = {"lines": [{"product_id": product["id"], "quantity": 2}], "card_number": card}
    return client.post(URL, body, format="json")


def test_a_declined_card_leaves_the_stock_as_it_was(alice_api, product, monolith):
    before = monolith.stock()
    assert place(alice_api, product, DECLINED_CARD).status_code == 402
    assert monolith.stock() == before, "the declined order kept its units"


def test_an_orders_database_error_leaves_the_stock_as_it_was(alice_api, product, monolith,
                                                             monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("disk full (injected)")

    monkeypatch.setattr(OrderLine.objects, "bulk_create", broken)
    before = monolith.stock()
    assert place(alice_api, product).status_code == 503
    assert monolith.stock() == before, "the order that was never stored kept its units"
    assert not Order.objects.exists()


def test_an_unreachable_inventory_leaves_a_release_to_retry(alice_api, product, monolith,
                                                            settings):
    settings.MONOLITH_GRPC = f"127.0.0.1:{free_port()}"
    settings.RELEASE_ATTEMPTS = 1
    assert place(alice_api, product).status_code == 503
    assert StrandedReservation.objects.count() == 1, (
        "nothing says this reservation id must be released once the inventory is back"
    )


def test_a_reserve_that_lands_after_the_deadline_takes_nothing(alice_api, product, monolith,
                                                                settings):
    settings.INVENTORY_DEADLINE_SECONDS = 0.3
    settings.RELEASE_ATTEMPTS = 2
    before = monolith.stock()
    unlocked = threading.Event()

    def hold_lock():
        with monolith.write_locked():
            unlocked.wait(1.5)

    locker = threading.Thread(target=hold_lock)
    locker.start()
    time.sleep(0.1)
    try:
        assert place(alice_api, product).status_code == 504
    finally:
        unlocked.set()
        locker.join()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and monolith.stock() != before:
        inventory.release_stranded()
        time.sleep(0.2)
    assert monolith.stock() == before, "the late reserve kept its units"
