"""The orders API against docs/api-contract.md: status codes, shapes, and nothing lost on errors."""

import json

import pytest

from orders.models import Order

from ..conftest import DECLINED_CARD, GOOD_CARD, TIMEOUT_CARD, settle

URL = "/api/v1/orders/"
pytestmark = pytest.mark.django_db


def order_body(product, quantity=1, card=GOOD_CARD):
    return {"lines": [{"product_id": product["id"], "quantity": quantity}], "card_number": card}


def test_placing_an_order_answers_202_pending_with_location_and_the_saga_confirms_it(
        alice_api, product, monolith):
    before = monolith.stock()[product["id"]]
    resp = alice_api.post(URL, order_body(product, 2), format="json")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["status"] == "pending" and body["reason"] == ""
    assert resp["Location"] == f"/api/v1/orders/{body['id']}/"
    assert resp["X-Served-By"] == "orders"
    assert monolith.stock()[product["id"]] == before  # nothing reserved yet: the saga will
    settle()
    body = alice_api.get(resp["Location"]).json()
    assert body["status"] == "confirmed" and body["reason"] == ""
    assert body["total_cents"] == 2 * product["price_cents"]
    assert body["lines"] == [
        {
            "product_id": product["id"],
            "product_name": product["name"],
            "quantity": 2,
            "unit_price_cents": product["price_cents"],
        }
    ]
    assert monolith.stock()[product["id"]] == before - 2
    reservation = monolith.reservation(Order.objects.get(id=body["id"]).reservation_id)
    assert reservation[0] == "confirmed"


def test_history_lists_own_orders_newest_first_and_detail_matches(alice_api, bob_api, product):
    first = alice_api.post(URL, order_body(product), format="json").json()
    second = alice_api.post(URL, order_body(product), format="json").json()
    bob_api.post(URL, order_body(product), format="json")
    listing = alice_api.get(URL).json()
    assert [o["id"] for o in listing["results"]] == [second["id"], first["id"]]
    assert alice_api.get(f"{URL}{first['id']}/").json() == first


def test_another_customers_order_is_404_to_read_and_to_cancel(alice_api, bob_api, product):
    order = alice_api.post(URL, order_body(product), format="json").json()
    settle()
    assert bob_api.get(f"{URL}{order['id']}/").status_code == 404
    assert bob_api.post(f"{URL}{order['id']}/cancel/").status_code == 404
    assert Order.objects.get(id=order["id"]).status == "confirmed"


