"""Live reload: edit the table while the facade runs; a bad edit is rejected, the old one stays."""

from __future__ import annotations

import pytest

from conftest import table, wait_until


def routes(weight: object, extra: str = "") -> str:
    return f"""
[[routes]]
prefix = "/api/v1/orders"
old = "monolith"
new = "orders"
weight = {weight}
{extra}
[[routes]]
prefix = "/"
old = "monolith"
"""


@pytest.fixture
def urls(upstreams):
    return {name: u.url for name, u in upstreams.items()}


def side(facade) -> str:
    return facade.client.get("/api/v1/orders/1").headers["x-upstream"]


def test_an_edit_changes_routing_without_a_restart(urls, facade_factory):
    facade = facade_factory(table(urls, routes(0)))
    pid = facade.proc.pid
    assert side(facade) == "monolith"

    facade.rewrite(table(urls, routes(100)))
    wait_until(lambda: facade.routes()["version"] == 2, 5, "version 2 of the table")
    assert side(facade) == "orders"
    shown = facade.routes()
    assert shown["routes"][0]["weight"] == 100 and shown["last_error"] is None
    assert facade.metric("facade_table_reloads_total", result="ok") == 2
    assert facade.metric("facade_route_weight_percent", route="/api/v1/orders") == 100
    assert "reloaded: version 2: /api/v1/orders -> monolith 0% / orders 100%" in facade.log()

    # and back, still the same process
    facade.rewrite(table(urls, routes(0)))
    wait_until(lambda: facade.routes()["version"] == 3, 5, "version 3 of the table")
    assert side(facade) == "monolith"
    assert facade.proc.pid == pid and facade.proc.poll() is None


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (lambda urls: table(urls, routes(100)) + "\n[[routes]\n", "not valid TOML"),
        (lambda urls: table(urls, routes(100)).replace('new = "orders"', 'new = "ordrs"'),
         "unknown upstream 'ordrs' in 'new'"),
        (lambda urls: table(urls, routes(150)), "weight 150 is out of range 0..100"),
    ],
    ids=["syntax-error", "unknown-upstream", "weight-150"],
)
def test_a_bad_edit_is_rejected_and_the_old_table_stays(urls, facade_factory, broken, problem):
    facade = facade_factory(table(urls, routes(0)))
    assert side(facade) == "monolith"

    facade.rewrite(broken(urls))
    wait_until(
        lambda: facade.metric("facade_table_reloads_total", result="failed") == 1,
        5, "the failed reload",
    )
    # the clear log line: which file, what is wrong, what happens now
    line = next(x for x in facade.log().splitlines() if " ERROR facade: " in x)
    assert f"routing table {facade.routes_path} rejected: " in line
    assert problem in line
    assert "keeping version 1 in force" in line
    # the old table is still in force, and /-/routes says why the edit did not take
    shown = facade.routes()
    assert shown["version"] == 1
    assert problem in shown["last_error"]["problem"]
    assert side(facade) == "monolith"
    assert facade.metric("facade_table_reloads_total", result="ok") == 1

    # fixing the file brings the new table in
    facade.rewrite(table(urls, routes(100)))
    wait_until(lambda: facade.routes()["version"] == 2, 5, "the fixed table")
    assert side(facade) == "orders"
    assert facade.routes()["last_error"] is None


def test_a_bad_table_at_startup_stops_the_facade(urls, facade_factory):
    with pytest.raises(AssertionError) as info:
        facade_factory(table(urls, routes(150)))
    assert "weight 150 is out of range 0..100" in str(info.value)
    assert "cannot start" in str(info.value)


def test_sticky_customers_keep_their_side_across_reloads_and_restarts(urls, facade_factory):
    customers = [f"Bearer customer-{i}" for i in range(60)]

    def sides(facade) -> list[str]:
        return [
            facade.client.get("/api/v1/orders/1", headers={"Authorization": c}).headers[
                "x-upstream"
            ]
            for c in customers
        ]

    text = table(urls, routes(50))
    first = facade_factory(text)
    before = sides(first)
    assert set(before) == {"monolith", "orders"}

    first.rewrite(text + "\n# an unrelated edit\n")
    wait_until(lambda: first.routes()["version"] == 2, 5, "the reload")
    assert sides(first) == before

    first.close()
    restarted = facade_factory(text)
    assert sides(restarted) == before
