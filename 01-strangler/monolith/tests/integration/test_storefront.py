"""The HTML pages: they render, name their service, and drive the same place-order use case."""

import re

import pytest
from django.test import Client

from catalog.models import Product
from orders.models import Order

from ..conftest import DECLINED_CARD, GOOD_CARD, stock_of

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


def test_cart_checkout_and_history_through_the_forms(browser):
    _login(browser)
    product = Product.objects.get(slug="french-press")
    before = stock_of(product)
    browser.post(f"/cart/add/{product.id}/", {"quantity": 2})
    assert "French press" in browser.get("/cart/").content.decode()
    resp = browser.post("/checkout/", {"card_number": GOOD_CARD})
    order = Order.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/orders/{order.id}/"
    assert stock_of(product) == before - 2
    history = browser.get("/orders/").content.decode()
    assert f"#{order.id}" in history and FOOTER in history
    browser.post(f"/orders/{order.id}/")  # the cancel button
    assert stock_of(product) == before
    assert Order.objects.get().status == "cancelled"


def test_a_declined_card_at_checkout_shows_the_reason_and_keeps_the_cart(browser):
    _login(browser)
    product = Product.objects.get(slug="french-press")
    browser.post(f"/cart/add/{product.id}/", {"quantity": 1})
    page = browser.post("/checkout/", {"card_number": DECLINED_CARD}).content.decode()
    assert re.search(r"card was declined", page)
    assert not Order.objects.exists()
    assert "French press" in browser.get("/cart/").content.decode()


def test_admin_login_page_answers(browser):
    assert browser.get("/admin/login/").status_code == 200
    assert browser.login(username="admin", password="workshop-admin")
    assert browser.get("/admin/orders/order/").status_code == 200
