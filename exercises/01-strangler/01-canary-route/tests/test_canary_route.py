"""Exercise 01.1: the catalog's reads move to a new service, 30 % of customers at a time.

Runs the real facade with your routes.toml in front of two stand-in upstreams.
"""

from pathlib import Path

import httpx

from facade.table import load_table

ROUTES = Path(__file__).resolve().parents[2] / "routes.toml"


def test_the_table_has_a_catalog_canary():
    table = load_table(ROUTES)
    route = table.match("/api/v1/products/3/", "GET")
    assert route.prefix == "/api/v1/products", "no route for /api/v1/products yet"
    assert (route.old, route.new) == ("monolith", "catalog")
    assert route.sticky
    assert table.upstreams["catalog"].startswith("http://127.0.0.1:")


def test_writes_stay_on_the_monolith():
    table = load_table(ROUTES)
    assert table.match("/api/v1/products/3/", "PUT").old == "monolith"
    assert table.match("/api/v1/products/3/", "PUT").new is None


def test_thirty_percent_of_customers_reach_the_catalog_and_stay_there(
    facade_factory, spawn_upstream
):
    monolith, catalog = spawn_upstream("monolith"), spawn_upstream("catalog")
    text = ROUTES.read_text()
    for name, upstream in (("monolith", monolith), ("catalog", catalog)):
        text = text.replace(
            [line for line in text.splitlines() if line.startswith(f"{name} =")][0],
            f'{name} = "{upstream.url}"',
        )
    facade = facade_factory(text)
    sides = {}
    with httpx.Client(base_url=facade.url, timeout=10) as client:
        for i in range(300):
            resp = client.get("/api/v1/products/3/", headers={"Authorization": f"Token c{i}"})
            sides[i] = resp.headers["X-Upstream"]
        share = sum(side == "catalog" for side in sides.values()) / len(sides)
        assert 0.22 <= share <= 0.38, f"{share:.0%} of customers reached the catalog"
        for i in range(20):
            resp = client.get("/api/v1/products/3/", headers={"Authorization": f"Token c{i}"})
            assert resp.headers["X-Upstream"] == sides[i], "a customer changed sides"
