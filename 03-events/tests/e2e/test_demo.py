"""Stage 03 running on SQLite, and the instructor's demo replayed (README "Instructor's demo"):

1. the worker stopped: orders are accepted (202) and wait, `pending`; `manage.py sagas` lists them;
2. the worker started again: they finish;
3. Redis killed mid-flow (it keeps nothing: every queued message is lost) and started again
   empty: the orders accepted meanwhile still finish, because their messages are in the outbox and
   the sweeper sends an unanswered step again;
4. the event stream's reader stopped while orders flow: it catches up from its group's offset,
   and a replay from 0 into an emptied read model ends in the same sales.
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


def stream_groups(shop) -> dict:
    import redis

    r = redis.Redis(port=shop.ports["broker"], decode_responses=True)
    if not r.exists("stream:orders"):
        return {}
    groups = {}
    for g in r.xinfo_groups("stream:orders"):
        behind = len(r.xrange("stream:orders", min=f"({g['last-delivered-id']}", count=10_000))
        groups[g["name"]] = {"pending": g["pending"], "lag": behind}
    return groups


def sold_in_the_stream(shop) -> dict[int, int]:
    """Units per product of the orders the stream says are confirmed (their latest event)."""
    import json

    import redis

    r = redis.Redis(port=shop.ports["broker"], decode_responses=True)
    latest = {}
    for _id, fields in r.xrange("stream:orders"):
        if fields["type"] == "order.changed":
            payload = json.loads(fields["envelope"])["payload"]
            latest[payload["order_id"]] = payload
    units: dict[int, int] = {}
    for order in latest.values():
        if order["status"] == "confirmed":
            for line in order["lines"]:
                units[line["product_id"]] = units.get(line["product_id"], 0) + line["quantity"]
    return units


def sold_in_the_read_model(shop) -> dict[int, int]:
    store = shop.orders_db.with_suffix(".order_history.sales.sqlite3")
    if not store.exists():
        return {}
    with contextlib.closing(sqlite3.connect(store, timeout=30)) as db:
        return {p: u for p, u in db.execute(
            "SELECT product_id, units FROM sales WHERE grp = 'sales-by-product' AND units != 0")}


def stream_command(shop, *args) -> str:
    env = {**shop.env, "DATABASE_URL": f"sqlite:///{shop.orders_db}",
           "REDIS_URL": f"redis://127.0.0.1:{shop.ports['broker']}/0"}
    return subprocess.run([sys.executable, "manage.py", "stream", *args], env=env, check=True,
                          cwd=STAGE.path / "services" / "orders", capture_output=True,
                          text=True).stdout


def test_the_stream_reader_catches_up_after_a_stop_and_a_replay_rebuilds_from_the_stream(shop):
    """The relay appends every order event to `stream:orders`; the `orders-stream` process (a
    member of group sales-by-product) is stopped while orders flow, then catches up from its
    group's offset. A replay from 0 into an emptied read model then rebuilds it from what the
    stream still holds: after the broker restart above, only the events since (the read model
    had counted the earlier ones; the embedded Redis kept nothing on disk)."""
    auth = {"Authorization": f"Token {token(shop)}"}
    # (After a broker restart the reader makes its group again on its next turn.)
    eventually(lambda: stream_groups(shop).get("sales-by-product") == {"pending": 0, "lag": 0},
               "the reader's group, caught up")
    before = sold_in_the_read_model(shop)
    shop.kill("orders-stream", stay_down=True)
    ids = place(shop, auth, n=2)
    eventually(lambda: statuses(shop, auth, ids) == {"confirmed"}, "confirmed", timeout=60)
    eventually(lambda: stream_groups(shop)["sales-by-product"]["lag"] >= 6,
               "the events waiting in the stream for the stopped group")
    shop.restart_process("orders-stream")
    eventually(lambda: stream_groups(shop)["sales-by-product"] == {"pending": 0, "lag": 0},
               "the group caught up", timeout=60)
    assert sold_in_the_read_model(shop) == {**before, 1: before.get(1, 0) + 2}
    out = stream_command(shop, "replay", "--group", "sales-by-product", "--from", "0",
                         "--rebuild")
    assert "into an emptied read model" in out
    expected = sold_in_the_stream(shop)
    assert expected.get(1, 0) >= 2, expected
    eventually(lambda: sold_in_the_read_model(shop) == expected
               and stream_groups(shop)["sales-by-product"] == {"pending": 0, "lag": 0},
               "the replay rebuilt the read model from the stream", timeout=60)
