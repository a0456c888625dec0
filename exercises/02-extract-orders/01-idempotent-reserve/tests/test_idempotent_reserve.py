"""Exercise 02.1: across a network that loses answers, reserve and release are safe to retry.

What the lesson guarantees, one check each:
- a retried reserve takes the units once and answers what the first call recorded;
- a retried release gives them back once;
- a release that overtakes its own reserve leaves a tombstone: the late reserve takes nothing;
- a reserve retried after a real release takes nothing either;
- racing calls with one id (the caller's retry overtaking its first try) take or give back
  the units once. Only PostgreSQL runs two writers at once: SQLite queues every writer, so
  these checks run on PostgreSQL (skipped on SQLite, with a note; the exercise's own proof,
  `tox -e exercises`, always runs them).
"""

import os
import threading
import time

import pytest
from django.db import connection, connections

from catalog.models import Product
from inventory import services as inventory
from inventory.models import Reservation, Stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def product():
    item = Product.objects.create(slug="teapot", name="Teapot", price_cents=2500)
    Stock.objects.create(product=item, quantity=10)
    return item


def stock_of(product) -> int:
    return Stock.objects.get(product=product).quantity


def test_a_retried_reserve_takes_the_units_once(product):
    first = inventory.reserve("retry-1", [(product.id, 2)])
    again = inventory.reserve("retry-1", [(product.id, 2)])
    assert stock_of(product) == 8, "the retry reserved a second time"
    assert (again.reservation_id, again.status, again.lines) == (
        first.reservation_id, first.status, first.lines)


def test_a_retry_answers_what_was_recorded_not_what_it_asked(product):
    inventory.reserve("retry-2", [(product.id, 2)])
    again = inventory.reserve("retry-2", [(product.id, 5)])  # a buggy caller: same id, new lines
    assert [line["quantity"] for line in again.lines] == [2]
    assert stock_of(product) == 8


def test_a_retried_release_gives_back_once(product):
    inventory.reserve("retry-3", [(product.id, 3)])
    assert inventory.release("retry-3") is True
    assert inventory.release("retry-3") is False
    assert stock_of(product) == 10, "the second release gave units back again"


def test_a_release_that_arrives_first_leaves_a_tombstone(product):
    assert inventory.release("slow-1") is False
    tombstone = Reservation.objects.filter(pk="slow-1").first()
    assert tombstone is not None, "an unknown id left no trace: a late reserve will succeed"
    assert tombstone.status == "released" and tombstone.lines == []
    with pytest.raises(inventory.ReservationReleased):
        inventory.reserve("slow-1", [(product.id, 1)])
    assert stock_of(product) == 10


def test_a_reserve_retried_after_a_real_release_takes_nothing(product):
    inventory.reserve("late-1", [(product.id, 4)])
    assert inventory.release("late-1") is True
    with pytest.raises(inventory.ReservationReleased):
        inventory.reserve("late-1", [(product.id, 4)])
    assert stock_of(product) == 10, "a retry after the release reserved again"
    assert Reservation.objects.get(pk="late-1").status == "released"


def test_out_of_stock_takes_nothing_and_the_id_stays_free(product):
    other = Product.objects.create(slug="cup", name="Cup", price_cents=500)
    Stock.objects.create(product=other, quantity=1)
    with pytest.raises(inventory.OutOfStock):
        inventory.reserve("oos-1", [(product.id, 2), (other.id, 5)])
    assert (stock_of(product), stock_of(other)) == (10, 1)
    # "No" is a definite answer: nothing was recorded, so a new try of that id may succeed.
    inventory.reserve("oos-1", [(product.id, 2)])
    assert stock_of(product) == 8


# ------------------------------------------------------------------------------------- races


@pytest.fixture
def on_postgresql():
    if connection.vendor == "postgresql":
        return
    message = ("the race checks need PostgreSQL (SQLite runs one writer at a time): start it "
               "(`python3 -m workshop doctor` says how) and check again")
    if os.environ.get("CI") or os.environ.get("EXERCISE_NEEDS_POSTGRES"):
        pytest.fail(message)
    pytest.skip(message)


def race(n: int, call, hold_stock_of) -> list:
    """Run `call()` in n threads at once while this test holds the stock row's lock, so every
    one of them is inside its transaction (or waiting at a lock) before any can commit; then
    let go. Returns each thread's result or exception."""
    results: list = [None] * n

    def worker(i):
        try:
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test looks at what each one got
            results[i] = exc
        finally:
            connections.close_all()

    locker = connections.create_connection("default")
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    try:
        locker.set_autocommit(False)
        with locker.cursor() as cursor:
            cursor.execute("SELECT quantity FROM inventory_stock WHERE product_id = %s FOR UPDATE",
                           [hold_stock_of.id])
            for thread in threads:
                thread.start()
            # Wait on the condition, not a clock: every thread either finished or waits on a lock.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                # (pg_stat_activity is read once per transaction unless told to read again)
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND wait_event_type = 'Lock'")
                waiting = cursor.fetchone()[0]
                if waiting + sum(not t.is_alive() for t in threads) >= n:
                    break
                time.sleep(0.01)
        locker.rollback()
    finally:
        locker.close()
        for thread in threads:
            thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)  # a race needs real commits
def test_racing_retries_of_one_reserve_take_the_units_once(product, on_postgresql):
    results = race(4, lambda: inventory.reserve("race-1", [(product.id, 3)]), product)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, f"a retry that lost the race failed instead of answering: {errors[0]!r}"
    assert stock_of(product) == 7, f"{10 - stock_of(product)} units taken for one reservation"
    assert {r.reservation_id for r in results} == {"race-1"}


@pytest.mark.django_db(transaction=True)
def test_racing_releases_of_one_reservation_give_back_once(product, on_postgresql):
    inventory.reserve("race-2", [(product.id, 3)])
    results = race(4, lambda: inventory.release("race-2"), product)
    assert sorted(results, key=repr) == [False, False, False, True], results
    assert stock_of(product) == 10, f"{stock_of(product) - 10} units given back twice"
