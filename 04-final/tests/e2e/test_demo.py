"""Stage 03 running on SQLite, and the instructor's demo replayed (README "Instructor's demo"):

1. the worker stopped: orders are accepted (202) and wait, `pending`; `manage.py sagas` lists them;
2. the worker started again: they finish;
3. Redis killed mid-flow (it keeps nothing: every queued message is lost) and started again
   empty: the orders accepted meanwhile still finish, because their messages are in the outbox and
   the sweeper sends an unanswered step again.
"""

import contextlib
import os
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from workshop import stages, supervisor

STAGE = stages.load("03-events")
GOOD_CARD = "4242424242424242"
pytestmark = pytest.mark.skipif(os.name == "nt", reason="uses POSIX signals through the supervisor")


def eventually(check, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)
    return result


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage03-demo")
    env = {"DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
           "ORDERS_DATABASE_URL": f"sqlite:///{tmp / 'orders.sqlite3'}",
           "EMAIL_FILE_PATH": str(tmp / "mail"), "REDIS_URL": "",
           "SAGA_STEP_SECONDS": "2", "SWEEP_SECONDS": "0.5"}
    with (tmp / "stage.log").open("w") as log, supervisor.running(
            STAGE, free_ports=True, env=env, log=log, restart=True) as run:
        run.orders_db = tmp / "orders.sqlite3"
        yield run


def token(shop) -> str:
    resp = httpx.post(f"{shop.front_door_url}/api/v1/auth/token/", timeout=30,
                      json={"username": "alice", "password": "wonderland"})
    return resp.json()["token"]


def place(shop, auth, n=3) -> list[int]:
    ids = []
    with httpx.Client(base_url=shop.front_door_url, headers=auth, timeout=30) as client:
        for _ in range(n):
            resp = client.post("/api/v1/orders/", json={
                "lines": [{"product_id": 1, "quantity": 1}], "card_number": GOOD_CARD})
            assert resp.status_code == 202 and resp.json()["status"] == "pending", resp.text
            assert resp.headers["Location"] == f"/api/v1/orders/{resp.json()['id']}/"
            ids.append(resp.json()["id"])
    return ids


def statuses(shop, auth, ids) -> set[str]:
    with httpx.Client(base_url=shop.front_door_url, headers=auth, timeout=30) as client:
        return {client.get(f"/api/v1/orders/{i}/").json()["status"] for i in ids}


def unsent(shop) -> int:
    with contextlib.closing(sqlite3.connect(shop.orders_db, timeout=30)) as db:
        return db.execute("SELECT count(*) FROM orders_outboxmessage "
                          "WHERE sent_at IS NULL").fetchone()[0]


def sagas(shop) -> str:
    env = {**shop.env, "DATABASE_URL": f"sqlite:///{shop.orders_db}"}
    return subprocess.run([sys.executable, "manage.py", "sagas"], env=env, check=True,
                          cwd=STAGE.path / "services" / "orders", capture_output=True,
                          text=True).stdout


def test_with_the_worker_stopped_orders_wait_pending_and_finish_when_it_is_back(shop):
    auth = {"Authorization": f"Token {token(shop)}"}
    shop.kill("orders-worker", stay_down=True)
    ids = place(shop, auth)
    eventually(lambda: unsent(shop) == 0, "the relay published them")  # on the broker, unread
    assert statuses(shop, auth, ids) == {"pending"}
    listing = sagas(shop)
    assert "3 saga(s) not finished" in listing and "reserving" in listing, listing
    shop.restart_process("orders-worker")
    eventually(lambda: statuses(shop, auth, ids) == {"confirmed"}, "confirmed", timeout=30)
    assert "0 saga(s) not finished" in sagas(shop)


def test_redis_killed_mid_flow_loses_messages_not_orders(shop):
    auth = {"Authorization": f"Token {token(shop)}"}
    shop.kill("orders-worker", stay_down=True)
    ids = place(shop, auth)
    eventually(lambda: unsent(shop) == 0, "the relay published them")
    shop.kill("broker", stay_down=True)  # the queued messages die with it
    shop.restart_process("broker")        # empty
    shop.restart_process("orders-worker")
    try:
        eventually(lambda: statuses(shop, auth, ids) == {"confirmed"},
                   "confirmed after the loss", timeout=60)
    except AssertionError:
        print(statuses(shop, auth, ids), sagas(shop))
        raise
