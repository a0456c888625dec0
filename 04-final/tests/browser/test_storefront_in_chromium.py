"""A customer's walk through the shop in a real browser: what no HTTP-level test sees.

Browse, search, open a product, fill the cart, check out as a stranger (the login page says
why), log in, pay; a declined card; the last teapot sold to someone else first; My orders and a
cancellation. Since stage 03 checkout answers at once (`pending`) and the order page refreshes
until the saga has decided: a decline or a sold-out item shows there, with its reason.
The conftest checks every page (its footer names the service that rendered it)
and, after each test, that nothing left 127.0.0.1 and nothing answered 400 or more.
"""

import contextlib
import re
import time

import pytest

PRICE = re.compile(r"^€\d+\.\d{2}$")
GOOD_CARD = "4242424242424242"
GOOD_CARD_SPACED = "4242 4242 4242 4242"  # as people type it: the page accepts the spaces
DECLINED_CARD = "4000000000000002"


def test_the_detector_sees_a_request_that_would_leave_the_machine(network_log):
    # The no-request-leaves check must be able to fail: a page that asks another host is caught.
    # (Every host name resolves to nothing here, so nothing is sent; the attempt is still logged.)
    network_log.driver.get("data:text/html,<img src='http://shop.invalid/pixel.png'>")
    network_log.drain()
    assert network_log.left_the_machine() == ["http://shop.invalid/pixel.png"]


