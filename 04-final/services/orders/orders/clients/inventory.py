"""The monolith's inventory, over gRPC: reserve, confirm and release stock by a reservation id.

Status codes become exceptions the use case can act on. Every call's deadline is its share of the
request's (orders/deadline.py). gRPC itself retries a call that found the monolith unavailable
(clients/channels.py); a release that still cannot get through is written down
(StrandedReservation) and retried by the sweeper, so no unit stays reserved for an order that
does not exist.
"""

import logging
from dataclasses import dataclass

import grpc
from django.conf import settings
from django.db import DatabaseError

from orders.clients import channels
from orders.deadline import Deadline, DeadlineExceeded
from orders.models import StrandedReservation
from shopapi.inventory.v1 import inventory_pb2

log = logging.getLogger(__name__)


class UnknownProduct(Exception):
    def __init__(self, product_id: int):
        super().__init__(f"unknown product {product_id}")
        self.product_id = product_id


class OutOfStock(Exception):
    def __init__(self, product_id: int):
        super().__init__(f"not enough stock for product {product_id}")
        self.product_id = product_id


class InventoryUnavailable(Exception):
    code = "inventory_unavailable"


class InventoryTimeout(InventoryUnavailable):
    """The deadline passed: the call may or may not have landed. Release it to be sure."""

    code = "inventory_timeout"


class ReservationReleased(Exception):
    """Too late to confirm: the reservation was released (it expired, or we released it)."""


@dataclass(frozen=True)
class ReservedLine:
    product_id: int
    product_name: str
    unit_price_cents: int
    quantity: int


def _product_id(exc: grpc.RpcError) -> int:
    for key, value in exc.trailing_metadata() or ():
        if key == "product-id":
            return int(value)
    return 0


def _unavailable(exc: grpc.RpcError) -> InventoryUnavailable:
    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return InventoryTimeout(exc.details())
    return InventoryUnavailable(f"{exc.code().name}: {exc.details()}")


def _timeout(deadline: Deadline | None) -> float:
    step = settings.INVENTORY_DEADLINE_SECONDS
    return step if deadline is None else deadline.timeout(step)


def describe(product_ids, timeout: float | None = None) -> dict[int, tuple[str, int]]:
    """(name, price in cents) per product id; UnknownProduct for an unknown one. Reserves nothing:
    the order is accepted first, its stock reserved later by the saga."""
    try:
        reply = channels.inventory().Describe(
            inventory_pb2.DescribeRequest(product_ids=sorted(set(product_ids))),
            timeout=timeout or settings.INVENTORY_DEADLINE_SECONDS)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            raise UnknownProduct(_product_id(exc)) from exc
        raise _unavailable(exc) from exc
    return {line.product_id: (line.product_name, line.unit_price_cents) for line in reply.lines}


def reserve(reservation_id: str, lines: dict[int, int],
            deadline: Deadline | None = None) -> list[ReservedLine]:
    request = inventory_pb2.ReserveRequest(
        reservation_id=reservation_id,
        lines=[inventory_pb2.Line(product_id=pid, quantity=qty) for pid, qty in lines.items()],
        hold_seconds=int(settings.RESERVATION_HOLD_SECONDS),
    )
    try:
        reply = channels.inventory().Reserve(request, timeout=_timeout(deadline))
    except grpc.RpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.NOT_FOUND:
            raise UnknownProduct(_product_id(exc)) from exc
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            raise OutOfStock(_product_id(exc)) from exc
        raise _unavailable(exc) from exc
    return [ReservedLine(line.product_id, line.product_name, line.unit_price_cents,
                         line.quantity) for line in reply.lines]


def confirm(reservation_id: str, deadline: Deadline | None = None) -> None:
    """The order is committed: the units are the order's now. Idempotent."""
    try:
        channels.inventory().Confirm(
            inventory_pb2.ConfirmRequest(reservation_id=reservation_id),
            timeout=_timeout(deadline))
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.ABORTED, grpc.StatusCode.NOT_FOUND):
            raise ReservationReleased(exc.details()) from exc
        raise _unavailable(exc) from exc


def release(reservation_id: str, deadline: Deadline | None = None) -> bool:
    """Give the units back; True once the inventory has them (or never had them). False: the
    release is recorded (StrandedReservation) and the sweeper will deliver it."""
    try:
        _release_once(reservation_id, deadline)
    except (grpc.RpcError, DeadlineExceeded) as exc:
        reason = (f"{exc.code().name}: {exc.details()}" if isinstance(exc, grpc.RpcError)
                  else f"no time left: {exc}")
        log.warning("release %s failed: %s", reservation_id, reason)
        strand(reservation_id, reason)
        return False
    # Delivered: whatever recorded it as owed (an undone order) is settled.
    StrandedReservation.objects.filter(reservation_id=reservation_id).delete()
    return True


def _release_once(reservation_id: str, deadline: Deadline | None = None) -> None:
    # Compensation may use the time kept back for it: all that is left, up to the step timeout.
    step = settings.INVENTORY_DEADLINE_SECONDS
    timeout = step if deadline is None else deadline.timeout(step, keep=0)
    channels.inventory().Release(inventory_pb2.ReleaseRequest(reservation_id=reservation_id),
                                 timeout=timeout)


def strand(reservation_id: str, reason: str) -> None:
    try:
        StrandedReservation.objects.get_or_create(
            reservation_id=reservation_id, defaults={"reason": reason[:200]}
        )
        log.error("reservation %s stranded (%s): the sweeper will release it",
                  reservation_id, reason)
    except DatabaseError:
        # Our own database is down too. The reservation is pending, so the inventory gives it
        # back when its hold expires; only a confirmed one (a cancelled order) stays taken.
        log.critical("reservation %s stranded and NOT recorded: release it by hand",
                     reservation_id)


def release_stranded() -> tuple[int, int]:
    """Retry every stranded release once; returns (released, still stranded)."""
    released = 0
    for stranded in StrandedReservation.objects.all()[:100]:
        try:
            _release_once(stranded.reservation_id)
        except grpc.RpcError:
            stranded.attempts += 1
            stranded.save(update_fields=["attempts"])
            continue
        stranded.delete()
        released += 1
    return released, StrandedReservation.objects.count()
