"""The storefront's client for the orders service's gRPC API: the order history.

A channel is made once per process and reused: it keeps its HTTP/2 connection open and
reconnects by itself. Every call carries a deadline; errors become two exceptions a page can
act on (not found: 404; unavailable: say so and keep the rest of the page working).
"""

import functools
from dataclasses import dataclass
from datetime import datetime

import grpc
from django.conf import settings

from shopapi.orders.v1 import orders_pb2, orders_pb2_grpc


class NotFound(Exception):
    pass


class Unavailable(Exception):
    pass


@dataclass(frozen=True)
class Line:
    product_id: int
    product_name: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class Order:
    id: int
    status: str
    reason: str
    total_cents: int
    lines: list[Line]
    created_at: datetime


@functools.cache
def _stub(target: str) -> orders_pb2_grpc.OrdersStub:
    return orders_pb2_grpc.OrdersStub(grpc.insecure_channel(target))


def _call(method, request):
    try:
        return method(request, timeout=settings.ORDERS_GRPC_DEADLINE_SECONDS)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            raise NotFound(exc.details()) from exc
        raise Unavailable(f"{exc.code().name}: {exc.details()}") from exc


def _order(message) -> Order:
    return Order(
        id=message.id,
        status=message.status,
        reason=message.reason,
        total_cents=message.total_cents,
        lines=[Line(line.product_id, line.product_name, line.quantity, line.unit_price_cents)
               for line in message.lines],
        created_at=datetime.fromisoformat(message.created_at),
    )


def orders_of(customer_id: int, limit: int = 50) -> list[Order]:
    return history_of(customer_id, limit)[0]


@dataclass(frozen=True)
class Lag:
    """How far the orders service's order-history read model is behind (its trailing
    metadata `x-projection-lag: events=N; seconds=S`); the customer's own orders are merged in
    regardless, so this is said, not hidden."""

    events: int = 0
    seconds: float = 0.0


def _lag(metadata) -> Lag:
    for key, value in metadata or ():
        if key == "x-projection-lag":
            try:
                fields = dict(part.strip().split("=", 1) for part in value.split(";"))
                return Lag(int(fields["events"]), float(fields["seconds"]))
            except (KeyError, ValueError):
                break
    return Lag()


def history_of(customer_id: int, limit: int = 50) -> tuple[list[Order], Lag]:
    stub = _stub(settings.ORDERS_GRPC)
    reply, call = _call(stub.ListOrders.with_call,
                        orders_pb2.ListOrdersRequest(customer_id=customer_id, limit=limit))
    return [_order(order) for order in reply.orders], _lag(call.trailing_metadata())


def order_of(customer_id: int, order_id: int) -> Order:
    stub = _stub(settings.ORDERS_GRPC)
    return _order(_call(stub.GetOrder, orders_pb2.GetOrderRequest(customer_id=customer_id,
                                                                  order_id=order_id)))
