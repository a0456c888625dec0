"""The deadline budget as a client sees it: a smaller `X-Request-Budget-Ms` is honoured, and an
order that ran out of time kept nothing, so a retry with the same Idempotency-Key buys once.

Every stage: from stage 01 on the front door passes the client's smaller budget on to the hops
behind it; in stage 00 the monolith is the front door and reads the client's header itself.
"""

import time
import uuid

from conftest import GOOD_CARD, eventually, order_count, stock_of, wait_final

URL = "/api/v1/orders/"
BUDGET = "X-Request-Budget-Ms"
# The front door's default budget (docs/api-contract.md): an answer to a 1 ms budget that took
# longer than this was not cut short by the client's budget at all.
DEFAULT_BUDGET_S = 8.0


def order(product_id: int, quantity: int = 1) -> dict:
    return {"lines": [{"product_id": product_id, "quantity": quantity}], "card_number": GOOD_CARD}


def test_a_generous_client_budget_leaves_an_order_alone(alice, in_stock, place_order):
    product = in_stock()[0]
    resp = alice.post(URL, json=order(product["id"]), headers={BUDGET: "60000"})
    assert resp.status_code in (201, 202), resp.text
    assert wait_final(alice, resp.json()["id"])["status"] == "confirmed"
    alice.post(f"{URL}{resp.json()['id']}/cancel/")


def test_a_spent_budget_is_504_keeps_nothing_and_the_retry_buys_once(alice, anon, in_stock):
    product = in_stock()[0]
    before, orders_before = stock_of(anon, product["id"]), order_count(alice)
    key = f"acceptance-{uuid.uuid4()}"

    started = time.monotonic()
    late = alice.post(URL, json=order(product["id"], 2),
                      headers={"Idempotency-Key": key, BUDGET: "1"})
    took = time.monotonic() - started

    assert late.status_code == 504, late.text
    assert late.json()["code"] == "deadline_exceeded" and late.json()["detail"]
    assert took < DEFAULT_BUDGET_S, f"a 1 ms budget answered after {took:.1f} s"
    assert order_count(alice) == orders_before

    def nothing_kept():
        assert stock_of(anon, product["id"]) == before

    eventually(nothing_kept)

    retry = alice.post(URL, json=order(product["id"], 2), headers={"Idempotency-Key": key})
    assert retry.status_code in (201, 202), retry.text
    assert "Idempotent-Replayed" not in retry.headers
    again = alice.post(URL, json=order(product["id"], 2), headers={"Idempotency-Key": key})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == retry.json()["id"]
    try:
        assert wait_final(alice, retry.json()["id"])["status"] == "confirmed"
        assert order_count(alice) == orders_before + 1
        eventually(lambda: _assert_equal(stock_of(anon, product["id"]), before - 2))
    finally:
        alice.post(f"{URL}{retry.json()['id']}/cancel/")


def _assert_equal(got, expected):
    assert got == expected, f"{got} != {expected}"
