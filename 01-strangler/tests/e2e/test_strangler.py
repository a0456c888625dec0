"""The whole stage, running: facade + monolith + orders service, flipped and broken on purpose.

Starts the stage with the workshop's own supervisor (the code `python3 -m workshop up` runs), on
free ports, with a copy of the routing table that the tests edit while everything runs.
"""

import re
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from workshop import stages, supervisor

STAGE = stages.load("01-strangler")
TABLE = STAGE.path / "facade" / "routes.toml"


def set_weight(table: Path, weight: int) -> None:
    text = re.sub(r"(?m)^weight\s*=\s*\d+", f"weight = {weight}", table.read_text())
    tmp = table.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(table)  # atomic, like an editor's save


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage01")
    table = tmp / "routes.toml"
    shutil.copy(TABLE, table)
    env = {
        "DATABASE_URL": f"sqlite:///{(tmp / 'db.sqlite3').as_posix()}",
        "FACADE_ROUTES": str(table),
        "PAYMENT_TIMEOUT_SECONDS": "0.2",
        "EMAIL_FILE_PATH": str(tmp / "mail"),
        "FACADE_RELOAD_INTERVAL": "0.2",
    }
    with (
        (tmp / "stage.log").open("w") as log,
        supervisor.running(
            STAGE, free_ports=True, env=env, log=log, log_path=tmp / "stage.log"
        ) as run,
    ):
        yield run, table


@pytest.fixture
def front(stage):
    run, _ = stage
    with httpx.Client(base_url=run.front_door_url, timeout=10) as client:
        yield client


@pytest.fixture
def table(stage):
    _, path = stage
    set_weight(path, 0)
    yield path
    set_weight(path, 0)


def wait_for_version(front, version, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if front.get("/-/routes").json()["version"] >= version:
            return
        time.sleep(0.1)
    raise AssertionError(f"the facade never loaded table version {version}")


def served_by(front, customer: str, path="/api/v1/orders/") -> str:
    resp = front.get(path, headers={"Authorization": f"Token {customer}"})
    return resp.headers["X-Served-By"]


def token(front, user="alice", password="wonderland"):
    resp = front.post("/api/v1/auth/token/", json={"username": user, "password": password})
    return {"Authorization": f"Token {resp.json()['token']}"}


def test_weight_zero_keeps_orders_on_the_monolith_and_the_header_overrides(front, table):
    assert {served_by(front, f"c{i}") for i in range(20)} == {"monolith"}
    forced = front.get("/api/v1/orders/", headers={**token(front), "X-Route-To": "new"})
    assert forced.status_code == 200 and forced.headers["X-Served-By"] == "orders"


def test_flipping_the_table_live_moves_customers_without_a_restart(front, table):
    version = front.get("/-/routes").json()["version"]
    set_weight(table, 100)
    wait_for_version(front, version + 1)
    assert {served_by(front, f"c{i}") for i in range(20)} == {"orders"}
    pages = front.get("/orders/", headers=token(front), follow_redirects=False)
    assert pages.headers["X-Served-By"] == "orders"


def test_half_the_customers_move_and_each_stays_put(front, table):
    version = front.get("/-/routes").json()["version"]
    set_weight(table, 50)
    wait_for_version(front, version + 1)
    sides = {f"c{i}": served_by(front, f"c{i}") for i in range(200)}
    share = sum(side == "orders" for side in sides.values()) / len(sides)
    assert 0.35 <= share <= 0.65, share
    assert all(served_by(front, c) == side for c, side in list(sides.items())[:30])


def test_an_order_placed_through_either_side_is_the_same_order(front, table):
    """One shared database: whichever side serves a request, the data is the same."""
    auth = token(front)
    product = front.get("/api/v1/products/?search=mug").json()["results"][0]
    body = {
        "lines": [{"product_id": product["id"], "quantity": 1}],
        "card_number": "4242424242424242",
    }
    placed = front.post("/api/v1/orders/", json=body, headers={**auth, "X-Route-To": "new"})
    assert placed.status_code == 201 and placed.headers["X-Served-By"] == "orders"
    url = f"/api/v1/orders/{placed.json()['id']}/"
    old = front.get(url, headers={**auth, "X-Route-To": "old"})
    new = front.get(url, headers={**auth, "X-Route-To": "new"})
    assert old.headers["X-Served-By"] == "monolith" and new.headers["X-Served-By"] == "orders"
    assert old.content == new.content


def head_then_get(port: int, path: str) -> bytes:
    """HEAD then GET on one keep-alive connection, straight to a service: the raw bytes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                     f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_the_demo_load_loop_shows_who_answered(stage):
    """`python3 -m workshop load 01-strangler`, the command of the instructor's demo.

    Before the kill test below: with the orders service dead and the routing table's restore
    not yet reloaded on a busy machine, every answer was the facade's 502 (a CI failure)."""
    import os
    import subprocess
    import sys

    from workshop import ROOT

    run, _ = stage
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "workshop",
            "load",
            "01-strangler",
            "--url",
            run.front_door_url,
            "--seconds",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "WORKSHOP_NO_VENV": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert re.search(r"(monolith|orders) \d{3}:\s+\d+", out.stdout), out.stdout


def test_head_answers_headers_only_through_the_facade_and_from_each_service(stage, front):
    # Before the kill below: both services must be up.
    run, _ = stage
    auth = token(front)
    # Straight to the services (waitress + Django): nothing follows a HEAD answer's headers,
    # so the next answer on the connection starts right there.
    for name in ("monolith", "orders"):
        data = head_then_get(run.ports[name], "/healthz")
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), (name, data[:300])
        assert rest.startswith(b"HTTP/1.1 200"), (name, "a body after a HEAD answer", rest[:300])
    # Through the facade, on both sides of the moving routes: 20 HEADs each, all answered.
    for path, sides in (("/", [None]), ("/api/v1/products/", [None]),
                        ("/api/v1/orders/", ["old", "new"]), ("/orders/", ["old", "new"])):
        for side in sides:
            headers = {**auth, **({"X-Route-To": side} if side else {})}
            get = front.get(path, headers=headers)
            for _ in range(20):
                head = front.head(path, headers=headers)
                assert head.status_code == get.status_code, (path, side, head.text)
                assert head.content == b""
                assert head.headers.get("content-length") == get.headers.get("content-length")
                assert head.headers["X-Served-By"] == get.headers["X-Served-By"]


