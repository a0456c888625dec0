"""Stage 03 running (the supervisor `python3 -m workshop up` runs), with faults injected into real
processes: SIGKILL, SIGSTOP. POSIX only. Every wait here waits on a condition, never on a clock.

Each test module sets STAGE_ENV (short step timeouts, so a test waits seconds, not minutes). The
broker is always the stage's own embedded Redis (REDIS_URL is cleared), so that killing it is a
real Redis restart that loses every message it held. On SQLite by default; with
FAULTS_POSTGRES_URL (postgres://user@host:port) each database is a throwaway PostgreSQL database,
dropped afterwards (tox -e events-faults).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from workshop import stages, supervisor

STAGE = stages.load("03-events")
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL/SIGSTOP are POSIX signals")


def eventually(check, what: str, timeout: float = 120.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)


class Database:
    def __init__(self, url: str):
        self.url = url

    def scalar(self, query: str, *params):
        if self.url.startswith("sqlite:///"):
            path = self.url.removeprefix("sqlite:///")
            with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
                return db.execute(query, params).fetchone()[0]
        import psycopg

        with psycopg.connect(self.url) as db:
            return db.execute(query.replace("?", "%s"), params).fetchone()[0]


@contextlib.contextmanager
def databases(tmp: Path):
    server = os.environ.get("FAULTS_POSTGRES_URL")
    if not server:
        yield Database(f"sqlite:///{(tmp / 'db.sqlite3').as_posix()}"), \
            Database(f"sqlite:///{(tmp / 'orders.sqlite3').as_posix()}")
        return
    import psycopg

    names = [f"faults_{role}_{uuid.uuid4().hex[:8]}" for role in ("monolith", "orders")]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(Database(f"{server}/{name}") for name in names)
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Shop:
    """The running stage, its two databases, and the instructor's hands (kill, freeze)."""

    run: supervisor.RunningStage
    monolith: Database
    orders: Database
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def front(self) -> str:
        return self.run.front_door_url

    def token(self, username: str, password: str) -> str:
        if username not in self.tokens:
            resp = httpx.post(f"{self.front}/api/v1/auth/token/", timeout=30,
                              json={"username": username, "password": password})
            self.tokens[username] = resp.json()["token"]
        return self.tokens[username]

    def product_id(self, slug: str) -> int:
        return self.monolith.scalar("SELECT id FROM catalog_product WHERE slug = ?", slug)

    def set_stock(self, product_id: int, quantity: int) -> None:
        staff = self.token("admin", "workshop-admin")
        resp = httpx.put(f"{self.front}/api/v1/stock/{product_id}/", json={"quantity": quantity},
                         headers={"Authorization": f"Token {staff}"}, timeout=30)
        assert resp.status_code == 200, resp.text

    def stock(self, product_id: int) -> int:
        return self.monolith.scalar("SELECT quantity FROM inventory_stock WHERE product_id = ?",
                                    product_id)

    def last_order_id(self) -> int:
        return self.orders.scalar("SELECT COALESCE(MAX(id), 0) FROM orders_order")

    def confirmed_units(self, product_id: int, after_order: int) -> int:
        return self.orders.scalar(
            "SELECT COALESCE(SUM(l.quantity), 0) FROM orders_orderline l JOIN orders_order o "
            "ON o.id = l.order_id WHERE o.status = 'confirmed' AND l.product_id = ? AND o.id > ?",
            product_id, after_order)

    def order_status(self, order_id: int) -> str | None:
        return self.orders.scalar("SELECT MAX(status) FROM orders_order WHERE id = ?", order_id)

    def settled(self) -> bool:
        """Nothing left half-done: no pending order, reservation or owed release."""
        return (self.pending() == 0 and self.orders.scalar(
                    "SELECT count(*) FROM orders_strandedreservation") == 0
                and self.monolith.scalar(
                    "SELECT count(*) FROM inventory_reservation WHERE status = 'pending'") == 0)

    def pending(self) -> int:
        return self.orders.scalar("SELECT count(*) FROM orders_order WHERE status = 'pending'")

    def place(self, client: httpx.Client, token: str, product_id: int, quantity: int, key: str,
              card: str = None):
        return client.post("/api/v1/orders/", headers={
            "Authorization": f"Token {token}", "Idempotency-Key": key},
            json={"lines": [{"product_id": product_id, "quantity": quantity}],
                  "card_number": card or GOOD_CARD})

    # -- the instructor's hands --
    def pid(self, process: str) -> int:
        return self.run.children[process].pid

    @contextlib.contextmanager
    def frozen(self, process: str):
        os.kill(self.pid(process), signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.pid(process), signal.SIGCONT)

    def kill(self, process: str) -> None:
        child = self.run.children[process]
        child.kill()  # SIGKILL: no clean-up, no last words
        child.wait(30)

    def restart(self, process: str) -> None:
        """Start the process again exactly as the supervisor did, and wait until it is healthy."""
        proc, ports = STAGE.process(process), self.run.ports
        blank = _Blank(self.run.env)
        env = {**self.run.env, **{key: value.format(ports=ports, env=blank)
                                  for key, value in proc.env.items()}}
        with self.log.open("ab") as log:
            child = subprocess.Popen(
                [arg.format(python=sys.executable, port=ports[process], ports=ports)
                 for arg in proc.command],
                cwd=STAGE.path / proc.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        self.run.children[process] = child  # the supervisor stops it with the rest
        url = self.run.url(process, proc.health)

        def healthy():
            assert child.poll() is None, f"{process} died on restart; see {self.log}"
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(url, timeout=2).status_code == 200
            return False

        eventually(healthy, f"{process} healthy after its restart")


class _Blank(dict):
    def __missing__(self, key):
        return ""


@pytest.fixture(scope="module")
def shop(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage03-faults")
    log = tmp / "stage.log"
    with databases(tmp) as (monolith, orders):
        env = {"DATABASE_URL": monolith.url, "ORDERS_DATABASE_URL": orders.url,
               "EMAIL_FILE_PATH": str(tmp / "mail"), "REDIS_URL": "",
               **request.module.STAGE_ENV}
        # restart=True: each process's restart policy applies, as under `workshop up` (a
        # worker that stalls exits and is started again); a test's own kills stay down until
        # it restarts them.
        with log.open("w") as sink, supervisor.running(STAGE, free_ports=True, env=env, log=sink,
                                                       log_path=log, restart=True) as run:
            yield Shop(run, monolith, orders, log)


@dataclass
class Answer:
    key: str
    token: str
    quantity: int
    status: int
    order_id: int | None
    code: str = ""

    @property
    def reached_the_service(self) -> bool:
        return self.status not in (0, 502)


def customers_shopping(shop: Shop, product_id: int, stop: threading.Event, answers: list,
                       buyers: int, pause: float = 0.0,
                       declined_every: int = 0, limit: int = 0) -> list[threading.Thread]:
    """`buyers` threads, each placing orders through the front door until `stop`, every order
    with its own Idempotency-Key; each answer is kept (status, and the order id of a 202).
    Every `declined_every`-th order pays with a declined card (its saga compensates); each buyer
    waits `pause` s between orders; all stop once `limit` answers are in (0: on `stop` only)."""
    tokens = [shop.token(name, password) for name, password in
              [("alice", "wonderland"), ("bob", "builder"), ("carol", "christmas")]]

    def buyer(number: int):
        placed = 0
        with httpx.Client(base_url=shop.front, timeout=60) as client:
            while not stop.is_set() and not (limit and len(answers) >= limit):
                token, quantity = tokens[number % len(tokens)], 1 + number % 3
                key = f"fault-{uuid.uuid4().hex}"
                placed += 1
                card = DECLINED_CARD if declined_every and placed % declined_every == 0 \
                    else GOOD_CARD
                try:
                    resp = shop.place(client, token, product_id, quantity, key, card)
                    status, body = resp.status_code, resp.json()
                except httpx.HTTPError:
                    status, body = 0, {}  # no answer at all
                answers.append(Answer(key, token, quantity, status, body.get("id")
                                      if status == 202 else None,
                                      body.get("code") or str(body.get("detail", ""))[:40]))
                if status in (0, 502):
                    stop.wait(0.05)
                elif pause:
                    stop.wait(pause)  # the service is down: a customer does not hammer it

    threads = [threading.Thread(target=buyer, args=(n,), daemon=True) for n in range(buyers)]
    for thread in threads:
        thread.start()
    return threads


def summary(answers: list[Answer]) -> str:
    counts: dict[str, int] = {}
    for answer in answers:
        label = f"{answer.status or 'no answer'} {answer.code}".strip()
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"{label}: {n}" for label, n in sorted(counts.items()))


def reached(answers: list[Answer]) -> int:
    return sum(answer.reached_the_service for answer in answers)
