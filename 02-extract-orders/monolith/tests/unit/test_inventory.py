"""Reservations: never oversell, and safe to retry across a network that loses answers."""

import pytest

from inventory import services as inventory
from inventory.models import Reservation

from ..conftest import stock_of

pytestmark = pytest.mark.django_db


def test_reserve_takes_units_and_release_gives_them_back(product):
    before = stock_of(product)
    reservation = inventory.reserve("r-1", [(product.id, 3)])
    assert reservation.lines == [{"product_id": product.id, "product_name": product.name,
                                  "unit_price_cents": product.price_cents, "quantity": 3}]
    assert stock_of(product) == before - 3
    assert inventory.release("r-1") is True
    assert stock_of(product) == before


def test_reserving_the_same_id_twice_reserves_once(product):
    before = stock_of(product)
    first = inventory.reserve("r-2", [(product.id, 2)])
    again = inventory.reserve("r-2", [(product.id, 2)])
    assert first.pk == again.pk and stock_of(product) == before - 2


def test_releasing_twice_gives_back_once(product):
    before = stock_of(product)
    inventory.reserve("r-3", [(product.id, 2)])
    assert inventory.release("r-3") is True
    assert inventory.release("r-3") is False
    assert stock_of(product) == before


def test_a_release_that_overtakes_its_reserve_leaves_a_tombstone(product):
    """The caller timed out and released; its reserve arrives late and must take nothing."""
    before = stock_of(product)
    assert inventory.release("r-late") is False
    with pytest.raises(inventory.ReservationReleased):
        inventory.reserve("r-late", [(product.id, 1)])
    assert stock_of(product) == before
    assert Reservation.objects.get(pk="r-late").status == "released"


def test_reserving_more_than_is_left_changes_nothing_on_any_line(product, seeded):
    from catalog.models import Product

    teapot = Product.objects.get(slug="last-teapot")
    before = (stock_of(product), stock_of(teapot))
    with pytest.raises(inventory.OutOfStock) as exc:
        inventory.reserve("r-4", [(product.id, 1), (teapot.id, 2)])
    assert exc.value.product_id == teapot.id
    assert (stock_of(product), stock_of(teapot)) == before
    assert not Reservation.objects.filter(pk="r-4").exists()


def test_an_unknown_product_is_named(seeded):
    with pytest.raises(inventory.UnknownProduct) as exc:
        inventory.reserve("r-5", [(999999, 1)])
    assert exc.value.product_id == 999999


def test_the_last_unit_can_be_reserved_exactly_once(seeded):
    from catalog.models import Product

    teapot = Product.objects.get(slug="last-teapot")
    inventory.reserve("r-6", [(teapot.id, 1)])
    with pytest.raises(inventory.OutOfStock):
        inventory.reserve("r-7", [(teapot.id, 1)])
    assert stock_of(teapot) == 0
