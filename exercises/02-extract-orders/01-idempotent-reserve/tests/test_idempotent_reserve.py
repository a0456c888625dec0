"""Exercise 02.1: across a network that loses answers, reserve and release are safe to retry."""

import pytest

from inventory import services as inventory
from inventory.models import Reservation

from ..conftest import stock_of

pytestmark = pytest.mark.django_db


def test_a_retried_reserve_takes_the_units_once(product):
    before = stock_of(product)
    first = inventory.reserve("retry-1", [(product.id, 2)])
    again = inventory.reserve("retry-1", [(product.id, 2)])
    assert stock_of(product) == before - 2, "the retry reserved a second time"
    assert first.lines == again.lines


def test_a_retried_release_gives_back_once(product):
    before = stock_of(product)
    inventory.reserve("retry-2", [(product.id, 3)])
    assert inventory.release("retry-2") is True
    assert inventory.release("retry-2") is False
    assert stock_of(product) == before, "the second release gave units back again"


def test_a_release_that_arrives_first_leaves_a_tombstone(product):
    before = stock_of(product)
    assert inventory.release("slow-1") is False
    tombstone = Reservation.objects.filter(pk="slow-1").first()
    assert tombstone is not None, "an unknown id left no trace: a late reserve will succeed"
    assert tombstone.status == "released" and tombstone.lines == []
    with pytest.raises(inventory.ReservationReleased):
        inventory.reserve("slow-1", [(product.id, 1)])
    assert stock_of(product) == before


def test_different_ids_are_different_reservations(product):
    before = stock_of(product)
    inventory.reserve("a-1", [(product.id, 1)])
    inventory.reserve("a-2", [(product.id, 1)])
    assert stock_of(product) == before - 2
