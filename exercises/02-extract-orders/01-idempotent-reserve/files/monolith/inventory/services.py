"""Stock reservations that can never oversell, and that a remote caller can retry safely.

`reserve_units` is a single conditional UPDATE: the database checks and decrements in one step,
under the row lock, so two buyers of the last unit cannot both win.

Since stage 02 the caller is another service, across a network that loses answers. So a
reservation has an id chosen by the caller, and both operations are idempotent by that id:
`reserve` twice reserves once; `release` twice gives back once; a `release` that overtakes its
own `reserve` leaves a tombstone that makes the late `reserve` a no-op (ReservationReleased).
"""

from collections import Counter

from django.db import IntegrityError, transaction
from django.db.models import F

from catalog import services as catalog
from inventory.models import Reservation, Stock


class OutOfStock(Exception):
    def __init__(self, product_id: int):
        super().__init__(f"not enough stock for product {product_id}")
        self.product_id = product_id


class UnknownProduct(Exception):
    def __init__(self, product_id: int):
        super().__init__(f"unknown product {product_id}")
        self.product_id = product_id


class ReservationReleased(Exception):
    """This id was released (perhaps before it was ever reserved): it reserves nothing now."""


def reserve_units(product_id: int, quantity: int) -> None:
    updated = Stock.objects.filter(product_id=product_id, quantity__gte=quantity).update(
        quantity=F("quantity") - quantity
    )
    if not updated:
        raise OutOfStock(product_id)


def release_units(product_id: int, quantity: int) -> None:
    Stock.objects.filter(product_id=product_id).update(quantity=F("quantity") + quantity)


def available(product_id: int) -> int:
    stock = Stock.objects.filter(product_id=product_id).values_list("quantity", flat=True).first()
    return stock or 0


def reserve(reservation_id: str, lines: list[tuple[int, int]]) -> Reservation:
    """Reserve every (product_id, quantity) line or none, once per reservation id."""
    wanted = Counter()
    for product_id, quantity in lines:  # the same product twice becomes one line
        wanted[product_id] += quantity
    # TODO(exercise 02.1, step 1): a reservation id seen before must not reserve again. Answer
    # what was recorded, or raise ReservationReleased if that id was released (a tombstone).
    products = catalog.products_by_id(wanted)
    for product_id in wanted:
        if product_id not in products:
            raise UnknownProduct(product_id)
    try:
        with transaction.atomic():
            # In product-id order: concurrent reservations lock rows in the same order and
            # queue behind each other instead of deadlocking.
            for product_id in sorted(wanted):
                reserve_units(product_id, wanted[product_id])
            reservation, _ = Reservation.objects.update_or_create(
                reservation_id=reservation_id,
                defaults={"status": Reservation.Status.RESERVED, "lines": [
                    {
                        "product_id": pid,
                        "product_name": products[pid].name,
                        "unit_price_cents": products[pid].price_cents,
                        "quantity": qty,
                    }
                    for pid, qty in sorted(wanted.items())
                ]},
            )
            return reservation
    except IntegrityError:
        # TODO(exercise 02.1, step 3): two calls with one id raced; what should the loser answer?
        raise


def _replay(reservation: Reservation) -> Reservation:
    if reservation.status == Reservation.Status.RELEASED:
        raise ReservationReleased(f"reservation {reservation.reservation_id} was released")
    return reservation


def release(reservation_id: str) -> bool:
    """Give a reservation's units back. True if this call did; False if nothing was held."""
    with transaction.atomic():
        reservation = (Reservation.objects.select_for_update()
                       .filter(reservation_id=reservation_id).first())
        # TODO(exercise 02.1, step 2): an unknown id must leave a tombstone (a RELEASED row with
        # no lines), and a reservation released already must give nothing back a second time.
        if reservation is None:
            return False
        for line in reservation.lines:
            release_units(line["product_id"], line["quantity"])
        reservation.status = Reservation.Status.RELEASED
        reservation.save(update_fields=["status", "updated_at"])
        return True
