"""Token login, and what the API answers to a caller without (valid) credentials."""

import pytest

from conftest import GOOD_CARD


def test_good_credentials_get_a_token_that_opens_the_order_list(anon):
    resp = anon.post("/api/v1/auth/token/", json={"username": "alice", "password": "wonderland"})
    assert resp.status_code == 200
    token = resp.json()["token"]
    assert isinstance(token, str) and token
    orders = anon.get("/api/v1/orders/", headers={"Authorization": f"Token {token}"})
    assert orders.status_code == 200


@pytest.mark.parametrize("credentials", [
    {"username": "alice", "password": "not-her-password"},
    {"username": "nobody-by-this-name", "password": "wonderland"},
    {"username": "alice"},
    {},
], ids=["wrong-password", "unknown-user", "no-password", "empty"])
def test_bad_credentials_answer_400_without_a_token(anon, credentials):
    resp = anon.post("/api/v1/auth/token/", json=credentials)
    assert resp.status_code == 400
    assert "token" not in resp.json()


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/orders/"),
    ("POST", "/api/v1/orders/"),
    ("GET", "/api/v1/orders/1/"),
    ("POST", "/api/v1/orders/1/cancel/"),
])
def test_orders_without_a_token_answer_401(anon, catalogue, method, path):
    body = {"lines": [{"product_id": catalogue[0]["id"], "quantity": 1}], "card_number": GOOD_CARD}
    resp = anon.request(method, path, json=body if method == "POST" else None)
    assert resp.status_code == 401


def test_an_invalid_token_answers_401(anon):
    resp = anon.get("/api/v1/orders/", headers={"Authorization": "Token not-a-real-token"})
    assert resp.status_code == 401


def test_an_anonymous_order_creates_nothing_and_moves_no_stock(anon, catalogue):
    product = catalogue[0]
    before = anon.get(f"/api/v1/products/{product['id']}/").json()["stock"]
    resp = anon.post("/api/v1/orders/", json={
        "lines": [{"product_id": product["id"], "quantity": 1}], "card_number": GOOD_CARD})
    assert resp.status_code == 401
    assert anon.get(f"/api/v1/products/{product['id']}/").json()["stock"] == before
