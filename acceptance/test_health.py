"""Liveness, readiness, and the service name every answer carries."""

import pytest


def test_healthz_answers_ok_as_json(anon):
    resp = anon.get("/healthz")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "ok"
    assert isinstance(body["service"], str) and body["service"]


def test_readyz_answers_200_while_the_database_answers(anon):
    assert anon.get("/readyz").status_code == 200


@pytest.mark.parametrize("path", [
    "/healthz",
    "/api/v1/products/",
    "/api/v1/products/999999999/",  # a 404 is a response too
    "/api/v1/orders/",  # and so is a 401
    "/api/v1/schema/",
])
def test_every_response_names_the_service_that_served_it(anon, path):
    resp = anon.get(path)
    assert resp.headers.get("X-Served-By", "").strip(), f"GET {path}: no X-Served-By header"
