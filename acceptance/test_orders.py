"""Placing, reading and cancelling orders: the happy paths of the order lifecycle."""

from datetime import datetime

from conftest import eventually, stock_of


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_order_is_confirmed_totals_its_lines_and_takes_the_stock(alice, anon, in_stock,
                                                                     place_order):
    first, second = in_stock(2, at_least=3)
    before = {p["id"]: stock_of(anon, p["id"]) for p in (first, second)}
    lines = [{"product_id": first["id"], "quantity": 2},
             {"product_id": second["id"], "quantity": 1}]

    status, reason, order = place_order(alice, lines)

    assert status == "confirmed", (reason, order)
    assert {"id", "status", "reason", "total_cents", "lines", "created_at"} <= order.keys()
    by_product = {line["product_id"]: line for line in order["lines"]}
    assert set(by_product) == {first["id"], second["id"]}
    for product, quantity in ((first, 2), (second, 1)):
        line = by_product[product["id"]]
        assert line["quantity"] == quantity
        assert line["unit_price_cents"] == product["price_cents"]
        assert line["product_name"] == product["name"]
    assert order["total_cents"] == 2 * first["price_cents"] + second["price_cents"]
    assert order["total_cents"] == sum(
        line["quantity"] * line["unit_price_cents"] for line in order["lines"])
    assert isinstance(order["total_cents"], int)

    def stock_taken():
        assert stock_of(anon, first["id"]) == before[first["id"]] - 2
        assert stock_of(anon, second["id"]) == before[second["id"]] - 1

    eventually(stock_taken)


def test_a_synchronous_201_says_where_the_order_lives(alice, in_stock, place_order):
    product = in_stock()[0]
    outcome = place_order(alice, [{"product_id": product["id"], "quantity": 1}])
    assert outcome.response.status_code in (201, 202)
    if outcome.response.status_code == 201:
        location = outcome.response.headers.get("Location", "")
        assert location.rstrip("/").endswith(f"/api/v1/orders/{outcome.order_id}"), location


def test_a_placed_order_tops_the_customers_history_and_its_detail_matches(alice, in_stock,
                                                                          place_order):
    product = in_stock()[0]
    status, _, order = place_order(alice, [{"product_id": product["id"], "quantity": 1}])
    assert status == "confirmed"

    history = alice.get("/api/v1/orders/")
    assert history.status_code == 200
    page = history.json()
    assert {"count", "next", "previous", "results"} <= page.keys()
    assert page["results"][0]["id"] == order["id"], "newest first"

    detail = alice.get(f"/api/v1/orders/{order['id']}/")
    assert detail.status_code == 200
    got = detail.json()
    for field in ("id", "status", "total_cents", "lines", "created_at"):
        assert got[field] == order[field], field
    assert got["status"] == "confirmed"


def test_the_history_is_newest_first(alice, in_stock, place_order):
    product = in_stock()[0]
    ids = [place_order(alice, [{"product_id": product["id"], "quantity": 1}]).order_id
           for _ in range(2)]
    results = alice.get("/api/v1/orders/").json()["results"]
    assert [o["id"] for o in results[:2]] == ids[::-1]
    times = [parse_time(o["created_at"]) for o in results]
    assert times == sorted(times, reverse=True)


def test_the_same_product_twice_is_merged_into_one_line(alice, anon, in_stock, place_order):
    product = in_stock(at_least=4)[0]
    before = stock_of(anon, product["id"])
    status, _, order = place_order(alice, [{"product_id": product["id"], "quantity": 1},
                                           {"product_id": product["id"], "quantity": 2}])
    assert status == "confirmed"
    assert [(line["product_id"], line["quantity"]) for line in order["lines"]] == [
        (product["id"], 3)]
    assert order["total_cents"] == 3 * product["price_cents"]
    eventually(lambda: _assert_equal(stock_of(anon, product["id"]), before - 3))


