"""gRPC servicers: translate between protobuf messages and the contexts' service functions.

No business rule lives here, exactly like a DRF view: `inventory.services` answers the gRPC
calls (and their JSON twin in bench_api.py). Errors become status codes the caller can act on,
and the caller's deadline goes with every call: past it, nothing is committed.
"""

import time

import grpc
from rest_framework.authtoken.models import Token

from inventory import services as inventory
from rpc.server import django_call
from shopapi.customers.v1 import customers_pb2, customers_pb2_grpc
from shopapi.inventory.v1 import inventory_pb2, inventory_pb2_grpc


def abort(context, code, message, product_id=None):
    if product_id is not None:  # machine-readable, so the caller can name the failing line
        context.set_trailing_metadata((("product-id", str(product_id)),))
    context.abort(code, message)


def deadline_of(context) -> float | None:
    """The caller's deadline on our clock (time.monotonic()), or None if it set none."""
    remaining = context.time_remaining()
    if remaining is None:
        return None
    if remaining <= 0:
        # Nobody waits for the answer any more: do not touch stock for a caller who left.
        abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before we began")
    return time.monotonic() + remaining


class InventoryServicer(inventory_pb2_grpc.InventoryServicer):
    @django_call
    def Reserve(self, request, context):
        if not request.reservation_id:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, "reservation_id is required")
        if not request.lines:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, "lines must not be empty")
        for line in request.lines:
            if line.quantity < 1:
                abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                      f"quantity must be at least 1 (product {line.product_id})", line.product_id)
        try:
            reservation = inventory.reserve(
                request.reservation_id,
                [(line.product_id, line.quantity) for line in request.lines],
                hold_seconds=request.hold_seconds, deadline=deadline_of(context),
            )
        except inventory.UnknownProduct as exc:
            abort(context, grpc.StatusCode.NOT_FOUND, str(exc), exc.product_id)
        except inventory.OutOfStock as exc:
            abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc), exc.product_id)
        except inventory.ReservationReleased as exc:
            abort(context, grpc.StatusCode.ABORTED, str(exc))
        except inventory.DeadlineExceeded as exc:
            abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
        return inventory_pb2.Reservation(
            reservation_id=reservation.reservation_id,
            lines=[inventory_pb2.ReservedLine(**line) for line in reservation.lines],
        )

    @django_call
    def Describe(self, request, context):
        try:
            products = inventory.describe(list(request.product_ids))
        except inventory.UnknownProduct as exc:
            abort(context, grpc.StatusCode.NOT_FOUND, str(exc), exc.product_id)
        return inventory_pb2.DescribeResponse(lines=[
            inventory_pb2.ReservedLine(product_id=pid, product_name=name, unit_price_cents=price)
            for pid, (name, price) in sorted(products.items())])

    @django_call
    def Confirm(self, request, context):
        if not request.reservation_id:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, "reservation_id is required")
        try:
            inventory.confirm(request.reservation_id, deadline=deadline_of(context))
        except inventory.UnknownReservation as exc:
            abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
        except inventory.ReservationReleased as exc:
            abort(context, grpc.StatusCode.ABORTED, str(exc))
        except inventory.DeadlineExceeded as exc:
            abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
        return inventory_pb2.ConfirmResponse()

    @django_call
    def Release(self, request, context):
        if not request.reservation_id:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, "reservation_id is required")
        return inventory_pb2.ReleaseResponse(released=inventory.release(request.reservation_id))


class CustomersServicer(customers_pb2_grpc.CustomersServicer):
    @django_call
    def Authenticate(self, request, context):
        token = Token.objects.select_related("user").filter(key=request.token).first()
        if token is None or not token.user.is_active:
            abort(context, grpc.StatusCode.UNAUTHENTICATED, "invalid token")
        user = token.user
        return customers_pb2.Customer(
            id=user.id,
            username=user.username,
            is_staff=user.is_staff,
            email=user.email or f"{user.username}@example.com",
        )


def register(server) -> list[str]:
    """Add the monolith's servicers to a grpc.Server; returns their full service names."""
    inventory_pb2_grpc.add_InventoryServicer_to_server(InventoryServicer(), server)
    customers_pb2_grpc.add_CustomersServicer_to_server(CustomersServicer(), server)
    return [
        inventory_pb2.DESCRIPTOR.services_by_name["Inventory"].full_name,
        customers_pb2.DESCRIPTOR.services_by_name["Customers"].full_name,
    ]
