"""The routing table, the side split and the shadow comparison as plain functions (no sockets).

The end-to-end tests show the behaviour; these pin down the rules and the error messages an
instructor sees when an edit is rejected.
"""

from __future__ import annotations

import pytest

from facade.shadow import Ignore, compare
from facade.split import NEW, OLD, BadOverride, bucket, choose_side, customer_key
from facade.table import TableError, parse_table

UPSTREAMS = """
[upstreams]
monolith = "http://127.0.0.1:8000"
orders = "http://127.0.0.1:8001"
"""
CATCH_ALL = """
[[routes]]
prefix = "/"
old = "monolith"
"""


def rejected(text: str) -> str:
    with pytest.raises(TableError) as info:
        parse_table(text)
    return str(info.value)


def test_a_valid_table_matches_the_longest_prefix_and_the_method():
    t = parse_table(
        UPSTREAMS
        + CATCH_ALL
        + """
[[routes]]
prefix = "/api/v1/orders/"
methods = ["get"]
old = "monolith"
new = "orders"
weight = 100
[[routes]]
prefix = "/api/v1/orders/archive"
old = "monolith"
"""
    )
    assert [r.prefix for r in t.routes] == ["/api/v1/orders/archive", "/api/v1/orders", "/"]
    assert t.match("/api/v1/orders", "GET").prefix == "/api/v1/orders"
    assert t.match("/api/v1/orders/7", "GET").prefix == "/api/v1/orders"
    assert t.match("/api/v1/orders/archive/7", "GET").prefix == "/api/v1/orders/archive"
    # methods restrict a route; other methods fall through to the next shorter prefix
    assert t.match("/api/v1/orders/7", "POST").prefix == "/"
    # prefixes match whole segments only
    assert t.match("/api/v1/orders-export", "GET").prefix == "/"
    assert t.upstreams["orders"] == "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[upstreams\n", "not valid TOML"),
        (UPSTREAMS + CATCH_ALL.replace('"monolith"', '"mainframe"'),
         "unknown upstream 'mainframe' in 'old'"),
        (UPSTREAMS + CATCH_ALL + '[[routes]]\nprefix = "/a"\nold = "monolith"\nnew = "ordrs"\n',
         "unknown upstream 'ordrs' in 'new'"),
        (UPSTREAMS + CATCH_ALL
         + '[[routes]]\nprefix = "/a"\nold = "monolith"\nnew = "orders"\nweight = 150\n',
         "weight 150 is out of range 0..100"),
        (UPSTREAMS + CATCH_ALL
         + '[[routes]]\nprefix = "/a"\nold = "monolith"\nnew = "orders"\nweight = -1\n',
         "weight -1 is out of range 0..100"),
        (UPSTREAMS.replace("http://127.0.0.1:8001", "127.0.0.1:8001") + CATCH_ALL,
         "upstream 'orders': bad URL '127.0.0.1:8001'"),
        (UPSTREAMS.replace("8001", "99999") + CATCH_ALL, "bad port"),
        (UPSTREAMS + CATCH_ALL + CATCH_ALL, "duplicate prefix '/'"),
        (UPSTREAMS + '[[routes]]\nprefix = "/api"\nold = "monolith"\n', "missing catch-all"),
        (UPSTREAMS + '[[routes]]\nprefix = "/"\nmethods = ["GET"]\nold = "monolith"\n',
         "missing catch-all"),
        (UPSTREAMS + CATCH_ALL + '[[routes]]\nprefix = "/a"\nold = "monolith"\nwieght = 5\n',
         "unknown key 'wieght'"),
        (UPSTREAMS + CATCH_ALL + '[[routes]]\nprefix = "/a"\nold = "monolith"\nweight = 5\n',
         "need a 'new' upstream"),
        (UPSTREAMS + CATCH_ALL + '[[routes]]\nprefix = "/a"\nold = "monolith"\n'
         'new = "orders"\nshadow = true\nweight = 5\n', "set weight = 0"),
        (CATCH_ALL, "missing [upstreams]"),
    ],
)
def test_a_bad_table_is_rejected_with_a_clear_message(text, message):
    assert message in rejected(text)


def test_every_problem_is_reported_at_once():
    problems = rejected(
        UPSTREAMS + '[[routes]]\nprefix = "/a"\nold = "nope"\nnew = "orders"\nweight = 101\n'
    )
    assert "unknown upstream 'nope'" in problems
    assert "weight 101" in problems
    assert "missing catch-all" in problems


def test_the_bucket_is_stable_across_processes_and_releases():
    # A constant, not a value computed here: Python's hash() would change on every restart
    # (PYTHONHASHSEED) and put customers on another side after each deploy.
    assert bucket("auth:Bearer alice", "/api/v1/orders") == 1067
    assert 0 <= bucket("ip:127.0.0.1", "/") < 10_000


