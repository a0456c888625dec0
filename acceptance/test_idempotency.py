"""Idempotency-Key on POST /api/v1/orders/: a client may retry an order, never buy twice.

Every stage keeps it (docs/api-contract.md). Keys are fresh UUIDs, so the suite can run again and
again against one long-running shop. Orders may be decided later in asynchronous stages: an
answer is 201 or 202, and a replay shows the order as it is now.
"""

import uuid

import httpx
import pytest

from conftest import DECLINED_CARD, GOOD_CARD, eventually, order_count, stock_of, wait_final

URL = "/api/v1/orders/"
CREATED = {201, 202}


def fresh_key() -> str:
    return f"acceptance-{uuid.uuid4()}"


def order(product_id: int, quantity: int = 1, card: str = GOOD_CARD) -> dict:
    return {"lines": [{"product_id": product_id, "quantity": quantity}], "card_number": card}


@pytest.fixture
def post():
    """post(client, body, key) -> response; orders it created are cancelled after the test."""
    created: list[tuple[httpx.Client, int]] = []

    def send(client: httpx.Client, body, key: str | None) -> httpx.Response:
        headers = {} if key is None else {"Idempotency-Key": key}
        resp = client.post(URL, json=body, headers=headers)
        if resp.status_code in CREATED:
            created.append((client, resp.json()["id"]))
        return resp

    yield send
    for client, order_id in created:
        if wait_final(client, order_id)["status"] == "confirmed":
            client.post(f"{URL}{order_id}/cancel/")


def assert_stock(anon, product_id: int, expected: int):
    def check():
        assert stock_of(anon, product_id) == expected

    eventually(check)


def test_the_same_key_and_body_answer_the_same_order_once(alice, anon, in_stock, post):
    product = in_stock()[0]
    before, orders_before = stock_of(anon, product["id"]), order_count(alice)
    key = fresh_key()

    first = post(alice, order(product["id"], 2), key)
    again = post(alice, order(product["id"], 2), key)

    assert first.status_code in CREATED, first.text
    assert again.status_code == first.status_code, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert wait_final(alice, first.json()["id"])["status"] == "confirmed"
    assert order_count(alice) == orders_before + 1
    assert_stock(anon, product["id"], before - 2)


def test_a_replay_shows_the_order_as_it_is_now(alice, in_stock, post):
    product = in_stock()[0]
    key = fresh_key()
    placed = post(alice, order(product["id"]), key).json()
    assert wait_final(alice, placed["id"])["status"] == "confirmed"
    assert alice.post(f"{URL}{placed['id']}/cancel/").status_code == 200

    again = post(alice, order(product["id"]), key)
    assert again.json()["id"] == placed["id"] and again.json()["status"] == "cancelled"


def test_the_same_key_with_another_body_is_422_and_changes_nothing(alice, anon, in_stock, post):
    product = in_stock()[0]
    key = fresh_key()
    first = post(alice, order(product["id"], 1), key)
    wait_final(alice, first.json()["id"])  # an asynchronous stage takes its stock a moment later
    before, orders_before = stock_of(anon, product["id"]), order_count(alice)

    resp = post(alice, order(product["id"], 3), key)

    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "idempotency_key_reused" and resp.json()["detail"]
    assert order_count(alice) == orders_before
    assert_stock(anon, product["id"], before)


@pytest.mark.parametrize("key", ["", "x" * 256, "two words"], ids=["empty", "256-chars", "space"])
def test_a_malformed_key_is_400_naming_the_header(alice, anon, in_stock, post, key):
    product = in_stock()[0]
    before, orders_before = stock_of(anon, product["id"]), order_count(alice)

    resp = post(alice, order(product["id"]), key)

    assert resp.status_code == 400, resp.text
    assert "Idempotency-Key" in resp.json(), resp.text
    assert order_count(alice) == orders_before
    assert stock_of(anon, product["id"]) == before


def test_a_255_character_key_is_valid(alice, in_stock, post):
    product = in_stock()[0]
    assert post(alice, order(product["id"]), "~" * 200 + fresh_key()[:55]).status_code in CREATED


def test_a_declined_payment_is_replayed_not_retried(alice, anon, in_stock, post):
    product = in_stock()[0]
    before, orders_before = stock_of(anon, product["id"]), order_count(alice)
    key = fresh_key()

    first = post(alice, order(product["id"], card=DECLINED_CARD), key)
    again = post(alice, order(product["id"], card=DECLINED_CARD), key)

    assert again.status_code == first.status_code
    assert again.headers.get("Idempotent-Replayed") == "true"
    if first.status_code in CREATED:  # an asynchronous stage: one order, rejected
        assert again.json()["id"] == first.json()["id"]
        final = wait_final(alice, first.json()["id"])
        assert (final["status"], final["reason"]) == ("rejected", "payment_declined")
        assert order_count(alice) == orders_before + 1
    else:
        assert first.status_code == 402 and again.json() == first.json()
        assert first.json()["code"] == "payment_declined"
        assert order_count(alice) == orders_before
    assert_stock(anon, product["id"], before)


def test_out_of_stock_is_replayed(alice, anon, teapot, post):
    before = stock_of(anon, teapot["id"])
    key = fresh_key()
    first = post(alice, order(teapot["id"], before + 1), key)
    again = post(alice, order(teapot["id"], before + 1), key)
    assert again.status_code == first.status_code
    assert again.headers.get("Idempotent-Replayed") == "true"
    if first.status_code not in CREATED:
        assert first.status_code == 409 and again.json() == first.json()
    assert_stock(anon, teapot["id"], before)


def test_a_validation_error_is_not_kept_so_the_fixed_body_runs(alice, in_stock, post):
    product = in_stock()[0]
    key = fresh_key()
    bad = post(alice, {"lines": [], "card_number": GOOD_CARD}, key)
    assert bad.status_code == 400 and "lines" in bad.json(), bad.text

    good = post(alice, order(product["id"]), key)
    assert good.status_code in CREATED, good.text
    assert "Idempotent-Replayed" not in good.headers


def test_keys_belong_to_one_customer(alice, bob, in_stock, post):
    product = in_stock()[0]
    key = fresh_key()
    mine = post(alice, order(product["id"]), key)
    theirs = post(bob, order(product["id"], 2), key)
    assert mine.status_code in CREATED and theirs.status_code in CREATED, theirs.text
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]


def test_without_a_key_two_posts_are_two_orders(alice, in_stock, post):
    product = in_stock()[0]
    first = post(alice, order(product["id"]), None)
    second = post(alice, order(product["id"]), None)
    assert first.json()["id"] != second.json()["id"]
