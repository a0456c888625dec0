"""Stock reservations that can never oversell, that a remote caller can retry safely, and that a
caller's crash cannot leak.

`reserve_units` is a single conditional UPDATE: the database checks and decrements in one step,
under the row lock, so two buyers of the last unit cannot both win.

Since stage 02 the caller is another service, across a network that loses answers, in a process
that can die at any moment. So a reservation has an id chosen by the caller, and every operation
is idempotent by that id:
- `reserve` twice reserves once; `release` twice gives back once; a `release` that overtakes its
  own `reserve` leaves a tombstone that makes the late `reserve` a no-op (ReservationReleased);
- a reservation is PENDING until the caller `confirm`s it (its order is committed). A pending
  reservation that is not confirmed by its expiry is given back by `release_expired`, which a
  sweeper runs every few seconds: a caller that died between its reserve and its commit leaks
  nothing, and nobody has to run a command.
"""

import time
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from catalog import services as catalog
from inventory.models import Reservation, Stock

# However long a caller asks to hold units unconfirmed, never longer than this.
MAX_HOLD_SECONDS = 3600


class OutOfStock(Exception):
    def __init__(self, product_id: int):
        super().__init__(f"not enough stock for product {product_id}")
        self.product_id = product_id


class UnknownProduct(Exception):
    def __init__(self, product_id: int):
        super().__init__(f"unknown product {product_id}")
        self.product_id = product_id


class UnknownReservation(Exception):
    """Confirming an id that was never reserved."""


class ReservationReleased(Exception):
    """This id was released (perhaps before it was ever reserved): it reserves nothing now."""


class DeadlineExceeded(Exception):
    """The caller's deadline passed before we could commit: nothing was changed."""


# The reserve is the hot path of a service that other services call (bench/grpc_vs_rest.py):
# its two writes are plain SQL, written once, instead of ORM queries compiled on every call,
# which cost several times the statements themselves. Same statements, same guarantees.
_TAKE_UNITS = (f"UPDATE {Stock._meta.db_table} SET quantity = quantity - %s "  # noqa: S608
               "WHERE product_id = %s AND quantity >= %s")
_INSERT_RESERVATION = (
    f"INSERT INTO {Reservation._meta.db_table} "  # noqa: S608
    "(reservation_id, status, lines, expires_at, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


def reserve_units(product_id: int, quantity: int) -> None:
    """One conditional UPDATE: the database checks and decrements under the row lock."""
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_UNITS, [quantity, product_id, quantity])
        if cursor.rowcount != 1:
            raise OutOfStock(product_id)


def release_units(product_id: int, quantity: int) -> None:
    Stock.objects.filter(product_id=product_id).update(quantity=F("quantity") + quantity)


def available(product_id: int) -> int:
    stock = Stock.objects.filter(product_id=product_id).values_list("quantity", flat=True).first()
    return stock or 0


def _check(deadline: float | None) -> None:
    """Called last inside a transaction: past the caller's deadline, roll back instead of commit."""
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded("the caller's deadline passed; nothing was changed")


def describe(product_ids) -> dict[int, tuple[str, int]]:
    """(name, price in cents) of each product, or UnknownProduct for the first unknown one."""
    products = catalog.names_and_prices(product_ids)
    for product_id in sorted(set(product_ids)):
        if product_id not in products:
            raise UnknownProduct(product_id)
    return products


