"""The deadline budget, front-door side: every upstream request says how long it may take.

The contract (docs/api-contract.md): the facade stamps X-Request-Budget-Ms = min(the route's
budget, a smaller one the client sent), and waits budget + margin (>= 1 s) for the answer, so
the callee's own deadline answer always arrives before the facade gives up.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import FACADE_DIR, table

ROUTES = """
[[routes]]
prefix = "/api/v1/orders"
old = "orders"
budget_ms = 3000

[[routes]]
prefix = "/"
old = "monolith"
"""


@pytest.fixture
def facade(upstreams, facade_factory):
    urls = {name: u.url for name, u in upstreams.items()}
    return facade_factory(table(urls, ROUTES), FACADE_BUDGET_MARGIN_MS="1000")


def budget_seen(facade, path: str, **headers: str) -> list[str]:
    body = facade.client.get(path, headers=headers).json()
    return [v for k, v in body["headers"] if k.lower() == "x-request-budget-ms"]


def test_every_upstream_request_carries_the_budget(facade):
    assert budget_seen(facade, "/cart/") == ["8000"]  # the facade's default
    assert budget_seen(facade, "/api/v1/orders/") == ["3000"]  # the route's own


def test_a_client_that_asks_for_less_gets_less_never_more(facade):
    assert budget_seen(facade, "/api/v1/orders/", **{"X-Request-Budget-Ms": "1500"}) == ["1500"]
    assert budget_seen(facade, "/api/v1/orders/", **{"X-Request-Budget-Ms": "99999"}) == ["3000"]
    # not a number of milliseconds: ignored, the route's budget applies (sent once, not twice)
    assert budget_seen(facade, "/api/v1/orders/", **{"X-Request-Budget-Ms": "2s"}) == ["3000"]
    assert budget_seen(facade, "/api/v1/orders/", **{"X-Request-Budget-Ms": "-5"}) == ["3000"]


def test_an_upstream_slower_than_budget_and_margin_gets_the_facades_504(facade):
    started = time.monotonic()
    response = facade.client.get(
        "/api/v1/orders/1?delay=30", headers={"X-Request-Budget-Ms": "200"}
    )
    took = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert response.headers["x-served-by"] == "facade"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == "upstream_timeout" and body["detail"], body
    assert 1.15 < took < 12, took  # not before 0.2 s of budget + 1 s of margin; not at 30 s


def test_an_upstream_within_budget_and_margin_is_never_cut(facade):
    # 0.9 s is far past the 0.2 s budget but inside budget + margin: the answer is the upstream's.
    response = facade.client.get(
        "/api/v1/orders/1?delay=0.9", headers={"X-Request-Budget-Ms": "200"}
    )
    assert response.status_code == 200
    assert response.headers["x-served-by"] == "orders"


def test_a_margin_under_one_second_is_refused_at_startup(tmp_path):
    routes = tmp_path / "routes.toml"
    routes.write_text(
        '[upstreams]\nm = "http://127.0.0.1:9"\n[[routes]]\nprefix = "/"\nold = "m"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "facade", "--port", "0", "--routes", str(routes)],
        cwd=FACADE_DIR, env={"FACADE_BUDGET_MARGIN_MS": "500", "PATH": ""},
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "FACADE_BUDGET_MARGIN_MS must be at least 1000" in result.stderr
