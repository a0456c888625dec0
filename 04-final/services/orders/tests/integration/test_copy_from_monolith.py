"""The data migration survives being killed mid-copy: re-run, nothing lost, nothing doubled.

The command runs as a real process (as an operator runs it), copying from a monolith database
built by the monolith's own migrations into a database of this service's own, and is killed
with SIGKILL (no chance to clean up) in the middle of its batches. The target is SQLite, or,
when the suite runs on PostgreSQL (extract-orders-postgres), a throwaway PostgreSQL database.
"""

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import dj_database_url
import pytest

from ..monolith import Monolith

SERVICE = Path(__file__).resolve().parents[2]
ORDERS = 1200


def fill(monolith: Monolith, count: int) -> None:
    """`count` legacy orders with two lines and a payment each, straight into its tables."""
    with contextlib.closing(sqlite3.connect(monolith.db)) as db, db:
        (customer,), = db.execute("SELECT id FROM auth_user WHERE username = 'alice'")
        db.executemany(
            "INSERT INTO orders_order (id, customer_id, status, reason, total_cents, created_at)"
            " VALUES (?, ?, ?, '', ?, datetime('2025-01-01', ? || ' minutes'))",
            [(i, customer, "confirmed" if i % 3 else "cancelled", 100 * i, str(i))
             for i in range(1, count + 1)])
        db.executemany(
            "INSERT INTO orders_orderline (order_id, product_id, product_name, unit_price_cents,"
            " quantity) VALUES (?, ?, ?, ?, ?)",
            [(i, 1 + (i + k) % 20, f"Product {k}", 50 * i, 1 + k) for i in range(1, count + 1)
             for k in range(2)])
        db.executemany(
            "INSERT INTO payments_payment (order_id, amount_cents, status, charge_ref, refund_ref,"
            " card_last4) VALUES (?, ?, 'charged', ?, '', '4242')",
            [(i, 100 * i, f"ch_{i:012d}") for i in range(1, count + 1)])


@pytest.fixture(scope="module")
def built_source(tmp_path_factory):
    """The monolith's database, built once by its own migrations and seed (seconds of work)."""
    monolith = Monolith(tmp_path_factory.mktemp("source"))
    monolith.manage("migrate", "--noinput", "-v", "0")
    monolith.manage("seed")
    monolith.sql("DELETE FROM payments_payment")
    monolith.sql("DELETE FROM orders_orderline")
    monolith.sql("DELETE FROM orders_order")
    fill(monolith, ORDERS)
    return monolith


@pytest.fixture
def source(tmp_path, built_source):
    """A copy of it per test: the tests change the source (a row changed on the way)."""
    monolith = Monolith(tmp_path / "source")
    monolith.db.parent.mkdir()
    shutil.copyfile(built_source.db, monolith.db)
    return monolith


@pytest.fixture
def target_url(tmp_path):
    """This service's database for the copy: SQLite, or a fresh PostgreSQL database."""
    given = os.environ.get("DATABASE_URL", "")
    if not given.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'orders.sqlite3'}"
        return
    import psycopg

    name = f"orders_copy_{uuid.uuid4().hex[:8]}"
    server = given.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def env(tmp_path, source, target_url):
    env = {**os.environ, "DATABASE_URL": target_url,
           "MONOLITH_DATABASE_URL": f"sqlite:///{source.db}",
           "DJANGO_SETTINGS_MODULE": "orders_service.settings_test", "PYTHONUNBUFFERED": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=SERVICE, env=env,
                   check=True)
    return env


def copy(env, *args, check=True):
    result = subprocess.run([sys.executable, "manage.py", "copy_orders_from_monolith", *args],
                            cwd=SERVICE, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def target(env, query, commit=False):
    url = env["DATABASE_URL"]
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db, db:
            return db.execute(query).fetchall()
    import psycopg

    config = dj_database_url.parse(url)
    with psycopg.connect(dbname=config["NAME"], user=config["USER"] or None,
                         host=config["HOST"] or None, port=config["PORT"] or None) as db:
        cursor = db.execute(query)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def test_killed_mid_copy_a_rerun_finishes_with_every_row_once(env):
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "copy_orders_from_monolith", "--batch-size", "50",
         "--pause", "0.05"],
        cwd=SERVICE, env=env, stdout=subprocess.PIPE, text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("copied ") and int(line.split()[1].split("/")[0]) >= 300:
                proc.send_signal(signal.SIGKILL)  # no cleanup, no goodbye: a crash
                break
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the copy finished before it could be killed"
    (copied,), = target(env, "SELECT count(*) FROM orders_order")
    assert 300 <= copied < ORDERS, copied

    rerun = copy(env)
    assert "resuming after order" in rerun.stdout
    assert "verified: every row copied once, unchanged" in rerun.stdout
    assert target(env, "SELECT count(*), count(DISTINCT id) FROM orders_order") == [(ORDERS,
                                                                                     ORDERS)]
    assert target(env, "SELECT count(*) FROM orders_orderline") == [(2 * ORDERS,)]
    assert target(env, "SELECT count(*) FROM payments_payment") == [(ORDERS,)]
    assert target(env, "SELECT reservation_id FROM orders_order WHERE id = 7") == [
        ("legacy-order-7",)]


def test_a_second_run_copies_nothing_and_still_verifies(env):
    copy(env, "--batch-size", "500")
    again = copy(env)
    assert not [line for line in again.stdout.splitlines() if line.startswith("copied ")]
    assert "verified" in again.stdout
    assert target(env, "SELECT count(*) FROM orders_order") == [(ORDERS,)]


def test_the_next_order_placed_here_gets_a_new_id(env):
    """Copied rows keep their ids; on PostgreSQL the id sequence must be moved past them, or
    the first order placed after the copy collides with a copied one."""
    copy(env, "--batch-size", "500")
    created = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from orders.models import Order; "
         "print(Order.objects.create(customer_id=1, reservation_id='after-copy').id)"],
        cwd=SERVICE, env=env, capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    assert int(created.stdout.split()[-1]) > ORDERS  # its last line; Django may say more


def test_verification_catches_a_row_changed_on_the_way(env):
    copy(env)
    target(env, "UPDATE orders_orderline SET quantity = quantity + 1 WHERE id = 42")
    result = copy(env, "--verify-only", check=False)
    assert result.returncode == 1
    assert "order lines" in result.stdout and "MISMATCH" in result.stdout
    assert "verification FAILED" in result.stderr
