"""Provider verification: the orders service, running for real, honours the storefront's pact.

The pact (../../../../pacts/storefront-orders.json) is what the monolith's storefront relies on.
Here the service runs as a real server process (waitress, its own database, the real monolith
gRPC behind it); pact replays every interaction against it, after a state handler has set up
each provider state. A second test starts a copy of the service with one deliberate breaking
change and proves the verification then fails: a pact that cannot fail protects nothing.
"""

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pact import Verifier

from ..monolith import free_port, stop_process

SERVICE = Path(__file__).resolve().parents[2]
PACTS = SERVICE.parents[1] / "pacts"


class Provider:
    def __init__(self, code: Path, workdir: Path, monolith):
        self.db = workdir / "orders.sqlite3"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.code = code
        self.env = {**os.environ, "DATABASE_URL": f"sqlite:///{self.db}",
                    "MONOLITH_GRPC": monolith.target, "DJANGO_SECRET_KEY": "tests-only",
                    "DJANGO_SETTINGS_MODULE": "orders_service.settings",
                    "PAYMENT_TIMEOUT_SECONDS": "0.05", "CUSTOMER_CACHE_SECONDS": "0",
                    "EMAIL_FILE_PATH": str(workdir / "mail"),
                    # a copy of the service elsewhere still reads this stage's message contracts
                    "CONTRACTS_DIR": str(SERVICE.parent.parent / "contracts" / "events")}
        self.log = workdir / "provider.log"

    def __enter__(self):
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=self.code,
                       env=self.env, check=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{self.port}",
                 "orders_service.wsgi:application"],
                cwd=self.code, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise AssertionError(f"provider not ready:\n{self.log.read_text()}")

    def __exit__(self, *exc):
        stop_process(self.proc)

    def sql(self, query, *params):
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as db, db:
            db.execute(query, params)


def state_handler(provider, monolith):
    """Provider states, by the names the pact uses. The parameter names are pact's own."""

    def handle(state, action, parameters):
        if action != "setup":
            return
        if state == "alice is a customer with token pact-alice-token":
            monolith.token_for("alice", "pact-alice-token")
        elif state.startswith("product 1 has "):
            monolith.set_stock(1, int(state.split()[3]))
        elif state == "alice has a confirmed order 1":
            for table in ("payments_payment", "orders_orderline", "orders_order"):
                provider.sql(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
            provider.sql(
                "INSERT INTO orders_order (id, customer_id, status, reason, total_cents, "
                "created_at, reservation_id) VALUES (1, ?, 'confirmed', '', 1800, "
                "'2026-11-25 10:00:00', 'pact-order-1')", monolith.user_id("alice"))
            provider.sql("INSERT INTO orders_orderline (order_id, product_id, product_name, "
                         "unit_price_cents, quantity) VALUES (1, 1, 'Espresso cup', 900, 2)")
            provider.sql("INSERT INTO payments_payment (order_id, amount_cents, status, "
                         "charge_ref, refund_ref, card_last4) VALUES "
                         "(1, 1800, 'charged', 'ch_pact', '', '4242')")
        else:
            raise ValueError(f"unknown provider state {state!r}")

    return handle


def verify(provider, monolith):
    verifier = (
        Verifier("orders", host="127.0.0.1")
        .add_transport(url=provider.url)
        .add_source(PACTS)
        .state_handler(state_handler(provider, monolith), teardown=True)
    )
    verifier.verify()
    return verifier


def test_the_orders_service_honours_the_storefronts_pact(tmp_path, monolith):
    assert list(PACTS.glob("*.json")), f"no pact in {PACTS}: run the monolith's contract tests"
    with Provider(SERVICE, tmp_path, monolith) as provider:
        verify(provider, monolith)


def test_a_breaking_change_in_the_provider_fails_verification(tmp_path, monolith, capfd):
    """A copy of the service whose place-order answers 200 instead of 202: a client that
    checks for "accepted" would break, and the pact says so."""
    code = tmp_path / "orders"
    shutil.copytree(SERVICE, code, ignore=shutil.ignore_patterns("var", "tests", "__pycache__"))
    api = code / "orders" / "api.py"
    original = api.read_text()
    broken = original.replace("status=status.HTTP_202_ACCEPTED", "status=status.HTTP_200_OK")
    assert broken != original, "the breaking edit no longer applies: update this test"
    api.write_text(broken)
    with Provider(code, tmp_path, monolith) as provider, pytest.raises(RuntimeError):
        verify(provider, monolith)
    report = re.sub(r"\x1b\[[0-9;]*m", "", capfd.readouterr().out)  # no colours
    # Failed for the right reason: the status of placing an order, and nothing else.
    assert "expected 202 but was 200" in report, report[-3000:]
    assert "There were 1 pact failures" in report, report[-3000:]
