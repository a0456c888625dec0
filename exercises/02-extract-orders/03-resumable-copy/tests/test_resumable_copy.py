"""Exercise 02.3: killed mid-copy, the data migration resumes: nothing lost, nothing doubled.

What the lesson guarantees, one check each:
- killed (SIGKILL, no chance to clean up) in the middle of its batches, a re-run says where it
  resumes and ends with every row copied once, and the checkpoint's count right;
- killed at the worst moment, while it records its checkpoint, the same holds: the batch and
  its checkpoint landed together, or neither did;
- a second run copies nothing and still verifies;
- a lost checkpoint (a restored backup, an operator's DELETE) costs time, not correctness: the
  re-run meets rows that exist and copies none of them twice.

The command runs as a real process (as an operator runs it), copying from a monolith database
built by the monolith's own migrations into a database of this service's own.
"""

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ..monolith import Monolith
from .prepared import cached, prepared_monolith

SERVICE = Path(__file__).resolve().parents[2]
ORDERS = 1200


@pytest.fixture(autouse=True)
def _settings():
    """The stage's autouse fixture starts the monolith's gRPC server: the copy needs only its
    database file, so this exercise does without."""
    yield


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


@pytest.fixture(scope="session")
def filled(tmp_path_factory) -> Monolith:
    """The monolith's database with ORDERS legacy orders, made once for the session."""
    monolith = prepared_monolith(tmp_path_factory.mktemp("filled"))
    monolith.sql("DELETE FROM payments_payment")
    monolith.sql("DELETE FROM orders_orderline")
    monolith.sql("DELETE FROM orders_order")
    fill(monolith, ORDERS)
    return monolith


@pytest.fixture
def source(tmp_path, filled) -> Monolith:
    """A copy of it for one test (the copy only reads it, but a test may not share)."""
    monolith = Monolith(tmp_path / "source")
    monolith.db.parent.mkdir()
    shutil.copyfile(filled.db, monolith.db)
    return monolith


@pytest.fixture(scope="session")
def migrated(tmp_path_factory) -> Path:
    """This service's database, migrated once for the session; each test gets a copy."""
    db = tmp_path_factory.mktemp("orders") / "orders.sqlite3"

    def migrate(path: Path) -> None:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}",
               "DJANGO_SETTINGS_MODULE": "orders_service.settings_test"}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=SERVICE,
                       env=env, check=True)

    cached("orders-migrated", db, migrate)
    return db


@pytest.fixture
def env(tmp_path, source, migrated):
    shutil.copyfile(migrated, tmp_path / "orders.sqlite3")
    return {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'orders.sqlite3'}",
            "MONOLITH_DATABASE_URL": f"sqlite:///{source.db}",
            "DJANGO_SETTINGS_MODULE": "orders_service.settings_test", "PYTHONUNBUFFERED": "1"}


def copy(env, *args, check=True):
    result = subprocess.run([sys.executable, "manage.py", "copy_orders_from_monolith", *args],
                            cwd=SERVICE, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def target(env, query):
    with contextlib.closing(sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///"))) as db:
        return db.execute(query).fetchall()


def assert_every_row_once(env):
    assert target(env, "SELECT count(*), count(DISTINCT id) FROM orders_order") == [(ORDERS,
                                                                                     ORDERS)]
    assert target(env, "SELECT count(*) FROM orders_orderline") == [(2 * ORDERS,)]
    assert target(env, "SELECT count(*) FROM payments_payment") == [(ORDERS,)]
    (copied,), = target(env, "SELECT copied FROM monolith_import_checkpoint")
    assert copied == ORDERS, (
        f"the checkpoint says {copied} orders were copied, there are {ORDERS}: some batch was "
        "copied (and counted) twice, or counted without landing")


# The process dies (os._exit: no cleanup, no rollback code runs) on the 3rd Checkpoint.save():
# the first creates the checkpoint, the next ones record batches.
CRASH_WHILE_CHECKPOINTING = """
import os, sys
import django
sys.path.insert(0, os.getcwd())
django.setup()
from django.core.management import call_command
from monolith_import.models import Checkpoint

saves = []
real_save = Checkpoint.save


def save(self, *args, **kwargs):
    saves.append(1)
    if len(saves) == 3:
        sys.stdout.flush()
        os._exit(9)
    return real_save(self, *args, **kwargs)


Checkpoint.save = save
call_command("copy_orders_from_monolith", "--batch-size", "100")
"""


# The quick checks first: `exercise verify` stops a wrong solution at its first failure.


def test_killed_while_recording_its_checkpoint_a_rerun_still_counts_right(env):
    crashed = subprocess.run([sys.executable, "-c", CRASH_WHILE_CHECKPOINTING], cwd=SERVICE,
                             env=env, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 9, crashed.stdout + crashed.stderr
    rerun = copy(env)
    assert "verified: every row copied once, unchanged" in rerun.stdout
    assert_every_row_once(env)


def test_a_lost_checkpoint_costs_time_not_correctness(env):
    copy(env, "--batch-size", "500")
    target_db = env["DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(target_db)) as db, db:
        db.execute("DELETE FROM monolith_import_checkpoint")  # a restored backup, an operator
    again = copy(env, "--batch-size", "500", check=False)
    assert again.returncode == 0, (
        "the copy died on rows that were already there:\n" + again.stderr[-1500:])
    assert "verified: every row copied once, unchanged" in again.stdout
    assert_every_row_once(env)


def test_killed_mid_copy_a_rerun_finishes_and_a_second_run_copies_nothing(env):
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
    assert_every_row_once(env)
    assert target(env, "SELECT reservation_id FROM orders_order WHERE id = 7") == [
        ("legacy-order-7",)]

    # A second run after the copy finished copies nothing and still verifies.
    again = copy(env)
    assert not [line for line in again.stdout.splitlines() if line.startswith("copied ")]
    assert "verified: every row copied once, unchanged" in again.stdout
    assert_every_row_once(env)
