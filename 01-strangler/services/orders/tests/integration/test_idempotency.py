"""Idempotency-Key on POST /api/v1/orders/ (docs/api-contract.md): a retry never orders twice.

The same promises as the monolith's copy; racing duplicates across both processes (monolith and
this service, one database) are in ../../../../tests/e2e/test_idempotency_race.py.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import IdempotencyKey, Order
from payments.models import Payment

from ..conftest import DECLINED_CARD, GOOD_CARD, stock_of

URL = "/api/v1/orders/"


def order_body(product, quantity=1, card=GOOD_CARD):
    return {"lines": [{"product_id": product.id, "quantity": quantity}], "card_number": card}


def post(client, body, key):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_answer_the_same_order_once(alice_api, product):
    before = stock_of(product)
    first = post(alice_api, order_body(product, 2), "k-1")
    again = post(alice_api, order_body(product, 2), "k-1")
    assert first.status_code == again.status_code == 201, again.content
    assert again.json() == first.json()
    assert again["Location"] == first["Location"] == f"{URL}{first.json()['id']}/"
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert stock_of(product) == before - 2
    assert Order.objects.count() == 1 and Payment.objects.count() == 1


def test_a_replay_shows_the_order_as_it_is_now(alice_api, product):
    order = post(alice_api, order_body(product), "k-now").json()
    alice_api.post(f"{URL}{order['id']}/cancel/")
    again = post(alice_api, order_body(product), "k-now")
    assert again.status_code == 201 and again.json()["status"] == "cancelled"


def test_the_same_body_compares_as_canonical_json(alice_api, product):
    """Key order and whitespace do not make another body."""
    first = alice_api.post(URL, '{"card_number": "4242424242424242", "lines": '
                           f'[{{"quantity": 1, "product_id": {product.id}}}]}}',
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-json")
    again = post(alice_api, order_body(product), "k-json")
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]


def test_the_same_key_with_another_body_is_422_and_changes_nothing(alice_api, product):
    post(alice_api, order_body(product, 1), "k-2")
    before = stock_of(product)
    resp = post(alice_api, order_body(product, 3), "k-2")
    assert resp.status_code == 422
    assert resp.json()["code"] == "idempotency_key_reused" and resp.json()["detail"]
    assert stock_of(product) == before and Order.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "caf\u00e9", "tab\there"],
                         ids=["empty", "256-chars", "space", "non-ascii", "control"])
def test_a_malformed_key_is_400_naming_the_header(alice_api, product, key):
    before = stock_of(product)
    resp = post(alice_api, order_body(product), key)
    assert resp.status_code == 400 and "Idempotency-Key" in resp.json(), resp.content
    assert stock_of(product) == before and not Order.objects.exists()


def test_the_longest_and_oddest_valid_keys_work(alice_api, product):
    for key in ["~" * 255, "!", "a:b/c?d=e&f#g"]:
        assert post(alice_api, order_body(product), key).status_code == 201
    assert Order.objects.count() == 3


def test_a_business_rejection_is_kept_and_replayed(alice_api, product):
    declined = post(alice_api, order_body(product, card=DECLINED_CARD), "k-declined")
    again = post(alice_api, order_body(product, card=DECLINED_CARD), "k-declined")
    assert declined.status_code == again.status_code == 402
    assert again.json() == declined.json() and again["Idempotent-Replayed"] == "true"
    assert not Payment.objects.exists() and not Order.objects.exists()


def test_out_of_stock_is_replayed_even_once_stock_is_back(alice_api, product):
    from inventory.models import Stock

    Stock.objects.filter(product=product).update(quantity=0)
    first = post(alice_api, order_body(product), "k-oos")
    Stock.objects.filter(product=product).update(quantity=10)
    again = post(alice_api, order_body(product), "k-oos")
    assert first.status_code == again.status_code == 409
    assert again.json()["code"] == "out_of_stock" and not Order.objects.exists()


def test_a_validation_error_is_not_kept_so_the_fixed_body_runs(alice_api, product):
    bad = post(alice_api, {"lines": [], "card_number": GOOD_CARD}, "k-fix")
    assert bad.status_code == 400 and "lines" in bad.json()
    good = post(alice_api, order_body(product), "k-fix")
    assert good.status_code == 201 and "Idempotent-Replayed" not in good


def test_keys_belong_to_one_customer(alice_api, bob_api, product):
    mine = post(alice_api, order_body(product), "k-shared").json()
    theirs = post(bob_api, order_body(product, 2), "k-shared")
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]


def test_a_key_whose_first_request_still_runs_is_409_with_retry_after(alice, alice_api, product):
    from orders import idempotency

    IdempotencyKey.objects.create(
        customer=alice, key="k-busy", claim="someone-else",
        request_hash=idempotency.fingerprint(order_body(product)),
        lease_until=timezone.now() + timedelta(seconds=30))
    resp = post(alice_api, order_body(product), "k-busy")
    assert resp.status_code == 409 and resp["Retry-After"] == "1"
    assert resp.json()["code"] == "idempotency_key_in_use" and not Order.objects.exists()


def test_a_claim_left_by_a_dead_request_is_taken_over_after_its_lease(alice, alice_api, product):
    from orders import idempotency

    IdempotencyKey.objects.create(
        customer=alice, key="k-dead", claim="killed-mid-request",
        request_hash=idempotency.fingerprint(order_body(product)),
        lease_until=timezone.now() - timedelta(seconds=1))
    resp = post(alice_api, order_body(product), "k-dead")
    assert resp.status_code == 201 and Order.objects.count() == 1


def test_a_request_that_lost_its_claim_keeps_nothing(alice, product):
    """A request that outlived its lease while a retry took the key over must not commit."""
    from orders import idempotency, services

    claim = idempotency.begin(alice, "k-lost", order_body(product))
    IdempotencyKey.objects.filter(pk=claim.pk).update(claim="the-retry")
    before = stock_of(product)
    with pytest.raises(idempotency.ClaimLost):
        idempotency.place_once(claim, lambda: services.place_order(
            alice, [services.Line(product.id, 1)], GOOD_CARD))
    assert stock_of(product) == before and not Order.objects.exists()


def test_without_a_key_every_post_is_a_new_order(alice_api, product):
    alice_api.post(URL, order_body(product), format="json")
    alice_api.post(URL, order_body(product), format="json")
    assert Order.objects.count() == 2
