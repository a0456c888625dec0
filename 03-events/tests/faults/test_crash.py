"""kill -9 of the orders service, at random moments, while customers keep ordering: no unit of
stock is lost or doubled. After a restart and one expiry, stock + confirmed units = initial.

Where the process dies decides what is left half-done, and who settles it:
- before the order's commit: its reservation is pending, and expires (the monolith gives it back);
- after the commit, before the confirmation: the order is pending, and the sweeper confirms it
  (or rejects and refunds it, if the hold ran out first);
- while undoing: the release it owed was recorded with the undo, and the sweeper delivers it.
"""

import random
import threading

from .conftest import customers_shopping, eventually, reached, summary

# Short holds and budgets: one expiry is seconds, not a minute.
STAGE_ENV = {
    "RESERVATION_HOLD_SECONDS": "8",
    "RESERVATION_SWEEP_SECONDS": "0.5",
    "REQUEST_BUDGET_MS": "4000",
    "SETTLE_MARGIN_SECONDS": "1",
    "SWEEP_SECONDS": "0.5",
    "PAYMENT_TIMEOUT_SECONDS": "0.2",
}
INITIAL, KILLS = 300, 5


def test_killing_the_orders_service_at_random_loses_and_doubles_nothing(shop):
    product = shop.product_id("french-press")
    shop.set_stock(product, INITIAL)
    first_order = shop.last_order_id()
    answers, stop = [], threading.Event()
    buyers = customers_shopping(shop, product, stop, answers, buyers=4)
    rng = random.Random()
    try:
        for kill in range(KILLS):
            # At a random moment: after a random number of orders the service answered,
            # somewhere inside the next ones.
            seen = reached(answers) + rng.randint(1, 6)
            eventually(lambda seen=seen: reached(answers) >= seen,
                       f"orders flowing before kill {kill}")
            threading.Event().wait(rng.uniform(0, 0.05))
            shop.kill("orders")
            shop.restart("orders")
        seen = reached(answers) + 5
        eventually(lambda: reached(answers) >= seen, "orders flowing after the last restart")
    finally:
        stop.set()
        for buyer in buyers:
            buyer.join(90)
    eventually(shop.settled, "every pending order and reservation settled", timeout=180)

    confirmed = shop.confirmed_units(product, first_order)
    print(f"\n{len(answers)} orders placed ({summary(answers)}), {KILLS} kills; "
          f"{confirmed} units confirmed, {shop.stock(product)} in stock of {INITIAL}")
    assert shop.stock(product) + confirmed == INITIAL, "units lost or doubled"
    for answer in answers:  # an order answered 201 is never undone
        if answer.status == 201:
            assert shop.order_status(answer.order_id) == "confirmed", answer
