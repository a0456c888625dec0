"""What makes this a service of its own: it names itself, it is healthy alone, it has the pages."""

import pytest
from django.test import Client

from orders import services

from ..conftest import GOOD_CARD

FOOTER = '<footer>Rendered by <span data-service="orders">orders</span></footer>'


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_names_the_service(api, db, path):
    resp = api.get(path)
    assert resp.status_code == 200 and resp.json()["service"] == "orders"
    assert resp["X-Served-By"] == "orders"


def test_order_pages_need_a_login_at_the_monolith(db):
    resp = Client().get("/orders/")
    assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/")


def test_history_and_detail_pages_render_here_and_name_this_service(alice, product):
    order = services.place_order(alice, [services.Line(product.id, 1)], GOOD_CARD)
    browser = Client()
    browser.force_login(alice)
    history = browser.get("/orders/").content.decode()
    assert f"#{order.id}" in history and FOOTER in history
    detail = browser.get(f"/orders/{order.id}/").content.decode()
    assert product.name in detail and FOOTER in detail
    browser.post(f"/orders/{order.id}/")  # the cancel button
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_the_service_serves_only_orders(api, db):
    # Products, login, admin: still the monolith's. The facade routes only orders here.
    for path in ("/api/v1/products/", "/api/v1/auth/token/", "/admin/"):
        assert api.get(path).status_code == 404
