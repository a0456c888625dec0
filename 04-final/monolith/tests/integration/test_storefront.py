"""The HTML pages: they render, name their service, and call the orders service's clients."""

import re
from datetime import datetime, timezone

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from catalog.models import Product
from storefront.clients import orders_grpc, orders_http

from ..conftest import DECLINED_CARD, GOOD_CARD

FOOTER = '<footer>Rendered by <span data-service="monolith">monolith</span></footer>'


@pytest.fixture
def browser(seeded):
    return Client()


@pytest.mark.parametrize(
    "path", ["/", "/?q=tea", "/?page=2", "/products/last-teapot/", "/cart/", "/accounts/login/"]
)
def test_public_pages_render_and_name_their_service(browser, path):
    resp = browser.get(path)
    assert resp.status_code == 200
    assert FOOTER in resp.content.decode()


def test_search_on_the_page_filters_products(browser):
    page = browser.get("/?q=teapot").content.decode()
    assert "The last teapot" in page and "Espresso cup" not in page


def test_history_needs_a_login(browser):
    resp = browser.get("/orders/")
    assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/")


def _login(browser):
    resp = browser.post("/accounts/login/", {"username": "alice", "password": "wonderland"})
    assert resp.status_code == 302


class FakeOrders:
    """Both orders clients, in memory: the pages' own logic under test. That the real clients
    and the real service agree is the pact's job (tests/contract) and the acceptance suite's."""

    def __init__(self):
        self.orders, self.calls = {}, []

    def install(self, monkeypatch):
        monkeypatch.setattr(orders_http.OrdersClient, "place_order",
                            lambda client, lines, card: self.place(client, lines, card))
        monkeypatch.setattr(orders_http.OrdersClient, "cancel_order",
                            lambda client, order_id: self.cancel(order_id))
        monkeypatch.setattr(orders_grpc, "orders_of", lambda customer_id: list(
            reversed(self.orders.values())))
        monkeypatch.setattr(orders_grpc, "order_of", self.get)
        monkeypatch.setattr(orders_grpc, "history_of", lambda customer_id: (list(
            reversed(self.orders.values())), orders_grpc.Lag()))

    def place(self, client, lines, card):
        self.calls.append(("place", client.headers["Authorization"], lines, card))
        if card == DECLINED_CARD:
            raise orders_http.Rejected("payment_declined", "the card was declined")
        order_id = len(self.orders) + 1
        self.orders[order_id] = orders_grpc.Order(
            order_id, "confirmed", "", 100, [orders_grpc.Line(pid, "x", qty, 50)
                                             for pid, qty in lines], datetime.now(timezone.utc))
        return {"id": order_id, "status": "confirmed"}

    def cancel(self, order_id):
        self.calls.append(("cancel", order_id))
        order = self.orders[order_id]
        self.orders[order_id] = orders_grpc.Order(order.id, "cancelled", "", order.total_cents,
                                                  order.lines, order.created_at)
        return {"id": order_id, "status": "cancelled"}

    def get(self, customer_id, order_id):
        if order_id not in self.orders:
            raise orders_grpc.NotFound(order_id)
        return self.orders[order_id]


@pytest.fixture
def fake_orders(monkeypatch):
    fake = FakeOrders()
    fake.install(monkeypatch)
    return fake


def test_checkout_places_the_order_as_the_customer_and_history_shows_it(browser, fake_orders):
    _login(browser)
    product = Product.objects.get(slug="french-press")
    browser.post(f"/cart/add/{product.id}/", {"quantity": 2})
    assert "French press" in browser.get("/cart/").content.decode()
    resp = browser.post("/checkout/", {"card_number": GOOD_CARD})
    assert resp.status_code == 302 and resp["Location"] == "/orders/1/"
    (_, auth, lines, card), = fake_orders.calls
    alice_token = Token.objects.get(user__username="alice").key
    assert auth == f"Token {alice_token}" and lines == [(product.id, 2)] and card == GOOD_CARD
    history = browser.get("/orders/").content.decode()
    assert "#1" in history and FOOTER in history
    browser.post("/orders/1/")  # the cancel button
    assert fake_orders.calls[-1] == ("cancel", 1)
    assert "cancelled" in browser.get("/orders/1/").content.decode()


def test_the_history_says_when_the_read_model_is_behind(browser, fake_orders, monkeypatch):
    _login(browser)
    assert "behind" not in browser.get("/orders/").content.decode()  # up to date: nothing said
    monkeypatch.setattr(orders_grpc, "history_of", lambda customer_id: (
        [], orders_grpc.Lag(3, 1.24)))
    page = browser.get("/orders/").content.decode()
    assert "This history is 3 updates (1.2 s) behind" in page
    # what the orders service sends as trailing metadata (orders/rpc/servicers.py)
    assert orders_grpc._lag([("x-projection-lag", "events=3; seconds=1.250")]) == (
        orders_grpc.Lag(3, 1.25))
    assert orders_grpc._lag([("x-projection-lag", "garbled")]) == orders_grpc.Lag()


def test_a_declined_card_at_checkout_shows_the_reason_and_keeps_the_cart(browser, fake_orders):
    _login(browser)
    product = Product.objects.get(slug="french-press")
    browser.post(f"/cart/add/{product.id}/", {"quantity": 1})
    page = browser.post("/checkout/", {"card_number": DECLINED_CARD}).content.decode()
    assert re.search(r"card was declined", page)
    assert "French press" in browser.get("/cart/").content.decode()


def test_with_the_orders_service_down_the_pages_still_render_and_say_so(browser, settings):
    """Graceful degradation: nothing listens at these addresses, the shop still answers."""
    settings.ORDERS_URL = "http://127.0.0.1:9"
    settings.ORDERS_GRPC = "127.0.0.1:9"
    _login(browser)
    history = browser.get("/orders/")
    assert history.status_code == 200 and "unavailable right now" in history.content.decode()
    product = Product.objects.get(slug="french-press")
    browser.post(f"/cart/add/{product.id}/", {"quantity": 1})
    page = browser.post("/checkout/", {"card_number": GOOD_CARD})
    assert page.status_code == 200 and "may or may not have" in page.content.decode()
    assert FOOTER in browser.get("/").content.decode()


def test_someone_elses_order_page_is_404(browser, fake_orders):
    _login(browser)
    assert browser.get("/orders/42/").status_code == 404


def test_admin_login_page_answers_and_legacy_orders_are_read_only(browser):
    assert browser.get("/admin/login/").status_code == 200
    assert browser.login(username="admin", password="workshop-admin")
    assert browser.get("/admin/orders/order/").status_code == 200
    assert browser.get("/admin/orders/order/add/").status_code == 403