def test_orders_service_killed_mid_traffic_answers_502_at_once_and_the_rest_keeps_working(
    stage, front, table
):
    run, _ = stage
    version = front.get("/-/routes").json()["version"]
    set_weight(table, 100)
    wait_for_version(front, version + 1)

    stop_at = time.monotonic() + 1.5

    def hammer(_):
        out = []
        with httpx.Client(base_url=run.front_door_url, timeout=10) as client:
            i = 0
            while time.monotonic() < stop_at:
                i += 1
                started = time.monotonic()
                try:
                    resp = client.get("/api/v1/orders/", headers={"Authorization": f"Token k{i}"})
                except httpx.RemoteProtocolError:
                    # Killed after its headers were sent: a proxy cannot turn that into a 502,
                    # it can only cut the answer short (never pass on a silently short body).
                    out.append(("cut short", time.monotonic() - started, None))
                    continue
                out.append((resp.status_code, time.monotonic() - started, resp))
        return out

    with ThreadPoolExecutor(4) as pool:
        traffic = pool.map(hammer, range(4))
        time.sleep(0.3)
        supervisor.stop(run.children["orders"], grace=0)  # kill it while requests fly
        results = [r for batch in traffic for r in batch]

    cut_short = [r for r in results if r[0] == "cut short"]
    assert len(cut_short) <= 4, "only requests in flight at the kill may be cut short"
    failures = [
        (code, took, resp) for code, took, resp in results if code != "cut short" and code >= 500
    ]
    assert failures, "the orders service was killed but no request noticed"
    for code, took, resp in failures:
        assert code == 502 and resp.json()["code"] == "upstream_unavailable", resp.text
        assert resp.json()["upstream"] == "orders"
        assert took < 1.0, f"a 502 took {took:.2f} s: it must not wait for a timeout"
    after = front.get("/api/v1/orders/", headers={"Authorization": "Token k1"})
    assert after.status_code == 502 and after.elapsed.total_seconds() < 1
    # Fault isolation: everything the monolith serves keeps answering.
    assert front.get("/api/v1/products/").status_code == 200
    assert front.get("/").status_code == 200
    assert (
        front.get(
            "/api/v1/orders/", headers={"Authorization": "Token k1", "X-Route-To": "old"}
        ).status_code
        == 401
    )
