"""The deadline budget (X-Request-Budget-Ms): past its deadline an order rolls back whole, 504."""

import time

from orders import services
from orders.models import Order
from payments.models import Payment

from ..conftest import GOOD_CARD, stock_of

URL = "/api/v1/orders/"


def order_body(product, quantity=1):
    return {"lines": [{"product_id": product.id, "quantity": quantity}], "card_number": GOOD_CARD}


def post(client, body, key=None, budget_ms=None):
    headers = {}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    if budget_ms is not None:
        headers["HTTP_X_REQUEST_BUDGET_MS"] = str(budget_ms)
    return client.post(URL, body, format="json", **headers)


def test_a_spent_budget_answers_504_and_keeps_nothing(alice_api, product):
    before = stock_of(product)
    resp = post(alice_api, order_body(product), budget_ms=0)
    assert resp.status_code == 504 and resp.json()["code"] == "deadline_exceeded"
    assert stock_of(product) == before and not Order.objects.exists()


def test_work_that_ends_past_the_deadline_is_rolled_back(alice_api, product, monkeypatch):
    real = services.place_order

    def slow(*args, **kwargs):
        order = real(*args, **kwargs)  # reserved, charged, stored: not committed yet
        time.sleep(0.3)
        return order

    monkeypatch.setattr(services, "place_order", slow)
    before = stock_of(product)
    resp = post(alice_api, order_body(product, 2), key="k-late", budget_ms=100)
    assert resp.status_code == 504, resp.content
    assert stock_of(product) == before
    assert not Order.objects.exists() and not Payment.objects.exists()

    monkeypatch.setattr(services, "place_order", real)
    retry = post(alice_api, order_body(product, 2), key="k-late")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert post(alice_api, order_body(product, 2), key="k-late")["Idempotent-Replayed"] == "true"
    assert stock_of(product) == before - 2 and Order.objects.count() == 1


def test_a_generous_budget_changes_nothing(alice_api, product):
    assert post(alice_api, order_body(product), budget_ms=60_000).status_code == 201


def test_a_malformed_budget_means_the_default(alice_api, product):
    assert post(alice_api, order_body(product), budget_ms="soon").status_code == 201
