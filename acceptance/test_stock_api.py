"""The stock API is for staff: anonymous 401, customers 403, staff 200."""

import pytest

from conftest import eventually, stock_of


@pytest.fixture
def stock_url(catalogue):
    return f"/api/v1/stock/{catalogue[0]['id']}/"


def test_anonymous_callers_get_401(anon, stock_url):
    assert anon.get("/api/v1/stock/").status_code == 401
    assert anon.get(stock_url).status_code == 401
    assert anon.put(stock_url, json={"quantity": 7}).status_code == 401


def test_customers_get_403(alice, stock_url):
    assert alice.get("/api/v1/stock/").status_code == 403
    assert alice.get(stock_url).status_code == 403
    assert alice.put(stock_url, json={"quantity": 7}).status_code == 403


def test_staff_read_the_stock_list_and_one_products_quantity(admin, anon, catalogue, stock_url):
    assert admin.get("/api/v1/stock/").status_code == 200
    resp = admin.get(stock_url)
    assert resp.status_code == 200
    quantity = resp.json()["quantity"]
    assert isinstance(quantity, int) and not isinstance(quantity, bool)
    assert quantity == stock_of(anon, catalogue[0]["id"])


def test_staff_set_a_quantity_and_the_catalogue_shows_it(admin, anon, in_stock):
    product = in_stock()[0]
    url = f"/api/v1/stock/{product['id']}/"
    before = admin.get(url).json()["quantity"]
    try:
        resp = admin.put(url, json={"quantity": before + 3})
        assert resp.status_code == 200, resp.text

        def shows_new_quantity():
            assert stock_of(anon, product["id"]) == before + 3

        eventually(shows_new_quantity)
    finally:
        assert admin.put(url, json={"quantity": before}).status_code == 200

    def restored():
        assert stock_of(anon, product["id"]) == before

    eventually(restored)


def test_a_refused_stock_change_changes_nothing(alice, anon, in_stock):
    product = in_stock()[0]
    before = stock_of(anon, product["id"])
    url = f"/api/v1/stock/{product['id']}/"
    alice.put(url, json={"quantity": before + 10})
    anon.put(url, json={"quantity": before + 10})
    assert stock_of(anon, product["id"]) == before