def test_twenty_lines_is_allowed(alice, anon, in_stock, place_order):
    products = in_stock(20, at_least=1)
    status, reason, order = place_order(
        alice, [{"product_id": p["id"], "quantity": 1} for p in products])
    assert status == "confirmed", (reason, order)
    assert len(order["lines"]) == 20


def test_quantity_100_is_valid_and_so_only_short_of_stock(alice, anon, in_stock, place_order):
    product = in_stock()[0]
    before = stock_of(anon, product["id"])
    assert before < 100, "the seed stocks 5..50 units"
    status, reason, body = place_order(alice, [{"product_id": product["id"], "quantity": 100}])
    assert (status, reason) == ("rejected", "out_of_stock"), body
    eventually(lambda: _assert_equal(stock_of(anon, product["id"]), before))


def test_any_well_formed_card_of_12_to_19_digits_pays(alice, in_stock, place_order):
    product = in_stock()[0]
    for card in ("424242424242", "4111111111111111", "4242424242424242424"):
        status, reason, _ = place_order(alice, [{"product_id": product["id"], "quantity": 1}],
                                        card)
        assert (status, reason) == ("confirmed", None), card


def test_cancelling_restores_the_stock_and_the_order_reads_cancelled(alice, anon, in_stock,
                                                                     place_order):
    product = in_stock(at_least=2)[0]
    before = stock_of(anon, product["id"])
    status, _, order = place_order(alice, [{"product_id": product["id"], "quantity": 2}])
    assert status == "confirmed"
    eventually(lambda: _assert_equal(stock_of(anon, product["id"]), before - 2))

    resp = alice.post(f"/api/v1/orders/{order['id']}/cancel/")

    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == order["id"]
    assert resp.json()["status"] == "cancelled"
    assert alice.get(f"/api/v1/orders/{order['id']}/").json()["status"] == "cancelled"
    eventually(lambda: _assert_equal(stock_of(anon, product["id"]), before))


def test_cancelling_twice_is_409_not_cancellable_and_restores_stock_once(alice, anon, in_stock,
                                                                         place_order):
    product = in_stock()[0]
    before = stock_of(anon, product["id"])
    _, _, order = place_order(alice, [{"product_id": product["id"], "quantity": 1}])
    assert alice.post(f"/api/v1/orders/{order['id']}/cancel/").status_code == 200
    eventually(lambda: _assert_equal(stock_of(anon, product["id"]), before))

    again = alice.post(f"/api/v1/orders/{order['id']}/cancel/")

    assert again.status_code == 409
    assert again.json()["code"] == "not_cancellable"
    assert stock_of(anon, product["id"]) == before
    assert alice.get(f"/api/v1/orders/{order['id']}/").json()["status"] == "cancelled"


def test_another_customers_order_is_404_to_read_and_to_cancel(alice, bob, anon, in_stock,
                                                             place_order):
    product = in_stock()[0]
    _, _, order = place_order(alice, [{"product_id": product["id"], "quantity": 1}])
    after_order = stock_of(anon, product["id"])

    assert bob.get(f"/api/v1/orders/{order['id']}/").status_code == 404
    assert bob.post(f"/api/v1/orders/{order['id']}/cancel/").status_code == 404

    assert alice.get(f"/api/v1/orders/{order['id']}/").json()["status"] == "confirmed"
    assert stock_of(anon, product["id"]) == after_order


def test_a_customers_history_holds_only_their_own_orders(alice, bob, in_stock, place_order):
    product = in_stock()[0]
    _, _, order = place_order(alice, [{"product_id": product["id"], "quantity": 1}])
    bobs = bob.get("/api/v1/orders/")
    assert bobs.status_code == 200
    assert order["id"] not in {o["id"] for o in bobs.json()["results"]}
    assert alice.get("/api/v1/orders/").json()["results"][0]["id"] == order["id"]


def test_an_unknown_order_is_404(alice):
    assert alice.get("/api/v1/orders/999999999/").status_code == 404
    assert alice.post("/api/v1/orders/999999999/cancel/").status_code == 404


def _assert_equal(got, expected):
    assert got == expected, f"got {got}, expected {expected}"
