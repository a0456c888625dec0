"""kill -9 of the orders service, at random moments, while customers keep ordering through the
front door (all orders traffic on the new service): no unit of stock is lost or doubled.

In this stage the orders service still shares the monolith's database, and placing an order is
ONE transaction (reserve, charge, record): a process killed anywhere in it leaves nothing behind,
because the database rolls back what was not committed. This test proves it, so that stage 02,
which loses that transaction, has something to measure itself against: after the kills,
stock + confirmed units = initial, exactly.

On SQLite by default; with FAULTS_POSTGRES_URL (postgres://user@host:port) on a throwaway
PostgreSQL database (tox -e strangler-faults-postgres). POSIX only (kill -9).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from workshop import stages, supervisor

STAGE = stages.load("01-strangler")
INITIAL, KILLS, BUYERS = 300, 5, 4
CUSTOMERS = [("alice", "wonderland"), ("bob", "builder"), ("carol", "christmas")]

pytestmark = pytest.mark.skipif(os.name == "nt", reason="kill -9 is POSIX")


def eventually(check, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)


@contextlib.contextmanager
def database(tmp):
    server = os.environ.get("FAULTS_POSTGRES_URL")
    if not server:
        yield f"sqlite:///{(tmp / 'db.sqlite3').as_posix()}"
        return
    import psycopg

    name = f"faults01_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scalar(url: str, query: str, *params):
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)) as db:
            return db.execute(query, params).fetchone()[0]
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute(query.replace("?", "%s"), params).fetchone()[0]


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage01-faults")
    table = tmp / "routes.toml"
    # Every customer's orders on the new service: it is the process this test kills.
    table.write_text(re.sub(r"(?m)^weight\s*=\s*\d+", "weight = 100",
                            (STAGE.path / "facade" / "routes.toml").read_text()))
    log = tmp / "stage.log"
    with database(tmp) as url:
        env = {"DATABASE_URL": url, "FACADE_ROUTES": str(table),
               "PAYMENT_TIMEOUT_SECONDS": "0.2", "EMAIL_FILE_PATH": str(tmp / "mail")}
        with log.open("w") as sink, supervisor.running(STAGE, free_ports=True, env=env, log=sink,
                                                       log_path=log) as run:
            yield run, url, log


def restart(run, log, process: str) -> None:
    """Start the process again exactly as the supervisor did; wait until it is healthy."""
    proc, ports = STAGE.process(process), run.ports
    with log.open("ab") as sink:
        child = subprocess.Popen(
            [arg.format(python=sys.executable, port=ports[process], ports=ports)
             for arg in proc.command],
            cwd=STAGE.path / proc.cwd, env={**run.env, **proc.env}, stdout=sink,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    run.children[process] = child  # the supervisor stops it with the rest

    def healthy():
        assert child.poll() is None, f"{process} died on restart; see {log}"
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(run.url(process, proc.health), timeout=2).status_code == 200
        return False

    eventually(healthy, f"{process} healthy after its restart")


def test_killing_the_orders_service_at_random_loses_and_doubles_nothing(stage):
    run, url, log = stage
    front = run.front_door_url
    tokens = [httpx.post(f"{front}/api/v1/auth/token/", json={"username": u, "password": p},
                         timeout=30).json()["token"] for u, p in [*CUSTOMERS, ("admin",
                                                                                "workshop-admin")]]
    product = scalar(url, "SELECT id FROM catalog_product WHERE slug = 'french-press'")
    resp = httpx.put(f"{front}/api/v1/stock/{product}/", json={"quantity": INITIAL}, timeout=30,
                     headers={"Authorization": f"Token {tokens[-1]}"})
    assert resp.status_code == 200, resp.text
    first_order = scalar(url, "SELECT COALESCE(MAX(id), 0) FROM orders_order")
    answers: list[tuple[int, int | None]] = []
    stop = threading.Event()

    def buyer(number: int):
        with httpx.Client(base_url=front, timeout=60) as client:
            while not stop.is_set():
                try:
                    resp = client.post("/api/v1/orders/", headers={
                        "Authorization": f"Token {tokens[number % len(CUSTOMERS)]}"}, json={
                        "lines": [{"product_id": product, "quantity": 1 + number % 3}],
                        "card_number": "4242424242424242"})
                    answers.append((resp.status_code, resp.json().get("id")
                                    if resp.status_code == 201 else None))
                except httpx.HTTPError:
                    answers.append((0, None))
                if answers[-1][0] in (0, 502):
                    stop.wait(0.05)  # the service is down: a customer does not hammer it

    def reached() -> int:  # orders the service answered (not the front door's 502)
        return sum(status not in (0, 502) for status, _ in answers)

    buyers = [threading.Thread(target=buyer, args=(n,), daemon=True) for n in range(BUYERS)]
    for thread in buyers:
        thread.start()
    rng = random.Random()
    try:
        for kill in range(KILLS):
            seen = reached() + rng.randint(1, 6)
            eventually(lambda seen=seen: reached() >= seen, f"orders flowing before kill {kill}")
            threading.Event().wait(rng.uniform(0, 0.05))  # somewhere inside the next order
            run.children["orders"].kill()
            run.children["orders"].wait(30)
            restart(run, log, "orders")
        seen = reached() + 5
        eventually(lambda: reached() >= seen, "orders flowing after the last restart")
    finally:
        stop.set()
        for thread in buyers:
            thread.join(90)

    stock = scalar(url, "SELECT quantity FROM inventory_stock WHERE product_id = ?", product)
    confirmed = scalar(
        url, "SELECT COALESCE(SUM(l.quantity), 0) FROM orders_orderline l JOIN orders_order o "
        "ON o.id = l.order_id WHERE o.status = 'confirmed' AND l.product_id = ? AND o.id > ?",
        product, first_order)
    counts: dict[int, int] = {}
    for status, _ in answers:
        counts[status] = counts.get(status, 0) + 1
    print(f"\n{len(answers)} orders placed ({counts}), {KILLS} kills; {confirmed} units "
          f"confirmed, {stock} in stock of {INITIAL}")
    assert stock + confirmed == INITIAL, "units lost or doubled"
    for status, order_id in answers:
        if status == 201:
            assert scalar(url, "SELECT status FROM orders_order WHERE id = ?", order_id) == \
                "confirmed"
