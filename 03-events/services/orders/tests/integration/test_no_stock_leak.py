"""No unit of stock is ever leaked: one test per way placing an order can fail after (or while)
the inventory reserves it. Each test counts the monolith's real stock before and after.

The guarantee the monolith got for free from one database transaction is earned here by hand:
release by reservation id on every failure, record (and let the sweeper deliver) a release that
cannot get through, confirm the reservation only once the order is committed, and undo an order
whose reservation could not be confirmed in time.
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


def place(client, product, quantity=2, card=GOOD_CARD, **headers):
    body = {"lines": [{"product_id": product["id"], "quantity": quantity}], "card_number": card}
    return client.post(URL, body, format="json", headers=headers)


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


def eventually(check, what: str, timeout: float = 30.0):
    """Wait on a condition (the sweeper runs every second), never on a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def test_payment_declined_releases_the_reservation(alice_api, product, monolith,
                                                   reservation_ids):
    before = monolith.stock()
    resp = place(alice_api, product, card=DECLINED_CARD)
    assert resp.status_code == 402 and resp.json()["code"] == "payment_declined"
    assert monolith.stock() == before
    # It was reserved, then released: the release is what kept the stock whole.
    assert statuses(monolith, reservation_ids) == ["released"]
    assert not Order.objects.exists() and not StrandedReservation.objects.exists()


def test_payment_timeout_releases_the_reservation(alice_api, product, monolith, reservation_ids):
    before = monolith.stock()
    resp = place(alice_api, product, card=TIMEOUT_CARD)
    assert resp.status_code == 402 and resp.json()["code"] == "payment_timeout"
    assert monolith.stock() == before
    assert statuses(monolith, reservation_ids) == ["released"]
    assert not Order.objects.exists()


def test_a_confirmed_order_holds_a_confirmed_reservation(alice_api, product, monolith,
                                                         reservation_ids):
    before = monolith.stock()[product["id"]]
    resp = place(alice_api, product)
    assert resp.status_code == 201 and resp.json()["status"] == "confirmed"
    assert statuses(monolith, reservation_ids) == ["confirmed"]
    assert monolith.stock()[product["id"]] == before - 2


def test_orders_database_error_refunds_and_releases(alice_api, product, monolith, monkeypatch,
                                                    reservation_ids):
    refunds = []
    from payments import provider

    real_refund = provider.refund
    monkeypatch.setattr(provider, "refund",
                        lambda ref, cents: refunds.append(ref) or real_refund(ref, cents))

    def broken(*args, **kwargs):
        raise DatabaseError("disk full (injected)")

    monkeypatch.setattr(OrderLine.objects, "bulk_create", broken)
    before = monolith.stock()
    resp = place(alice_api, product)
    assert resp.status_code == 503 and resp.json()["code"] == "orders_unavailable"
    assert monolith.stock() == before
    assert statuses(monolith, reservation_ids) == ["released"]
    assert len(refunds) == 1, "the card was charged: it must be refunded"
    assert not Order.objects.exists() and not Payment.objects.exists()  # rolled back together


def test_inventory_unavailable_is_503_and_the_sweeper_delivers_the_release(
    alice_api, product, monolith, settings, reservation_ids
):
    settings.MONOLITH_GRPC = f"127.0.0.1:{free_port()}"  # nobody listens there
    before = monolith.stock()
    resp = place(alice_api, product)
    assert resp.status_code == 503 and resp.json()["code"] == "inventory_unavailable"
    assert monolith.stock() == before and not Order.objects.exists()
    # No answer is not "no": the release is recorded, and the sweeper delivers it once the
    # inventory is back (a tombstone: a late reserve of this id would take nothing).
    stranded = StrandedReservation.objects.get()
    assert stranded.reservation_id == reservation_ids[0]
    settings.MONOLITH_GRPC = monolith.target
    services.sweep()
    assert statuses(monolith, reservation_ids) == ["released"]
    assert not StrandedReservation.objects.exists() and monolith.stock() == before


