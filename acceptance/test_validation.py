"""Bad input answers 400 naming the field that is wrong, and loses nothing.

The request must never reach stock or payment: stock and the customer's order count are the
same after as before.
"""

import json

import pytest

from conftest import GOOD_CARD, names_field, order_count, stock_of

PID = "<a real product id>"  # replaced by the id of a well-stocked product


def line(product_id=PID, quantity=1) -> dict:
    return {"product_id": product_id, "quantity": quantity}


def order(lines=None, card=GOOD_CARD) -> dict:
    return {"lines": [line()] if lines is None else lines, "card_number": card}


# (id, request body, where the 400 must name the error): "lines" and "card_number" are top-level
# keys; "lines.quantity" means a `quantity` key somewhere under `lines` (a list or {"0": ...}).
CASES = [
    ("missing-lines", {"card_number": GOOD_CARD}, "lines"),
    ("missing-card", {"lines": [line()]}, "card_number"),
    ("empty-lines", order(lines=[]), "lines"),
    ("lines-an-object", order(lines=line()), "lines"),
    ("lines-a-string", order(lines="two teapots"), "lines"),
    ("line-not-an-object", order(lines=[PID]), "lines"),
    ("unknown-product", order(lines=[line(product_id=999999999)]), "lines.product_id"),
    ("product-id-not-a-number", order(lines=[line(product_id="abc")]), "lines.product_id"),
    ("missing-product-id", order(lines=[{"quantity": 1}]), "lines.product_id"),
    ("missing-quantity", order(lines=[{"product_id": PID}]), "lines.quantity"),
    ("quantity-0", order(lines=[line(quantity=0)]), "lines.quantity"),
    ("quantity-negative", order(lines=[line(quantity=-1)]), "lines.quantity"),
    ("quantity-101", order(lines=[line(quantity=101)]), "lines.quantity"),
    ("quantity-10**12", order(lines=[line(quantity=10**12)]), "lines.quantity"),
    ("quantity-abc", order(lines=[line(quantity="abc")]), "lines.quantity"),
    ("quantity-1.5", order(lines=[line(quantity=1.5)]), "lines.quantity"),
    ("quantity-null", order(lines=[line(quantity=None)]), "lines.quantity"),
    ("second-line-bad", order(lines=[line(), line(quantity=0)]), "lines.quantity"),
    ("card-with-letters", order(card="4242abcd42424242"), "card_number"),
    ("card-11-digits", order(card="42424242424"), "card_number"),
    ("card-20-digits", order(card="42424242424242424242"), "card_number"),
    ("card-empty", order(card=""), "card_number"),
]


def with_product(body, product_id: int):
    """The body with every PID placeholder replaced by product_id."""
    if body == PID:
        return product_id
    if isinstance(body, dict):
        return {k: with_product(v, product_id) for k, v in body.items()}
    if isinstance(body, list):
        return [with_product(v, product_id) for v in body]
    return body


def names_field_at(body, where: str) -> bool:
    if not isinstance(body, dict):
        return False
    if "." not in where:
        return where in body
    top, field = where.split(".", 1)
    return top in body and names_field(body[top], field)


@pytest.mark.parametrize("body, where", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_order_input_is_400_naming_the_field_and_loses_nothing(alice, anon, in_stock,
                                                                   body, where):
    product = in_stock()[0]
    stock_before, orders_before = stock_of(anon, product["id"]), order_count(alice)

    resp = alice.post("/api/v1/orders/", json=with_product(body, product["id"]))

    assert resp.status_code == 400, resp.text
    assert names_field_at(resp.json(), where), f"400 does not name {where}: {resp.text}"
    assert stock_of(anon, product["id"]) == stock_before
    assert order_count(alice) == orders_before


def test_twenty_one_lines_is_400_naming_lines(alice, anon, in_stock):
    products = in_stock(21, at_least=1)
    before = {p["id"]: stock_of(anon, p["id"]) for p in products}
    resp = alice.post("/api/v1/orders/", json={
        "lines": [{"product_id": p["id"], "quantity": 1} for p in products],
        "card_number": GOOD_CARD})
    assert resp.status_code == 400, resp.text
    assert "lines" in resp.json()
    assert {pid: stock_of(anon, pid) for pid in before} == before


def test_malformed_json_is_400_with_a_parse_error(alice, anon, in_stock):
    product = in_stock()[0]
    stock_before, orders_before = stock_of(anon, product["id"]), order_count(alice)
    resp = alice.post("/api/v1/orders/", headers={"Content-Type": "application/json"},
                      content=f'{{"lines": [{{"product_id": {product["id"]}, "quantity": 1')
    assert resp.status_code == 400
    assert "JSON parse error" in resp.json()["detail"]
    assert stock_of(anon, product["id"]) == stock_before
    assert order_count(alice) == orders_before


@pytest.mark.parametrize("payload", [[1, 2], "lines", 42, None], ids=["list", "string", "number",
                                                                      "null"])
def test_a_body_that_is_not_an_object_is_400(alice, anon, in_stock, payload):
    product = in_stock()[0]
    stock_before, orders_before = stock_of(anon, product["id"]), order_count(alice)
    resp = alice.post("/api/v1/orders/", headers={"Content-Type": "application/json"},
                      content=json.dumps(payload))
    assert resp.status_code == 400, resp.text
    assert isinstance(resp.json(), dict), "errors are JSON objects"
    assert stock_of(anon, product["id"]) == stock_before
    assert order_count(alice) == orders_before