def test_cancel_restores_stock_and_a_second_cancel_is_409(alice_api, product, monolith):
    before = monolith.stock()[product["id"]]
    order = alice_api.post(URL, order_body(product, 3), format="json").json()
    pending = alice_api.post(f"{URL}{order['id']}/cancel/")
    assert pending.status_code == 409  # not decided yet: nothing to cancel
    settle()
    resp = alice_api.post(f"{URL}{order['id']}/cancel/")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert monolith.stock()[product["id"]] == before
    again = alice_api.post(f"{URL}{order['id']}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "not_cancellable"


def test_out_of_stock_is_a_final_rejected_status_with_its_reason(alice_api, monolith):
    last = monolith.product("last-teapot")
    monolith.set_stock(last["id"], 1)
    resp = alice_api.post(URL, order_body(last, 2), format="json")
    assert resp.status_code == 202
    settle()
    order = alice_api.get(resp["Location"]).json()
    assert (order["status"], order["reason"]) == ("rejected", "out_of_stock")
    assert monolith.stock()[last["id"]] == 1


@pytest.mark.parametrize(
    ("card", "code"), [(DECLINED_CARD, "payment_declined"), (TIMEOUT_CARD, "payment_timeout")]
)
def test_a_failed_payment_is_rejected_with_its_reason_and_gives_the_units_back(
    alice_api, product, card, code, monolith
):
    before = monolith.stock()[product["id"]]
    resp = alice_api.post(URL, order_body(product, 1, card), format="json")
    assert resp.status_code == 202
    settle()
    order = Order.objects.get(id=resp.json()["id"])
    assert (order.status, order.reason) == ("rejected", code)
    assert monolith.stock()[product["id"]] == before
    assert monolith.reservation(order.reservation_id)[0] == "released"


def test_an_unknown_product_is_400_naming_the_field_and_records_nothing(alice_api):
    resp = alice_api.post(URL, {"lines": [{"product_id": 999999, "quantity": 1}],
                                "card_number": GOOD_CARD}, format="json")
    assert resp.status_code == 400 and "product_id" in json.dumps(resp.json())
    assert not Order.objects.exists()


def test_anonymous_callers_get_401_on_orders(api, product):
    assert api.get(URL).status_code == 401
    assert api.post(URL, order_body(product), format="json").status_code == 401
    assert api.get(f"{URL}1/").status_code == 401


def test_a_token_issued_by_the_monolith_works_here(api, product, monolith):
    """The monolith issues tokens; this service asks it over gRPC who holds one."""
    api.credentials(HTTP_AUTHORIZATION=f"Token {monolith.token_for('alice')}")
    resp = api.post(URL, order_body(product), format="json")
    assert resp.status_code == 202 and resp["X-Served-By"] == "orders"
    order = Order.objects.get(id=resp.json()["id"])
    assert order.customer_id == monolith.user_id("alice")


def test_a_token_the_monolith_does_not_know_is_401(api, product):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token-anyone-holds")
    assert api.get(URL).status_code == 401


def test_with_the_monolith_down_a_token_cannot_be_checked_so_503_not_500(api, settings, monolith):
    from .. import monolith as harness

    settings.MONOLITH_GRPC = f"127.0.0.1:{harness.free_port()}"
    api.credentials(HTTP_AUTHORIZATION=f"Token {monolith.token_for('bob')}")
    resp = api.get(URL)
    assert resp.status_code == 503 and "retry" in resp.json()["detail"]
    assert resp.json()["code"] == "identity_unavailable"


def test_a_budget_spent_before_the_token_is_checked_is_504_deadline_exceeded(api, monolith):
    api.credentials(HTTP_AUTHORIZATION=f"Token {monolith.token_for('bob')}")
    resp = api.get(URL, headers={"X-Request-Budget-Ms": "0"})
    assert resp.status_code == 504 and resp.json()["code"] == "deadline_exceeded"


def _post_raw(client, body: str):
    return client.post(URL, body, content_type="application/json")


BAD_BODIES = [
    ({"card_number": GOOD_CARD}, "lines"),
    ({"lines": [{"product_id": "{pid}", "quantity": 1}]}, "card_number"),
    ({"lines": [], "card_number": GOOD_CARD}, "lines"),
    ({"lines": "nope", "card_number": GOOD_CARD}, "lines"),
    ({"lines": [{"product_id": 999999, "quantity": 1}], "card_number": GOOD_CARD}, "product_id"),
    ({"lines": [{"product_id": 10**20, "quantity": 1}], "card_number": GOOD_CARD}, "product_id"),
    ({"lines": [{"quantity": 1}], "card_number": GOOD_CARD}, "product_id"),
    ({"lines": [{"product_id": "{pid}"}], "card_number": GOOD_CARD}, "quantity"),
    ({"lines": [{"product_id": "{pid}", "quantity": 0}], "card_number": GOOD_CARD}, "quantity"),
    ({"lines": [{"product_id": "{pid}", "quantity": -1}], "card_number": GOOD_CARD}, "quantity"),
    ({"lines": [{"product_id": "{pid}", "quantity": 101}], "card_number": GOOD_CARD}, "quantity"),
    (
        {"lines": [{"product_id": "{pid}", "quantity": 10**12}], "card_number": GOOD_CARD},
        "quantity",
    ),
    ({"lines": [{"product_id": "{pid}", "quantity": "abc"}], "card_number": GOOD_CARD}, "quantity"),
    ({"lines": [{"product_id": "{pid}", "quantity": 1.5}], "card_number": GOOD_CARD}, "quantity"),
    ({"lines": [{"product_id": "{pid}", "quantity": 1}], "card_number": "4242-abc"}, "card_number"),
    ({"lines": [{"product_id": "{pid}", "quantity": 1}] * 21, "card_number": GOOD_CARD}, "lines"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_input_is_400_naming_the_field_and_loses_nothing(alice_api, product, body, field,
                                                             monolith):
    before = monolith.stock()[product["id"]]
    raw = json.dumps(body).replace('"{pid}"', str(product["id"]))
    resp = _post_raw(alice_api, raw)
    assert resp.status_code == 400, resp.content
    assert f'"{field}"' in resp.content.decode(), resp.content
    assert monolith.stock()[product["id"]] == before and not Order.objects.exists()


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"a string"', "null", "42"])
def test_a_body_that_is_not_an_object_is_400(alice_api, product, raw):
    resp = _post_raw(alice_api, raw)
    assert resp.status_code == 400, resp.content
    assert not Order.objects.exists()