def test_raising_the_weight_only_moves_customers_from_old_to_new():
    t = parse_table(UPSTREAMS + CATCH_ALL + '[[routes]]\nprefix = "/o"\nold = "monolith"\n'
                    'new = "orders"\nweight = 20\n')
    t2 = parse_table(UPSTREAMS + CATCH_ALL + '[[routes]]\nprefix = "/o"\nold = "monolith"\n'
                     'new = "orders"\nweight = 40\n')
    customers = [f"auth:c{i}" for i in range(1000)]
    at20 = {c for c in customers if choose_side(t.routes[0], lambda c=c: c, None) == NEW}
    at40 = {c for c in customers if choose_side(t2.routes[0], lambda c=c: c, None) == NEW}
    assert at20 < at40
    assert 150 < len(at20) < 250 and 330 < len(at40) < 470


def test_the_override_names_a_side_or_an_upstream_of_the_route():
    t = parse_table(UPSTREAMS + CATCH_ALL + '[[routes]]\nprefix = "/o"\nold = "monolith"\n'
                    'new = "orders"\n')
    route, catch_all = t.routes

    def side(value):
        return choose_side(route, lambda: "x", value)

    assert side("new") == NEW and side("NEW") == NEW and side("orders") == NEW
    assert side("old") == OLD and side("monolith") == OLD
    with pytest.raises(BadOverride, match="names no side"):
        side("payments")
    with pytest.raises(BadOverride):
        choose_side(catch_all, lambda: "x", "new")  # the catch-all has no new side


def test_the_customer_is_the_token_then_the_session_then_the_ip():
    assert customer_key("Bearer t", "sessionid=s1", "sessionid", "10.0.0.1") == "auth:Bearer t"
    assert customer_key(None, "csrftoken=c; sessionid=s1", "sessionid", "10.0.0.1") == (
        "session:s1"
    )
    assert customer_key(None, "csrftoken=c", "sessionid", "10.0.0.1") == "ip:10.0.0.1"


def test_shadow_compare_ignores_listed_fields_anywhere_or_by_path():
    ignore = Ignore(["created_at", "items.unit_price"])
    old = b'{"id": 1, "created_at": "a", "items": [{"sku": "A", "unit_price": "1.00"}]}'
    new = b'{"id": 1, "created_at": "b", "items": [{"sku": "A", "unit_price": "9.99"}]}'
    assert compare(200, old, 200, new, ignore) == []
    # a dotted path applies only at that path
    old2 = b'{"unit_price": "1.00"}'
    new2 = b'{"unit_price": "2.00"}'
    assert compare(200, old2, 200, new2, ignore) == ['$.unit_price: "1.00" (old) != "2.00" (new)']


def test_shadow_compare_reports_status_values_types_and_missing_keys():
    diffs = compare(
        200, b'{"total": "10.00", "qty": 1, "tags": [1, 2]}',
        201, b'{"total": "12.00", "qty": "1", "tags": [1]}',
        Ignore([]),
    )
    assert "status: 200 (old) != 201 (new)" in diffs
    assert '$.total: "10.00" (old) != "12.00" (new)' in diffs
    assert '$.qty: 1 (old) != "1" (new)' in diffs
    assert "$.tags: 2 items (old) != 1 items (new)" in diffs
    assert compare(200, b'{"a": 1}', 200, b'{"b": 1}', Ignore([])) == [
        "$.a: 1 (old) != <missing> (new)",
        "$.b: <missing> (old) != 1 (new)",
    ]
    assert compare(200, b"<html>", 200, b'{"a": 1}', Ignore([])) == [
        "body: the old side's answer is not JSON"
    ]


def test_an_upstream_address_can_come_from_the_environment(monkeypatch):
    # How the workshop's supervisor points the facade at services on free ports.
    monkeypatch.setenv("FACADE_UPSTREAM_MONOLITH", "http://127.0.0.1:54321")
    table = parse_table(UPSTREAMS + '[[routes]]\nprefix = "/"\nold = "monolith"\n')
    assert table.upstreams["monolith"] == "http://127.0.0.1:54321"


def test_a_route_may_set_its_own_deadline_budget():
    t = parse_table(UPSTREAMS + CATCH_ALL + '[[routes]]\nprefix = "/api"\nold = "monolith"\n'
                    "budget_ms = 2500\n")
    assert t.match("/api/x", "GET").budget_ms == 2500
    assert t.match("/cart", "GET").budget_ms is None  # the facade's default applies
    assert t.as_json()["routes"][0]["budget_ms"] == 2500


@pytest.mark.parametrize("value", ["0", '"3s"', "true", "2.5", "600001"])
def test_a_budget_that_is_not_a_sane_number_of_milliseconds_is_rejected(value):
    problem = rejected(UPSTREAMS + CATCH_ALL + f'[[routes]]\nprefix = "/api"\nold = "monolith"\n'
                       f"budget_ms = {value}\n")
    assert "budget_ms must be a whole number of milliseconds from 1 to 600000" in problem
