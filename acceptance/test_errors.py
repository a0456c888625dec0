"""Every error under /api/ is JSON in the contract's shapes, even where no view answers.

An unknown path, a malformed id that no URL matches, a bad query parameter: a client of the API
never has to parse an HTML page, and a 400 names what was wrong.
"""

import pytest


def assert_json_error(resp, status: int) -> dict:
    assert resp.status_code == status, f"{resp.request.url}: {resp.status_code} {resp.text[:200]}"
    assert resp.headers["content-type"].startswith("application/json"), resp.text[:200]
    return resp.json()


@pytest.mark.parametrize("path", [
    "/api/v1/no-such-thing/",
    "/api/v1/products/abc/",
    "/api/v1/products/-1/",
    "/api/v1/products/1/extra/",
    "/api/v2/products/",
    "/api/",
])
def test_an_unknown_api_path_is_a_json_404(anon, path):
    assert assert_json_error(anon.get(path), 404)["detail"]


@pytest.mark.parametrize("path", ["/api/v1/orders/abc/", "/api/v1/orders/1.5/cancel/"])
def test_a_malformed_order_id_is_a_json_404_for_a_customer_too(alice, path):
    method = alice.post if path.endswith("cancel/") else alice.get
    assert assert_json_error(method(path), 404)["detail"]


def test_a_nul_byte_in_the_search_is_a_400_naming_search(anon):
    body = assert_json_error(anon.get("/api/v1/products/", params={"search": "tea\x00pot"}), 400)
    assert "search" in body, body


@pytest.mark.parametrize("page", ["abc", "0", "-1", "", "1.5", "last"])
def test_a_malformed_page_is_a_400_naming_page(anon, page):
    body = assert_json_error(anon.get("/api/v1/products/", params={"page": page}), 400)
    assert "page" in body, body


def test_a_form_body_is_415_the_api_reads_json(alice):
    resp = alice.post("/api/v1/orders/", data={"card_number": "4242424242424242"})
    assert assert_json_error(resp, 415)["detail"]


@pytest.mark.parametrize("path", ["/api/v1/products/{huge}/", "/api/v1/stock/{huge}/"])
def test_an_id_too_large_for_any_database_is_a_404(admin, path):
    resp = admin.get(path.format(huge=10**25))
    assert assert_json_error(resp, 404)["detail"]
