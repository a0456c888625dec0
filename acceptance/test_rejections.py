"""Orders the shop must refuse: no stock, a declined card, a payment that never answers.

A synchronous stage refuses at once with a 4xx and creates nothing; an asynchronous stage may
accept first and end the order `rejected` with the same code as `reason`. Either way the stock
is what it was before.
"""

import pytest

from conftest import DECLINED_CARD, TIMEOUT_CARD, eventually, order_count, stock_of


def assert_stock(anon, expected: dict[int, int]):
    def check():
        got = {pid: stock_of(anon, pid) for pid in expected}
        assert got == expected, f"stock is {got}, expected {expected}"

    eventually(check)


def test_ordering_more_teapots_than_exist_is_409_out_of_stock(alice, anon, teapot, place_order):
    before = stock_of(anon, teapot["id"])
    assert before == 1, "the seed leaves exactly one last teapot, and nobody buys it"

    outcome = place_order(alice, [{"product_id": teapot["id"], "quantity": before + 1}])

    assert (outcome.status, outcome.reason) == ("rejected", "out_of_stock"), outcome.body
    if outcome.synchronous_rejection:
        assert outcome.response.status_code == 409
        assert outcome.body["product_id"] == teapot["id"]
        assert isinstance(outcome.body["detail"], str) and outcome.body["detail"]
    assert_stock(anon, {teapot["id"]: before})


def test_an_order_is_all_or_nothing_when_one_line_is_short(alice, anon, in_stock, teapot,
                                                           place_order):
    plenty = in_stock()[0]
    before = {p["id"]: stock_of(anon, p["id"]) for p in (plenty, teapot)}
    too_many = before[teapot["id"]] + 1

    outcome = place_order(alice, [{"product_id": plenty["id"], "quantity": 1},
                                  {"product_id": teapot["id"], "quantity": too_many}])

    assert (outcome.status, outcome.reason) == ("rejected", "out_of_stock"), outcome.body
    if outcome.synchronous_rejection:
        assert outcome.response.status_code == 409
        assert outcome.body["product_id"] == teapot["id"]
    assert_stock(anon, before)


@pytest.mark.parametrize("card, code", [
    (DECLINED_CARD, "payment_declined"),
    (TIMEOUT_CARD, "payment_timeout"),
], ids=["declined", "timed-out"])
def test_a_failed_payment_is_402_and_takes_no_stock(alice, anon, in_stock, place_order, card, code):
    product = in_stock(at_least=2)[0]
    before = stock_of(anon, product["id"])

    outcome = place_order(alice, [{"product_id": product["id"], "quantity": 2}], card)

    assert (outcome.status, outcome.reason) == ("rejected", code), outcome.body
    if outcome.synchronous_rejection:
        assert outcome.response.status_code == 402
        assert isinstance(outcome.body["detail"], str) and outcome.body["detail"]
    assert_stock(anon, {product["id"]: before})


@pytest.mark.parametrize("card", [DECLINED_CARD, TIMEOUT_CARD], ids=["declined", "timed-out"])
def test_a_synchronous_rejection_creates_no_order(alice, in_stock, place_order, card):
    product = in_stock()[0]
    count_before = order_count(alice)
    outcome = place_order(alice, [{"product_id": product["id"], "quantity": 1}], card)
    assert outcome.status == "rejected"
    if outcome.synchronous_rejection:
        assert order_count(alice) == count_before
    else:  # asynchronous: the order exists, in the customer's history, as rejected
        assert order_count(alice) == count_before + 1
        detail = alice.get(f"/api/v1/orders/{outcome.order_id}/").json()
        assert (detail["status"], detail["reason"]) == ("rejected", outcome.reason)


def test_a_rejected_order_is_not_cancellable(alice, in_stock, place_order):
    product = in_stock()[0]
    outcome = place_order(alice, [{"product_id": product["id"], "quantity": 1}], DECLINED_CARD)
    assert outcome.status == "rejected"
    if outcome.synchronous_rejection:
        pytest.skip("this stage rejects synchronously: there is no rejected order to cancel")
    resp = alice.post(f"/api/v1/orders/{outcome.order_id}/cancel/")
    assert resp.status_code == 409
    assert resp.json()["code"] == "not_cancellable"


def test_the_shop_keeps_selling_after_a_payment_timeout(alice, in_stock, place_order):
    product = in_stock()[0]
    assert place_order(alice, [{"product_id": product["id"], "quantity": 1}],
                       TIMEOUT_CARD).reason == "payment_timeout"
    status, reason, _ = place_order(alice, [{"product_id": product["id"], "quantity": 1}])
    assert (status, reason) == ("confirmed", None)