def test_deadline_exceeded_releases_even_a_reservation_that_lands_late(
    alice_api, product, monolith, settings, reservation_ids
):
    """The inventory is slow (its database is locked): our deadline passes while the reserve
    waits. The reserve may still land after we gave up; the release by id, or its tombstone,
    makes sure that whichever order the two arrive in, no unit stays taken."""
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
    def settled():
        services.sweep()
        return statuses(monolith, reservation_ids) == ["released"] and \
            not StrandedReservation.objects.exists()

    eventually(settled, "the late reserve released")
    assert monolith.stock() == before


def test_a_budget_already_spent_is_504_and_reserves_nothing(alice_api, product, monolith,
                                                           reservation_ids):
    before = monolith.stock()
    resp = place(alice_api, product, **{"X-Request-Budget-Ms": "0"})
    assert resp.status_code == 504 and resp.json()["code"] == "deadline_exceeded"
    assert monolith.stock() == before and not Order.objects.exists()
    assert reservation_ids == [] and not StrandedReservation.objects.exists()  # nothing sent


def test_an_order_whose_units_cannot_be_confirmed_in_time_is_undone(
    alice_api, product, monolith, monkeypatch, reservation_ids
):
    """Committed, then the inventory does not confirm (frozen right after our commit): the
    caller is about to hear 504, so the order must not stand: undone, refunded, released."""
    refunds = []
    from payments import provider

    monkeypatch.setattr(provider, "refund", lambda ref, cents: refunds.append(ref) or "re_x")

    def no_answer(reservation_id, deadline=None):
        raise inventory.InventoryTimeout("no answer (injected)")

    monkeypatch.setattr(inventory, "confirm", no_answer)
    before = monolith.stock()
    resp = place(alice_api, product)
    assert resp.status_code == 504, resp.content
    assert not Order.objects.exists() and not Payment.objects.exists() and len(refunds) == 1
    assert statuses(monolith, reservation_ids) == ["released"]
    assert monolith.stock() == before and not StrandedReservation.objects.exists()


def test_a_crash_between_commit_and_confirm_is_settled_by_the_sweeper(
    alice_api, product, monolith, monkeypatch, settings, reservation_ids
):
    """The process died after committing two orders and before confirming them. The sweeper
    confirms the one whose units are still held, and rejects (and refunds) the one whose hold
    ran out first: the inventory had taken its units back. Stock + confirmed units = before."""
    monkeypatch.setattr(services, "_confirm", lambda order, customer, deadline: order)
    before = monolith.stock()[product["id"]]
    kept, lost = place(alice_api, product).json(), place(alice_api, product).json()
    assert kept["status"] == lost["status"] == "pending"
    settings.REQUEST_BUDGET_MS, settings.SETTLE_MARGIN_SECONDS = 0, 0  # settle them at once
    monolith.expire(reservation_ids[1])
    eventually(lambda: statuses(monolith, reservation_ids[1:]) == ["released"],
               "the monolith's sweeper gave the expired reservation back")
    services.sweep()
    assert Order.objects.get(pk=kept["id"]).status == "confirmed"
    rejected = Order.objects.get(pk=lost["id"])
    assert (rejected.status, rejected.reason) == ("rejected", "reservation_expired")
    assert rejected.payment.status == "refunded"
    assert statuses(monolith, reservation_ids) == ["confirmed", "released"]
    assert monolith.stock()[product["id"]] == before - 2


def test_cancel_with_the_inventory_down_cancels_now_and_gives_the_stock_back_later(
    alice_api, product, monolith, settings
):
    before = monolith.stock()
    order = place(alice_api, product).json()
    assert monolith.stock()[product["id"]] == before[product["id"]] - 2
    settings.MONOLITH_GRPC = f"127.0.0.1:{free_port()}"
    resp = alice_api.post(f"{URL}{order['id']}/cancel/")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert StrandedReservation.objects.count() == 1
    settings.MONOLITH_GRPC = monolith.target
    services.sweep()
    assert monolith.stock() == before and not StrandedReservation.objects.exists()
