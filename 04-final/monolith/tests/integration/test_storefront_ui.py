"""What a person sees in the pages: an icon, a heading, prices in euros, why a login is asked."""

import pytest
from django.test import Client

from catalog.models import Product


@pytest.fixture
def browser(seeded):
    return Client()


def test_every_page_links_an_icon_that_is_served(browser):
    page = browser.get("/").content.decode()
    assert '<link rel="icon" type="image/svg+xml" href="/static/storefront/favicon.svg">' in page
    icon = browser.get("/static/storefront/favicon.svg")
    assert icon.status_code == 200 and icon["Content-Type"].startswith("image/svg+xml")


def test_favicon_ico_leads_to_the_icon_for_pages_without_a_link(browser):
    # The admin and the API docs have no icon link: browsers then ask for /favicon.ico.
    resp = browser.get("/favicon.ico", follow=True)
    assert resp.status_code == 200 and resp.redirect_chain[-1][0].endswith("/favicon.svg")


def test_the_home_page_has_a_heading(browser):
    assert "<h1>Our products</h1>" in browser.get("/").content.decode()
    assert "<h1>Products matching “tea”</h1>" in browser.get("/?q=tea").content.decode()


def test_prices_are_shown_in_euros(browser):
    product = Product.objects.get(slug="french-press")  # 3400 cents
    assert "€34.00" in browser.get("/?q=french").content.decode()
    assert '<p class="price">€34.00</p>' in browser.get("/products/french-press/").content.decode()
    browser.post(f"/cart/add/{product.id}/", {"quantity": 2})
    assert "€68.00" in browser.get("/cart/").content.decode()


@pytest.mark.parametrize(
    ("going_to", "why"),
    [
        ("/checkout/", "Please log in to check out. Your cart is kept."),
        ("/orders/", "Please log in to see your orders."),
    ],
)
def test_a_page_that_needs_a_login_says_why_on_the_login_page(browser, going_to, why):
    product = Product.objects.get(slug="french-press")
    browser.post(f"/cart/add/{product.id}/", {"quantity": 1})
    resp = browser.get(going_to, follow=True)
    assert resp.redirect_chain[-1][0] == f"/accounts/login/?next={going_to}"
    assert why in resp.content.decode()


def test_the_login_page_opened_by_hand_gives_no_reason(browser):
    assert 'role="status"' not in browser.get("/accounts/login/").content.decode()


def test_the_cart_survives_the_login_that_checkout_asks_for(browser):
    product = Product.objects.get(slug="french-press")
    browser.post(f"/cart/add/{product.id}/", {"quantity": 2})
    resp = browser.post(
        "/accounts/login/?next=/checkout/",
        {"username": "alice", "password": "wonderland", "next": "/checkout/"},
        follow=True,
    )
    assert resp.redirect_chain[-1][0] == "/checkout/"
    assert "€68.00" in resp.content.decode()


def test_the_admin_says_its_orders_are_the_frozen_copy_and_where_the_live_ones_are(browser, alice):
    from orders.models import Order

    legacy = Order.objects.create(customer=alice, status="confirmed", total_cents=900)
    assert browser.login(username="admin", password="workshop-admin")
    index = browser.get("/admin/").content.decode()
    assert "Orders (frozen copy: live orders are in the orders service)" in index
    for path in ["/admin/orders/order/", f"/admin/orders/order/{legacy.id}/change/"]:
        page = browser.get(path)
        assert page.status_code == 200, path
        text = page.content.decode()
        assert "Frozen copy." in text and "copy_orders_from_monolith" in text, path
        assert "orders service's own database" in text and 'href="/api/v1/orders/"' in text, path
