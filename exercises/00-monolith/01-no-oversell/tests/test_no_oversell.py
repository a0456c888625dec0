"""Exercise 00.1: the last unit can be sold once, whatever the timing.

SQLite runs one writer at a time, so a race cannot be shown on a laptop reliably; what makes a
reservation race-free can: the database must check and decrement in ONE statement. (On
PostgreSQL, stage 00's own `test_concurrency.py` fires 50 real buyers at 5 units.)
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product
from inventory import services as inventory
from inventory.models import Stock


@pytest.fixture
def teapot(db):
    product = Product.objects.create(slug="teapot", name="Teapot", price_cents=100)
    Stock.objects.create(product=product, quantity=1)
    return product


def test_a_reservation_is_one_conditional_update(teapot):
    with CaptureQueriesContext(connection) as queries:
        inventory.reserve(teapot.id, 1)
    sql = [q["sql"].upper() for q in queries.captured_queries]
    assert len(sql) == 1, f"{len(sql)} statements: a read, then a write, leaves a gap:\n{sql}"
    assert sql[0].startswith("UPDATE") and ">=" in sql[0], sql[0]


def test_a_failed_reservation_is_one_statement_too(teapot):
    inventory.reserve(teapot.id, 1)
    with CaptureQueriesContext(connection) as queries, pytest.raises(inventory.OutOfStock):
        inventory.reserve(teapot.id, 1)
    assert len(queries.captured_queries) == 1


def test_the_last_unit_sells_once_and_stock_never_goes_below_zero(teapot):
    inventory.reserve(teapot.id, 1)
    with pytest.raises(inventory.OutOfStock):
        inventory.reserve(teapot.id, 1)
    assert Stock.objects.get(product=teapot).quantity == 0
