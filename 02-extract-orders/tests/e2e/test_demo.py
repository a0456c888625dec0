"""Stage 02 running, and the instructor's demo replayed: dependencies frozen, the shop degrades
gracefully, deadlines fire, and no stock is lost (the sweeper gives it back, no command needed).

Starts the stage with the workshop's own supervisor (the code `python3 -m workshop up` runs) on
free ports. "Freezing" a process is SIGSTOP: it keeps its sockets open and answers nothing, the
worst kind of failure for a caller without a deadline. POSIX only (Windows has no SIGSTOP).
"""

import os
import re
import signal
import socket
import time
from contextlib import contextmanager

import httpx
import pytest

from workshop import stages, supervisor

STAGE = stages.load("02-extract-orders")
pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGSTOP/SIGCONT are POSIX signals")


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage02")
    env = {
        "DATABASE_URL": f"sqlite:///{(tmp / 'db.sqlite3').as_posix()}",
        "ORDERS_DATABASE_URL": f"sqlite:///{(tmp / 'orders.sqlite3').as_posix()}",
        "PAYMENT_TIMEOUT_SECONDS": "0.2",
        "EMAIL_FILE_PATH": str(tmp / "mail"),
    }
    with (
        (tmp / "stage.log").open("w") as log,
        supervisor.running(STAGE, free_ports=True, env=env, log=log,
                           log_path=tmp / "stage.log") as run,
    ):
        yield run


@contextmanager
def frozen(run, process: str):
    """SIGSTOP one process of the running stage (what the README's `kill -STOP` does)."""
    pid = run.children[process].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@contextmanager
def browser_as(run, username="alice", password="wonderland"):
    with httpx.Client(base_url=run.front_door_url, timeout=30, follow_redirects=True) as client:
        form = client.get("/accounts/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        resp = client.post("/accounts/login/", data={"username": username, "password": password,
                                                     "csrfmiddlewaretoken": csrf},
                           headers={"Referer": str(form.url)})
        assert resp.url.path == "/orders/", resp.url
        yield client


def api_token(run, username="alice", password="wonderland") -> str:
    resp = httpx.post(f"{run.front_door_url}/api/v1/auth/token/", timeout=60,
                      json={"username": username, "password": password})
    return resp.json()["token"]


def test_the_history_shows_the_orders_copied_from_the_monolith(stage):
    with browser_as(stage) as browser:
        page = browser.get("/orders/")
    assert page.headers["X-Served-By"] == "monolith"  # rendered by the monolith...
    assert len(re.findall(r'href="/orders/\d+/"', page.text)) >= 2  # ...from the orders service
    assert "cancelled" in page.text and "confirmed" in page.text


def test_a_frozen_orders_service_costs_the_history_page_one_deadline(stage):
    with browser_as(stage) as browser:
        with frozen(stage, "orders-grpc"):
            started = time.monotonic()
            page = browser.get("/orders/")
            waited = time.monotonic() - started
            home = browser.get("/")
        assert page.status_code == 200 and "unavailable right now" in page.text
        assert waited < 5, f"the page waited {waited:.1f} s: no deadline?"
        assert home.status_code == 200  # the rest of the shop never noticed
        assert "unavailable right now" not in browser.get("/orders/").text  # and it is back


def test_a_frozen_inventory_is_a_504_and_no_unit_is_lost(stage):
    token = api_token(stage)
    api = httpx.Client(base_url=stage.front_door_url, timeout=30,
                       headers={"Authorization": f"Token {token}"})
    product = api.get("/api/v1/products/", params={"search": "french press"}).json()[
        "results"][0]
    assert api.get("/api/v1/orders/").status_code == 200  # the token is now known (cached)
    body = {"lines": [{"product_id": product["id"], "quantity": 2}],
            "card_number": "4242424242424242"}
    with frozen(stage, "monolith-grpc"):
        resp = api.post("/api/v1/orders/", json=body)
    assert resp.status_code == 504 and resp.json()["code"] == "inventory_timeout", resp.text
    # The release could not get through while the inventory was frozen: it was recorded, and
    # the orders service's sweeper delivers it once the inventory answers again.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = api.get(f"/api/v1/products/{product['id']}/").json()["stock"]
        if now == product["stock"]:
            break
        time.sleep(0.2)
    assert now == product["stock"], "units were lost"
    api.close()


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


def test_head_answers_headers_only_through_the_facade_and_from_each_service(stage):
    # Straight to the services (waitress + Django): nothing follows a HEAD answer's headers,
    # so the next answer on the connection starts right there.
    for name in ("monolith", "orders"):
        data = head_then_get(stage.ports[name], "/healthz")
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), (name, data[:300])
        assert rest.startswith(b"HTTP/1.1 200"), (name, "a body after a HEAD answer", rest[:300])
    auth = {"Authorization": f"Token {api_token(stage)}"}
    with httpx.Client(base_url=stage.front_door_url, timeout=30, headers=auth) as front:
        for path in ("/", "/api/v1/products/", "/api/v1/orders/", "/orders/"):
            get = front.get(path)
            for _ in range(20):
                head = front.head(path)
                assert head.status_code == get.status_code, (path, head.text)
                assert head.content == b""
                assert head.headers.get("content-length") == get.headers.get("content-length")
                assert head.headers["X-Served-By"] == get.headers["X-Served-By"]



def test_the_reservation_api_is_not_on_the_front_door_even_for_staff(stage):
    """Reserve/Release are internal (gRPC); their JSON twin exists for the benchmark only. A
    staff token must not give back the stock of a confirmed legacy order."""
    staff = {"Authorization": f"Token {api_token(stage, 'admin', 'workshop-admin')}"}
    with httpx.Client(base_url=stage.front_door_url, timeout=30, headers=staff) as api:
        before = [p["stock"] for p in api.get("/api/v1/products/").json()["results"]]
        for order in (1, 2, 3, 4):
            resp = api.post(f"/api/v1/reservations/legacy-order-{order}/release/")
            assert resp.status_code == 404, resp.text
        resp = api.post("/api/v1/reservations/", json={"reservation_id": "x", "lines": [
            {"product_id": 1, "quantity": 1}]})
        assert resp.status_code == 404, resp.text
        assert [p["stock"] for p in api.get("/api/v1/products/").json()["results"]] == before
