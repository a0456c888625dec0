"""Shadow mode (parallel run): old answers, new gets a copy, the answers are compared."""

from __future__ import annotations

import pytest

from conftest import SHADOW_FIXTURES, free_port, start_facade, table, wait_until

ROUTES = """
[[routes]]
prefix = "/api/v1/orders"
old = "monolith"
new = "orders"
shadow = true
ignore_fields = ["id", "created_at"]

[[routes]]
prefix = "/"
old = "monolith"
"""
ROUTE = "/api/v1/orders"


@pytest.fixture(scope="module")
def facade(upstreams, tmp_path_factory):
    urls = {name: u.url for name, u in upstreams.items()}
    proc = start_facade(tmp_path_factory.mktemp("shadow"), table(urls, ROUTES))
    try:
        yield proc
    finally:
        proc.close()


def shadowed(facade, path: str, method: str = "GET", **kwargs) -> tuple[float, float]:
    """Send one request; wait for its comparison; return (comparisons, mismatches) added."""
    compared = facade.metric("facade_shadow_comparisons_total", route=ROUTE)
    mismatched = facade.metric("facade_shadow_mismatches_total", route=ROUTE)
    response = facade.client.request(method, path, **kwargs)
    # the customer always gets the old side's answer
    assert response.status_code == 200
    assert response.headers["x-upstream"] == "monolith"
    assert response.headers["x-served-by"] == "monolith"
    fixture = SHADOW_FIXTURES["monolith"].get(path)
    if fixture is not None:
        assert response.json() == fixture
    wait_until(
        lambda: facade.metric("facade_shadow_comparisons_total", route=ROUTE) > compared,
        5, "the shadow comparison",
    )
    return (
        facade.metric("facade_shadow_comparisons_total", route=ROUTE) - compared,
        facade.metric("facade_shadow_mismatches_total", route=ROUTE) - mismatched,
    )


def test_identical_answers_are_no_mismatch(facade):
    assert shadowed(facade, "/api/v1/orders/same") == (1, 0)


def test_a_difference_only_in_ignored_fields_is_no_mismatch(facade):
    # id and created_at differ at the top level and inside items[0]
    assert shadowed(facade, "/api/v1/orders/ignored") == (1, 0)


def test_a_real_difference_is_counted_and_logged_with_a_short_diff(facade):
    assert shadowed(facade, "/api/v1/orders/differs") == (1, 1)
    wait_until(lambda: "shadow mismatch" in facade.log(), 2, "the mismatch log line")
    line = next(x for x in facade.log().splitlines() if "shadow mismatch" in x)
    assert "GET /api/v1/orders/differs" in line
    assert '$.total: "10.00" (old) != "12.00" (new)' in line
    assert "$.id" not in line  # ignored fields stay out of the diff


def test_the_copy_carries_the_same_body_and_is_marked_as_a_shadow(facade):
    # The echo answers differ in "upstream" (and in the shadow marker header): a mismatch,
    # but the body the new side received is the one the client sent, byte for byte.
    comparisons, mismatches = shadowed(
        facade, "/api/v1/orders/echo", "POST", content=b'{"product": 1, "quantity": 2}'
    )
    assert (comparisons, mismatches) == (1, 1)
    wait_until(lambda: "POST /api/v1/orders/echo" in facade.log(), 2, "the mismatch log line")
    line = next(x for x in facade.log().splitlines() if "POST /api/v1/orders/echo" in x)
    assert '$.upstream: "monolith" (old) != "orders" (new)' in line
    assert "$.body_sha256" not in line  # same body on both sides
    assert "$.body_size" not in line


def test_the_override_header_skips_the_shadow(facade):
    compared = facade.metric("facade_shadow_comparisons_total", route=ROUTE)
    response = facade.client.get("/api/v1/orders/same", headers={"X-Route-To": "new"})
    assert response.headers["x-upstream"] == "orders"
    assert facade.metric("facade_shadow_comparisons_total", route=ROUTE) == compared


def test_a_new_side_that_is_down_never_hurts_the_customer(upstreams, facade_factory):
    urls = {"monolith": upstreams["monolith"].url, "orders": f"http://127.0.0.1:{free_port()}"}
    facade = facade_factory(table(urls, ROUTES))
    response = facade.client.get("/api/v1/orders/same")
    assert response.status_code == 200
    assert response.json() == SHADOW_FIXTURES["monolith"]["/api/v1/orders/same"]
    wait_until(
        lambda: facade.metric("facade_shadow_skipped_total", route=ROUTE, reason="unavailable")
        == 1,
        5, "the skipped shadow",
    )
    assert facade.metric("facade_shadow_mismatches_total", route=ROUTE) == 0
