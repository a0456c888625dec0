"""Routing end to end: prefix, methods, override header, canary weight and stickiness."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import start_facade, table

ROUTES = """
[[routes]]
prefix = "/api/v1/orders"
methods = ["GET"]
old = "monolith"
new = "orders"
weight = 100

[[routes]]
prefix = "/api/v1/orders/archive"
old = "monolith"

[[routes]]
prefix = "/canary"
old = "monolith"
new = "orders"
weight = 30

[[routes]]
prefix = "/half"
old = "monolith"
new = "orders"
weight = 50

[[routes]]
prefix = "/coin"
old = "monolith"
new = "orders"
weight = 50
sticky = false

[[routes]]
prefix = "/"
old = "monolith"
new = "orders"
"""


@pytest.fixture(scope="module")
def facade(upstreams, tmp_path_factory):
    urls = {name: u.url for name, u in upstreams.items()}
    proc = start_facade(tmp_path_factory.mktemp("routing"), table(urls, ROUTES))
    try:
        yield proc
    finally:
        proc.close()


def served_by(facade, path, method="GET", **headers) -> str:
    response = facade.client.request(method, path, headers=headers)
    assert response.status_code == 200, response.text
    # The facade's header and the upstream's own word agree.
    assert response.headers["x-upstream"] == response.headers["x-served-by"]
    return response.headers["x-upstream"]


def test_routes_by_longest_prefix(facade):
    assert served_by(facade, "/api/v1/orders") == "orders"
    assert served_by(facade, "/api/v1/orders/17?expand=items") == "orders"
    assert served_by(facade, "/api/v1/orders/archive/17") == "monolith"
    assert served_by(facade, "/api/v1/products/") == "monolith"
    assert served_by(facade, "/") == "monolith"
    # whole segments only: /api/v1/orders-export is not under /api/v1/orders
    assert served_by(facade, "/api/v1/orders-export") == "monolith"


def test_routes_by_method(facade):
    assert served_by(facade, "/api/v1/orders/17", "GET") == "orders"
    # POST is not in the route's methods: it falls through to the catch-all
    assert served_by(facade, "/api/v1/orders/17", "POST") == "monolith"
    assert served_by(facade, "/api/v1/orders/17", "DELETE") == "monolith"
    # HEAD is GET without the body: it goes where GET goes
    assert served_by(facade, "/api/v1/orders/17", "HEAD") == "orders"


def test_the_path_and_query_reach_the_upstream_unchanged(facade):
    body = facade.client.get("/api/v1/orders/caf%C3%A9%2Fx?q=a%20b&q=c").json()
    assert body["path"] == "/api/v1/orders/caf%C3%A9%2Fx"
    assert body["query"] == "q=a%20b&q=c"


def test_the_override_header_forces_a_side(facade):
    assert served_by(facade, "/api/v1/orders/1", **{"X-Route-To": "old"}) == "monolith"
    assert served_by(facade, "/api/v1/orders/1", **{"X-Route-To": "monolith"}) == "monolith"
    assert served_by(facade, "/", **{"X-Route-To": "new"}) == "orders"
    assert served_by(facade, "/", **{"X-Route-To": "orders"}) == "orders"
    # the header is for the facade only: the upstream does not see it
    body = facade.client.get("/", headers={"X-Route-To": "new"}).json()
    assert "x-route-to" not in {k.lower() for k, _ in body["headers"]}


def test_a_bad_override_is_refused_with_a_clear_message(facade):
    response = facade.client.get("/api/v1/orders/archive/1", headers={"X-Route-To": "new"})
    assert response.status_code == 400
    assert response.json()["code"] == "bad_route_override"
    assert response.headers["x-served-by"] == "facade"
    assert "names no side of route '/api/v1/orders/archive'" in response.json()["detail"]
    response = facade.client.get("/", headers={"X-Route-To": "payments"})
    assert response.status_code == 400


def test_the_weight_sends_that_share_of_customers_to_new(facade):
    sides = Counter(
        served_by(facade, "/canary/1", Authorization=f"Bearer customer-{i}") for i in range(2000)
    )
    share = sides["orders"] / 2000
    assert 0.26 <= share <= 0.34, sides


def test_a_customer_always_lands_on_the_same_side(facade):
    # by Authorization header
    for customer in ("alice", "bob", "carol", "dave"):
        token = f"Bearer {customer}"
        sides = {served_by(facade, "/half/x", Authorization=token) for _ in range(50)}
        assert len(sides) == 1, (customer, sides)
    # by session cookie when there is no Authorization header
    for session in ("s-1", "s-2", "s-3"):
        sides = {served_by(facade, "/half/x", Cookie=f"csrftoken=t; sessionid={session}")
                 for _ in range(50)}
        assert len(sides) == 1, (session, sides)
    # by client IP when there is neither (all of these come from 127.0.0.1)
    assert len({served_by(facade, "/half/x") for _ in range(50)}) == 1


def test_different_customers_are_spread_over_both_sides(facade):
    sides = Counter(served_by(facade, "/half/x", Authorization=f"Bearer c{i}") for i in range(300))
    assert sides["orders"] > 100 and sides["monolith"] > 100, sides
    sessions = Counter(served_by(facade, "/half/x", Cookie=f"sessionid=s{i}") for i in range(300))
    assert sessions["orders"] > 100 and sessions["monolith"] > 100, sessions


def test_without_stickiness_one_customer_sees_both_sides(facade):
    sides = Counter(served_by(facade, "/coin/x", Authorization="Bearer alice") for _ in range(200))
    assert sides["orders"] > 50 and sides["monolith"] > 50, sides
