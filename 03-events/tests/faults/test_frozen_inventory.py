"""The monolith's gRPC server (the inventory) frozen for 10 s while customers keep ordering, as
the instructor does it on stage: a timeout never hides a success.

Before the deadline budget, 19 of 20 answers were 504 and 11 of those orders were confirmed and
paid right after (the front door gave up first; the orders service carried on). Now every hop
answers within the budget the front door gave it, and never commits past it: every 504/502
answer kept nothing (a retry with the same key makes exactly one order), every confirmed order
was answered 201, and stock + confirmed units = initial.
"""

import threading

import httpx

from .conftest import customers_shopping, eventually, summary

STAGE_ENV = {"RESERVATION_HOLD_SECONDS": "20", "PAYMENT_TIMEOUT_SECONDS": "0.2"}
INITIAL, FROZEN_SECONDS, BUYERS = 400, 10, 12


def test_a_frozen_inventory_never_hides_a_success(shop):
    product = shop.product_id("french-press")
    shop.set_stock(product, INITIAL)
    first_order = shop.last_order_id()
    answers, stop = [], threading.Event()
    buyers = customers_shopping(shop, product, stop, answers, buyers=BUYERS)
    try:
        eventually(lambda: len(answers) >= 10, "orders flowing before the freeze")
        with shop.frozen("monolith-grpc"):
            threading.Event().wait(FROZEN_SECONDS)  # the fault's length, not a wait for a result
            during = len(answers)
        seen = len(answers) + 10
        eventually(lambda: len(answers) >= seen, "orders flowing after the thaw")
    finally:
        stop.set()
        for buyer in buyers:
            buyer.join(90)
    eventually(shop.settled, "every pending order and reservation settled")

    failed = [a for a in answers if a.status in (0, 502, 503, 504)]
    placed = {a.order_id for a in answers if a.status == 201}
    confirmed_ids = set(range(first_order + 1, shop.last_order_id() + 1))
    confirmed_ids = {i for i in confirmed_ids if shop.order_status(i) == "confirmed"}
    print(f"\n{len(answers)} orders placed ({summary(answers)}; {during} answered before the "
          f"thaw), {len(confirmed_ids)} confirmed")
    assert failed, "the freeze cost no order: was the inventory frozen at all?"
    assert confirmed_ids == placed, "a confirmed order was not answered 201, or vice versa"
    assert shop.stock(product) + shop.confirmed_units(product, first_order) == INITIAL

    # A client that got no order retries with the same key: exactly one order each, once.
    with httpx.Client(base_url=shop.front, timeout=60) as client:
        retried = [shop.place(client, a.token, product, a.quantity, a.key) for a in failed]
        again = [shop.place(client, a.token, product, a.quantity, a.key) for a in failed]
    assert [r.status_code for r in retried] == [201] * len(failed), [r.text for r in retried]
    assert all(r.headers.get("Idempotent-Replayed") is None for r in retried)
    assert [r.json()["id"] for r in again] == [r.json()["id"] for r in retried]
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in again)
    assert shop.stock(product) + shop.confirmed_units(product, first_order) == INITIAL
