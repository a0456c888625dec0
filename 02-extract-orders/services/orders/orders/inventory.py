"""The monolith's inventory, over gRPC: reserve and release stock by a reservation id.

Status codes become exceptions the use case can act on. Both calls carry a deadline. Release is
idempotent, so it is retried; a release that still fails is written down (StrandedReservation)
so that no unit stays reserved for an order that does not exist.
"""

import logging
import time
from dataclasses import dataclass

import grpc
from django.conf import settings
from django.db import DatabaseError

from orders import grpc_clients
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
    """The deadline passed: the reservation may or may not exist. Release it to be sure."""

    code = "inventory_timeout"


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


def _stub():
    return grpc_clients.inventory(settings.MONOLITH_GRPC)


def reserve(reservation_id: str, lines: dict[int, int]) -> list[ReservedLine]:
    request = inventory_pb2.ReserveRequest(
        reservation_id=reservation_id,
        lines=[inventory_pb2.Line(product_id=pid, quantity=qty) for pid, qty in lines.items()],
    )
    try:
        reply = _stub().Reserve(request, timeout=settings.INVENTORY_DEADLINE_SECONDS)
    except grpc.RpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.NOT_FOUND:
            raise UnknownProduct(_product_id(exc)) from exc
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            raise OutOfStock(_product_id(exc)) from exc
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise InventoryTimeout(exc.details()) from exc
        raise InventoryUnavailable(f"{code.name}: {exc.details()}") from exc
    return [ReservedLine(line.product_id, line.product_name, line.unit_price_cents,
                         line.quantity) for line in reply.lines]


def release(reservation_id: str, attempts: int | None = None) -> bool:
    """Give the units back; True once the inventory has them (or never had them)."""
    attempts = attempts or settings.RELEASE_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            _release_once(reservation_id)
            return True
        except grpc.RpcError as exc:
            log.warning("release %s failed (attempt %s/%s): %s", reservation_id, attempt,
                        attempts, exc.code().name)
            last = f"{exc.code().name}: {exc.details()}"
            if attempt < attempts:
                time.sleep(0.1 * 2 ** (attempt - 1))  # 0.1 s, 0.2 s, ...: give it room
    strand(reservation_id, last)
    return False


def _release_once(reservation_id: str) -> None:
    _stub().Release(inventory_pb2.ReleaseRequest(reservation_id=reservation_id),
                    timeout=settings.INVENTORY_DEADLINE_SECONDS)


def strand(reservation_id: str, reason: str) -> None:
    try:
        StrandedReservation.objects.get_or_create(
            reservation_id=reservation_id, defaults={"reason": reason[:200]}
        )
        log.error("reservation %s stranded (%s): run `manage.py release_stranded`",
                  reservation_id, reason)
    except DatabaseError:
        # Our own database is down too: the log line is the last record. Say it loudly.
        log.critical("reservation %s stranded and NOT recorded: release it by hand",
                     reservation_id)


def release_stranded() -> tuple[int, int]:
    """Retry every stranded release once; returns (released, still stranded)."""
    released = 0
    for stranded in StrandedReservation.objects.all():
        try:
            _release_once(stranded.reservation_id)
        except grpc.RpcError:
            stranded.attempts += 1
            stranded.save(update_fields=["attempts"])
            continue
        stranded.delete()
        released += 1
    return released, StrandedReservation.objects.count()