def test_without_chromium_the_walk_skips_on_a_laptop_and_fails_in_ci(find_chromium, monkeypatch):
    for name in ["CHROMIUM", "CHROMEDRIVER"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", "")  # a laptop with neither
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        find_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no Chromium here"):
        find_chromium()


def test_browse_search_and_open_a_product(shop):
    shop.open("/", "home")
    assert shop.text("h1") == "Our products"
    prices = shop.texts(".card .price")
    assert prices and all(PRICE.match(p) for p in prices), prices
    assert shop.fetch(shop.find("link[rel~=icon]").get_attribute("href"))["status"] == 200
    icon = shop.fetch("/favicon.ico")  # what a page without an icon link makes a browser ask
    assert icon["status"] == 200 and icon["type"].startswith("image/"), icon

    shop.submit("form.search", {"q": "teapot"}, "search")
    assert shop.path == "/?q=teapot"
    assert shop.text("h1") == "Products matching “teapot”"
    assert shop.texts(".card strong") == ["The last teapot"]

    shop.click(".card a", "product", text="The last teapot")
    assert shop.path == "/products/last-teapot/"
    assert shop.text("h1") == "The last teapot"
    assert shop.text(".price") == "€45.00"
    assert {service for _, service in shop.pages} == {"monolith"}


def test_checkout_as_a_stranger_asks_for_a_login_then_pays_and_the_order_can_be_cancelled(
    shop, shop_api, order_pages_by
):
    before = shop_api.product("french-press")["stock"]
    shop.open("/products/french-press/", "product")
    shop.submit("main form", {"quantity": "2"}, "cart")
    assert shop.path == "/cart/"
    assert "Added to your cart." in shop.messages()
    assert shop.find("header nav a", text="Cart").text == "Cart (2)"
    assert shop.texts("table tr:last-child th")[-1] == "€68.00"

    shop.click("a.button", "login-asked", text="Check out")
    assert shop.path == "/accounts/login/?next=/checkout/"
    assert "Please log in to check out. Your cart is kept." in shop.messages()

    shop.log_in("alice", "checkout")
    assert shop.path == "/checkout/"
    assert "€68.00" in shop.text("main p strong")

    shop.submit("main form", {"card_number": GOOD_CARD_SPACED}, "accepted")
    order_id = int(re.fullmatch(r"/orders/(\d+)/", shop.path).group(1))
    # Accepted at once, decided by the saga a moment later: the page refreshes until then.
    assert shop.messages() == [f"Thank you! Order #{order_id} is pending."]
    assert settled(shop) == f"Order #{order_id}: confirmed"
    shop.look("paid")
    assert shop.served_by == order_pages_by
    assert shop_api.product("french-press")["stock"] == before - 2
    assert shop.find("header nav a", text="Cart").text == "Cart (0)"

    shop.click("header nav a", "my-orders", text="My orders")
    assert shop.path == "/orders/"
    assert shop.served_by == order_pages_by
    row = shop.find("table tr", text=f"#{order_id}").text
    assert "confirmed" in row and "€68.00" in row, row

    shop.click("table a", "order", text=f"#{order_id}")
    shop.click("main form button", "cancelled", text="Cancel this order")
    assert shop.path == f"/orders/{order_id}/"
    assert shop.messages() == [f"Order #{order_id} is cancelled and refunded."]
    assert shop.text("h1") == f"Order #{order_id}: cancelled"
    assert shop_api.product("french-press")["stock"] == before


def test_a_declined_card_rejects_the_order_with_its_reason_and_takes_no_stock(shop, shop_api):
    before = shop_api.product("moka-pot")["stock"]
    shop.open("/accounts/login/", "login")
    assert not shop.messages(), "nobody sent us here: the login page has no reason to give"
    shop.log_in("alice", "orders")
    shop.open("/products/moka-pot/", "product")
    shop.submit("main form", {"quantity": "1"}, "cart")
    shop.click("a.button", "checkout", text="Check out")

    shop.submit("main form", {"card_number": DECLINED_CARD}, "accepted-then-declined")
    order_id = int(re.fullmatch(r"/orders/(\d+)/", shop.path).group(1))
    # The card is tried after the answer: the order page gives the saga's verdict and reason.
    assert settled(shop) == f"Order #{order_id}: rejected"
    assert shop.text(".reason") == "Not placed: payment_declined. Nothing was charged."
    shop.look("declined")
    assert shop_api.product("moka-pot")["stock"] == before


def test_the_last_teapot_bought_by_someone_else_first_rejects_the_order_as_sold_out(shop, shop_api):
    teapot = shop_api.product("last-teapot")
    assert teapot["stock"] == 1, "the seed leaves exactly one teapot"
    try:
        shop.open("/accounts/login/", "login")
        shop.log_in("alice", "orders")
        shop.open("/products/last-teapot/", "product")
        assert "1 in stock" in shop.text("main")
        shop.submit("main form", {"quantity": "1"}, "cart")
        shop.click("a.button", "checkout", text="Check out")

        assert shop_api.buy("bob", "last-teapot", 1)["status"] == "confirmed"
        shop.submit("main form", {"card_number": GOOD_CARD}, "accepted-then-sold-out")
        order_id = int(re.fullmatch(r"/orders/(\d+)/", shop.path).group(1))
        assert settled(shop) == f"Order #{order_id}: rejected"
        assert shop.text(".reason") == "Not placed: out_of_stock. Nothing was charged."
        shop.look("sold-out")

        shop.open("/products/last-teapot/", "product-sold-out")
        assert "sold out" in shop.text("main")
    finally:
        shop_api.set_stock("last-teapot", 1)



def test_the_admin_shows_the_monoliths_orders_as_the_frozen_copy_they_are(shop):
    shop.open("/admin/", "admin-login", footer=False)
    shop.submit("#login-form", {"username": "admin", "password": "workshop-admin"}, "admin",
                footer=False)
    assert shop.path == "/admin/"
    # (the admin shows app names in capitals)
    assert "orders (frozen copy: live orders are in the orders service)" in shop.text(
        "#content").lower()
    shop.open("/admin/orders/order/", "legacy-orders", footer=False)
    note = shop.text("#content [role=note]")
    assert note.startswith("Frozen copy.") and "orders service's own database" in note, note
    assert shop.find("#content [role=note] a", text="/api/v1/orders/").get_attribute(
        "href").endswith("/api/v1/orders/")


def settled(shop, seconds: float = 30) -> str:
    """The order page's heading once the saga has decided (the page refreshes every second
    while the order is pending)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the page may be mid-refresh
            heading = shop.text("h1")
            if not heading.endswith(": pending"):
                return heading
        time.sleep(0.2)
    pytest.fail(f"the order was still pending after {seconds} s", pytrace=False)
