"""Exercise 01.3: a canary that keeps each customer on one side, across processes and restarts."""

import subprocess
import sys

from facade.split import BUCKETS, NEW, bucket, choose_side
from facade.table import parse_table

TABLE = """
[upstreams]
monolith = "http://127.0.0.1:8000"
orders = "http://127.0.0.1:8001"
[[routes]]
prefix = "/api/v1/orders"
old = "monolith"
new = "orders"
weight = {weight}
[[routes]]
prefix = "/"
old = "monolith"
"""


def route(weight):
    return parse_table(TABLE.format(weight=weight)).routes[0]


def bucket_in_a_new_process(customer: str, salt: str, seed: str) -> int:
    # Another facade process, or this one after a restart: Python salts hash() per process.
    code = f"from facade.split import bucket; print(bucket({customer!r}, {salt!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": seed, "PATH": ""},
        cwd=".",
    )
    return int(out.stdout)


def test_a_bucket_is_in_range():
    assert all(0 <= bucket(f"c{i}", "/x") < BUCKETS for i in range(1000))


def test_a_customer_keeps_their_bucket_across_processes_and_restarts():
    here = bucket("auth:Token alice", "/api/v1/orders")
    for seed in ("1", "2", "3"):
        assert bucket_in_a_new_process("auth:Token alice", "/api/v1/orders", seed) == here


def test_the_weight_is_the_share_of_customers_within_tolerance():
    r = route(30)
    sides = [choose_side(r, lambda i=i: f"auth:c{i}", None) for i in range(4000)]
    assert 0.27 <= sides.count(NEW) / len(sides) <= 0.33


def test_raising_the_weight_only_moves_customers_from_old_to_new():
    customers = [f"auth:c{i}" for i in range(2000)]
    at_10 = {c for c in customers if choose_side(route(10), lambda c=c: c, None) == NEW}
    at_30 = {c for c in customers if choose_side(route(30), lambda c=c: c, None) == NEW}
    assert at_10 <= at_30 and len(at_30) > len(at_10)


def test_two_routes_pick_independent_cohorts():
    """Salted with the route's prefix, two canaries at 30 % share about 9 % of the customers
    (30 % of 30 %), not the same 30 %: no unlucky cohort gets every new service at once."""
    customers = [f"auth:c{i}" for i in range(4000)]
    orders = {c for c in customers if bucket(c, "/api/v1/orders") < 3000}
    products = {c for c in customers if bucket(c, "/api/v1/products") < 3000}
    both = len(orders & products) / len(customers)
    assert 0.06 <= both <= 0.12, f"{both:.0%} of customers are in both canaries"
