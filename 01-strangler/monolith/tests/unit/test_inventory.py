import pytest

from inventory import services as inventory
from inventory.models import Stock


@pytest.fixture
def stock(db):
    from catalog.models import Product

    product = Product.objects.create(slug="p", name="P", price_cents=100)
    return Stock.objects.create(product=product, quantity=3)


def test_reserve_takes_units_and_release_gives_them_back(stock):
    inventory.reserve(stock.product_id, 2)
    assert inventory.available(stock.product_id) == 1
    inventory.release(stock.product_id, 2)
    assert inventory.available(stock.product_id) == 3


def test_reserving_more_than_is_left_changes_nothing(stock):
    with pytest.raises(inventory.OutOfStock) as exc:
        inventory.reserve(stock.product_id, 4)
    assert exc.value.product_id == stock.product_id
    assert inventory.available(stock.product_id) == 3


def test_the_last_units_can_be_reserved_exactly_once(stock):
    inventory.reserve(stock.product_id, 3)
    with pytest.raises(inventory.OutOfStock):
        inventory.reserve(stock.product_id, 1)
    assert inventory.available(stock.product_id) == 0


def test_the_database_itself_refuses_negative_stock(stock):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Stock.objects.filter(pk=stock.pk).update(quantity=-1)
