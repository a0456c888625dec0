"""No unit of stock is ever leaked: one test per way placing an order can fail after (or while)
the inventory reserves it. Each test counts the monolith's real stock before and after.

The guarantee the monolith got for free from one database transaction is earned here by hand:
release by reservation id on every failure, retry the release, and write down (and later
retry) a release that still cannot get through.
"""

import threading
import time

import pytest
from django.db import DatabaseError

from orders import inventory
from orders.models import Order, OrderLine, StrandedReservation
from payments.models import Payment

from ..conftest import DECLINED_CARD, GOOD_CARD, TIMEOUT_CARD
from ..monolith import free_port

URL = "/api/v1/orders/"
pytestmark = pytest.mark.django_db(transaction=True)


def place(client, product, quantity=2, card=GOOD_CARD):
    body = {"lines": [{"product_id": product["id"], "quantity": quantity}], "card_number": card}
    return client.post(URL, body, format="json")


def reservations_since(monolith, moment: str) -> list[tuple[str, str]]:
    return monolith.sql("SELECT reservation_id, status FROM inventory_reservation "
                        "WHERE created_at >= ? ORDER BY created_at", moment)


def now_in_sqlite(monolith) -> str:
    (moment,), = monolith.sql("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
    time.sleep(0.01)
    return moment


def test_payment_declined_releases_the_reservation(alice_api, product, monolith):
    before, since = monolith.stock(), now_in_sqlite(monolith)
    resp = place(alice_api, product, card=DECLINED_CARD)
    assert resp.status_code == 402 and resp.json()["code"] == "payment_declined"
    assert monolith.stock() == before
    # It was reserved, then released: the release is what kept the stock whole.
    assert [status for _, status in reservations_since(monolith, since)] == ["released"]
    assert not Order.objects.exists() and not StrandedReservation.objects.exists()


def test_payment_timeout_releases_the_reservation(alice_api, product, monolith):
    before, since = monolith.stock(), now_in_sqlite(monolith)
    resp = place(alice_api, product, card=TIMEOUT_CARD)
    assert resp.status_code == 402 and resp.json()["code"] == "payment_timeout"
    assert monolith.stock() == before
    assert [status for _, status in reservations_since(monolith, since)] == ["released"]
    assert not Order.objects.exists()


def test_orders_database_error_refunds_and_releases(alice_api, product, monolith, monkeypatch):
    refunds = []
    from payments import provider

    real_refund = provider.refund
    monkeypatch.setattr(provider, "refund",
                        lambda ref, cents: refunds.append(ref) or real_refund(ref, cents))

    def broken(*args, **kwargs):
        raise DatabaseError("disk full (injected)")

    monkeypatch.setattr(OrderLine.objects, "bulk_create", broken)
    before, since = monolith.stock(), now_in_sqlite(monolith)
    resp = place(alice_api, product)
    assert resp.status_code == 503 and resp.json()["code"] == "orders_unavailable"
    assert monolith.stock() == before
    assert [status for _, status in reservations_since(monolith, since)] == ["released"]
    assert len(refunds) == 1, "the card was charged: it must be refunded"
    assert not Order.objects.exists() and not Payment.objects.exists()  # rolled back together


def test_inventory_unavailable_is_503_and_the_release_is_kept_for_later(
    alice_api, product, monolith, settings
):
    settings.MONOLITH_GRPC = f"127.0.0.1:{free_port()}"  # nobody listens there
    settings.RELEASE_ATTEMPTS = 2
    before = monolith.stock()
    resp = place(alice_api, product)
    assert resp.status_code == 503 and resp.json()["code"] == "inventory_unavailable"
    assert monolith.stock() == before and not Order.objects.exists()
    # No answer is not "no": the release is recorded, and retried once the inventory is back.
    stranded = StrandedReservation.objects.get()
    settings.MONOLITH_GRPC = monolith.target
    assert inventory.release_stranded() == (1, 0)
    assert monolith.reservation(stranded.reservation_id)[0] == "released"  # a tombstone
    assert monolith.stock() == before


def test_deadline_exceeded_releases_even_a_reservation_that_lands_late(
    alice_api, product, monolith, settings
):
    """The inventory is slow (its database is locked): our deadline passes while the reserve
    waits. The reserve may still land after we gave up; the release by id, or its tombstone,
    makes sure that whichever order the two arrive in, no unit stays taken."""
    settings.INVENTORY_DEADLINE_SECONDS = 0.3
    settings.RELEASE_ATTEMPTS = 2
    before, since = monolith.stock(), now_in_sqlite(monolith)
    unlocked = threading.Event()

    def hold_lock():
        with monolith.write_locked():
            unlocked.wait(1.5)

    locker = threading.Thread(target=hold_lock)
    locker.start()
    time.sleep(0.1)
    try:
        resp = place(alice_api, product)
    finally:
        unlocked.set()
        locker.join()
    assert resp.status_code == 504 and resp.json()["code"] == "inventory_timeout"
    assert not Order.objects.exists()
    # Let the monolith finish what was queued behind the lock, then retry stranded releases.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        inventory.release_stranded()
        rows = reservations_since(monolith, since)
        if rows and all(status == "released" for _, status in rows):
            break
        time.sleep(0.2)
    assert rows and all(status == "released" for _, status in rows), rows
    assert monolith.stock() == before
    assert not StrandedReservation.objects.exists()


def test_cancel_with_the_inventory_down_cancels_now_and_gives_the_stock_back_later(
    alice_api, product, monolith, settings
):
    before = monolith.stock()
    order = place(alice_api, product).json()
    assert monolith.stock()[product["id"]] == before[product["id"]] - 2
    settings.MONOLITH_GRPC = f"127.0.0.1:{free_port()}"
    settings.RELEASE_ATTEMPTS = 1
    resp = alice_api.post(f"{URL}{order['id']}/cancel/")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert StrandedReservation.objects.count() == 1
    settings.MONOLITH_GRPC = monolith.target
    assert inventory.release_stranded() == (1, 0)
    assert monolith.stock() == before
