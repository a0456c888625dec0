"""Reservations: never oversell, safe to retry across a network that loses answers, and never
leaked by a caller that dies before it confirms."""

from datetime import timedelta

import pytest
from django.utils import timezone

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


def expire(reservation_id: str) -> None:
    Reservation.objects.filter(pk=reservation_id).update(
        expires_at=timezone.now() - timedelta(seconds=1))


def test_a_reservation_is_pending_until_confirmed_and_confirming_twice_is_fine(product):
    inventory.reserve("r-8", [(product.id, 1)], hold_seconds=30)
    pending = Reservation.objects.get(pk="r-8")
    assert pending.status == "pending"
    assert timedelta(seconds=25) < pending.expires_at - timezone.now() <= timedelta(seconds=30)
    inventory.confirm("r-8")
    inventory.confirm("r-8")
    confirmed = Reservation.objects.get(pk="r-8")
    assert confirmed.status == "confirmed" and confirmed.expires_at is None


def test_an_expired_unconfirmed_reservation_is_given_back_by_the_sweeper(product):
    """The caller reserved, then died before its order was committed: nobody will release it."""
    before = stock_of(product)
    inventory.reserve("r-9", [(product.id, 2)])
    inventory.reserve("r-10", [(product.id, 1)])
    assert inventory.release_expired() == []  # nothing has expired yet
    expire("r-9")
    assert inventory.release_expired() == ["r-9"]
    assert stock_of(product) == before - 1
    assert inventory.release_expired() == []  # once
    # Its caller, late, can no longer confirm it: it must undo its order instead.
    with pytest.raises(inventory.ReservationReleased):
        inventory.confirm("r-9")


def test_the_sweeper_never_takes_back_a_confirmed_reservation(product):
    before = stock_of(product)
    inventory.reserve("r-11", [(product.id, 2)])
    expire("r-11")
    inventory.confirm("r-11")  # confirmed after its hold, before the sweeper came: still held
    assert inventory.release_expired() == []
    assert stock_of(product) == before - 2
    assert inventory.release("r-11") is True  # a cancelled order still gives it back
    assert stock_of(product) == before


def test_confirming_what_was_never_reserved_is_an_error(seeded):
    with pytest.raises(inventory.UnknownReservation):
        inventory.confirm("r-never")


def test_past_the_callers_deadline_nothing_is_reserved_or_confirmed(product):
    before = stock_of(product)
    with pytest.raises(inventory.DeadlineExceeded):
        inventory.reserve("r-12", [(product.id, 1)], deadline=0)  # long gone
    assert stock_of(product) == before and not Reservation.objects.filter(pk="r-12").exists()
    inventory.reserve("r-13", [(product.id, 1)])
    with pytest.raises(inventory.DeadlineExceeded):
        inventory.confirm("r-13", deadline=0)
    assert Reservation.objects.get(pk="r-13").status == "pending"
