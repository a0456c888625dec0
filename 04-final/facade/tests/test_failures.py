"""Partial failure: a slow upstream answers 504, a dead one 502 at once, the others keep going."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx

from conftest import free_port, table, wait_until

ROUTES = """
[[routes]]
prefix = "/api/v1/orders"
old = "monolith"
new = "orders"
weight = 100

[[routes]]
prefix = "/"
old = "monolith"
"""


def test_a_slow_upstream_answers_504_json(upstreams, facade_factory):
    urls = {name: u.url for name, u in upstreams.items()}
    facade = facade_factory(table(urls, ROUTES), FACADE_BUDGET_MS="300",
                            FACADE_BUDGET_MARGIN_MS="1000")
    started = time.monotonic()
    response = facade.client.get("/api/v1/orders/1?delay=30", headers={"X-Request-ID": "slow-1"})
    took = time.monotonic() - started
    assert response.status_code == 504
    assert response.headers["x-served-by"] == "facade"
    body = response.json()
    assert body["code"] == "upstream_timeout" and "orders" in body["detail"], body
    assert (body["upstream"], body["request_id"]) == ("orders", "slow-1")
    # never before budget 0.3 s + margin 1 s; and long before the upstream's 30 s (the upper
    # bound is loose on purpose: a loaded CI box delays the answer, not the rule)
    assert 1.25 < took < 12, took
    assert facade.metric(
        "facade_requests_total", route="/api/v1/orders", upstream="orders", status="504"
    ) == 1
    # a fast request on the same route still works
    assert facade.client.get("/api/v1/orders/1?delay=0.1").status_code == 200


def test_an_upstream_that_is_down_answers_502_json_at_once(upstreams, facade_factory):
    urls = {"monolith": upstreams["monolith"].url, "orders": f"http://127.0.0.1:{free_port()}"}
    facade = facade_factory(table(urls, ROUTES))
    started = time.monotonic()
    response = facade.client.get("/api/v1/orders/1")
    took = time.monotonic() - started
    assert response.status_code == 502
    assert response.headers["x-served-by"] == "facade"
    body = response.json()
    assert body["code"] == "upstream_unavailable" and body["upstream"] == "orders"
    assert "orders" in body["detail"] and body["request_id"] == response.headers["x-request-id"]
    assert took < 1, took
    assert "502 upstream_unavailable: upstream orders" in facade.log()
    # the other upstream is unaffected
    assert facade.client.get("/api/v1/products/").status_code == 200


def test_an_upstream_killed_mid_traffic(upstreams, spawn_upstream, facade_factory):
    orders = spawn_upstream("orders")
    urls = {"monolith": upstreams["monolith"].url, "orders": orders.url}
    facade = facade_factory(table(urls, ROUTES))
    results: list[tuple[str, int, float, bool]] = []  # path, status, seconds, after the kill
    killed = threading.Event()
    stop = threading.Event()

    def load(path: str) -> None:
        with httpx.Client(base_url=facade.url, timeout=10) as client:
            while not stop.is_set():
                started = time.monotonic()
                after = killed.is_set()
                status = client.get(path).status_code
                results.append((path, status, time.monotonic() - started, after))

    # one request is in flight (the upstream is still "thinking") when the process dies
    in_flight: dict[str, httpx.Response | float] = {}

    def slow() -> None:
        started = time.monotonic()
        in_flight["response"] = httpx.get(f"{facade.url}/api/v1/orders/1?delay=5", timeout=10)
        in_flight["seconds"] = time.monotonic() - started

    workers = [threading.Thread(target=load, args=(p,)) for p in ("/api/v1/orders/1", "/cart/")]
    workers.append(threading.Thread(target=slow))
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: len(results) > 50, 10, "traffic before the kill")
        orders.kill()
        killed.set()
        kill_count = len(results)
        wait_until(lambda: len(results) > kill_count + 100, 10, "traffic after the kill")
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=10)

    after = [(path, status, seconds) for path, status, seconds, late in results if late]
    by_path = Counter((path, status) for path, status, _ in after)
    assert by_path[("/api/v1/orders/1", 502)] > 10, by_path
    assert by_path[("/cart/", 200)] > 10, by_path
    # after the kill: orders only 502 (fast), the monolith's routes only 200
    assert {s for p, s, _ in after if p == "/cart/"} == {200}, by_path
    assert {s for p, s, _ in after if p == "/api/v1/orders/1"} == {502}, by_path
    assert max(sec for p, _, sec in after if p == "/api/v1/orders/1") < 1
    # the request in flight got a 502 right away, not after its 5 s or the 10 s timeout
    response = in_flight["response"]
    assert isinstance(response, httpx.Response) and response.status_code == 502
    assert response.json()["code"] == "upstream_unavailable"
    assert in_flight["seconds"] < 3, in_flight
    wait_until(lambda: facade.metric("facade_requests_total", route="/api/v1/orders",
                                     upstream="orders", status="502") > 10, 2, "502s counted")
