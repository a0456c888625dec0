"""Racing duplicates across both processes: one Idempotency-Key, one order.

In this stage the monolith and the orders service both place orders, in one shared database.
A client retrying through the facade may land on either side (a weight change, a sticky
cookie lost), so duplicates of one request race in two processes at once. Here 16 requests with
the same key hit the monolith and the orders service directly, half each, at the same moment,
on SQLite and on PostgreSQL: exactly one order, the stock down once, every answer that order (or
409 `idempotency_key_in_use` while it was running).
"""

import os
import threading
import uuid

import httpx
import pytest

from workshop import stages, supervisor

STAGE = stages.load("01-strangler")
RACERS = 16
POSTGRES = os.environ.get("WORKSHOP_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'db.sqlite3').as_posix()}"
        return
    import psycopg

    name = f"race01_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL does not answer at {POSTGRES} ({exc}): start it to run this test"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{POSTGRES}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def both_sides(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "PAYMENT_TIMEOUT_SECONDS": "0.2",
           "EMAIL_FILE_PATH": str(tmp_path / "mail")}
    with (tmp_path / "stage.log").open("w") as log, supervisor.running(
            STAGE, free_ports=True, env=env, log=log, log_path=tmp_path / "stage.log") as run:
        yield [f"http://127.0.0.1:{run.ports[side]}" for side in ("monolith", "orders")]


def test_duplicates_racing_in_two_processes_make_one_order(both_sides):
    monolith, orders = both_sides
    # Generous timeouts: a login hashes a password, slow on a loaded 2-core box.
    token = httpx.post(f"{monolith}/api/v1/auth/token/", timeout=60,
                       json={"username": "alice", "password": "wonderland"}).json()["token"]
    headers = {"Authorization": f"Token {token}", "Idempotency-Key": f"race-{uuid.uuid4()}"}
    product = httpx.get(f"{monolith}/api/v1/products/", timeout=60).json()["results"][0]
    body = {"lines": [{"product_id": product["id"], "quantity": 1}],
            "card_number": "4242424242424242"}
    start = threading.Barrier(RACERS)
    answers = []

    def buy(base):
        with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
            start.wait()
            resp = client.post("/api/v1/orders/", json=body)
            answers.append((resp.status_code, resp.json(), resp.headers["X-Served-By"]))

    threads = [threading.Thread(target=buy, args=(both_sides[i % 2],)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    assert len(answers) == RACERS, answers
    assert {code for code, _, _ in answers} <= {201, 409}, answers
    assert {side for _, _, side in answers} == {"monolith", "orders"}
    ids = {b["id"] for code, b, _ in answers if code == 201}
    assert len(ids) == 1, answers
    assert all(b["code"] == "idempotency_key_in_use" for code, b, _ in answers if code == 409)
    with httpx.Client(base_url=orders, headers=headers, timeout=60) as client:
        mine = client.get("/api/v1/orders/").json()
        assert mine["count"] == 1 and mine["results"][0]["id"] in ids, mine
        stock = httpx.get(f"{monolith}/api/v1/products/{product['id']}/",
                          timeout=60).json()["stock"]
        assert stock == product["stock"] - 1
        retry = client.post("/api/v1/orders/", json=body)
        assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