def reserve(reservation_id: str, lines: list[tuple[int, int]], hold_seconds: float = 0,
            deadline: float | None = None) -> Reservation:
    """Reserve every (product_id, quantity) line or none, once per reservation id, PENDING for
    `hold_seconds` (0: RESERVATION_HOLD_SECONDS). `deadline` (time.monotonic()) is the caller's."""
    wanted = Counter()
    for product_id, quantity in lines:  # the same product twice becomes one line
        wanted[product_id] += quantity
    products = catalog.names_and_prices(wanted)
    for product_id in wanted:
        if product_id not in products:
            raise UnknownProduct(product_id)
    hold = min(hold_seconds or settings.RESERVATION_HOLD_SECONDS, MAX_HOLD_SECONDS)
    now = timezone.now()
    reservation = Reservation(
        reservation_id=reservation_id, status=Reservation.Status.PENDING,
        expires_at=now + timedelta(seconds=hold), created_at=now, updated_at=now,
        lines=[
            {"product_id": pid, "product_name": products[pid][0],
             "unit_price_cents": products[pid][1], "quantity": qty}
            for pid, qty in sorted(wanted.items())
        ],
    )
    try:
        with transaction.atomic():
            # The row first: a retry of this id (or a release's tombstone) fails right here on
            # the primary key, before it takes any stock; the caller's first try costs no lookup.
            _insert(reservation)
            # In product-id order: concurrent reservations lock rows in the same order and
            # queue behind each other instead of deadlocking.
            for product_id in sorted(wanted):
                reserve_units(product_id, wanted[product_id])
            _check(deadline)
            return reservation
    except IntegrityError:
        # This id exists: a retry, a concurrent call with the same id, or a release's tombstone.
        # Whatever we decremented rolled back with the transaction; answer what was recorded.
        return _replay(Reservation.objects.get(reservation_id=reservation_id))


def _insert(reservation: Reservation) -> None:
    """Reservation.objects.create(), as one prepared statement; the fields adapt the values."""
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_RESERVATION, [
            reservation.reservation_id, reservation.status,
            Reservation._meta.get_field("lines").get_db_prep_save(reservation.lines, connection),
            *(connection.ops.adapt_datetimefield_value(moment) for moment in (
                reservation.expires_at, reservation.created_at, reservation.updated_at)),
        ])


def _replay(reservation: Reservation) -> Reservation:
    if reservation.status == Reservation.Status.RELEASED:
        raise ReservationReleased(f"reservation {reservation.reservation_id} was released")
    return reservation


def confirm(reservation_id: str, deadline: float | None = None) -> Reservation:
    """The caller's order is committed: hold the units until they are released. Idempotent."""
    with transaction.atomic():
        # One conditional UPDATE: it cannot interleave with the sweeper's release of this row.
        confirmed = Reservation.objects.filter(
            reservation_id=reservation_id, status=Reservation.Status.PENDING
        ).update(status=Reservation.Status.CONFIRMED, expires_at=None,
                 updated_at=timezone.now())
        if confirmed:
            _check(deadline)
    reservation = Reservation.objects.filter(reservation_id=reservation_id).first()
    if reservation is None:
        raise UnknownReservation(f"no reservation {reservation_id}")
    return _replay(reservation)


def release(reservation_id: str) -> bool:
    """Give a reservation's units back. True if this call did; False if nothing was held."""
    return _release(reservation_id)


def _release(reservation_id: str, expired_before=None) -> bool:
    with transaction.atomic():
        reservation, created = Reservation.objects.select_for_update().get_or_create(
            reservation_id=reservation_id,
            defaults={"status": Reservation.Status.RELEASED, "lines": []},
        )
        if created or reservation.status == Reservation.Status.RELEASED:
            return False  # unknown (now a tombstone) or released already
        if expired_before is not None and not (
            reservation.status == Reservation.Status.PENDING
            and reservation.expires_at < expired_before
        ):
            return False  # confirmed meanwhile: the sweeper keeps its hands off
        for line in reservation.lines:
            release_units(line["product_id"], line["quantity"])
        reservation.status = Reservation.Status.RELEASED
        reservation.expires_at = None
        reservation.save(update_fields=["status", "expires_at", "updated_at"])
        return True


def release_expired(batch: int = 100) -> list[str]:
    """The sweeper: give back every pending reservation whose caller never confirmed it in time."""
    now = timezone.now()
    expired = list(
        Reservation.objects.filter(status=Reservation.Status.PENDING, expires_at__lt=now)
        .order_by("expires_at").values_list("reservation_id", flat=True)[:batch]
    )
    return [rid for rid in expired if _release(rid, expired_before=now)]
