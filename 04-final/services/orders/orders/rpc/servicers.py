"""The Orders gRPC servicer: a customer's orders, for the monolith's order-history pages."""

import grpc

from orders import services
from orders.projections import order_history
from orders.rpc.server import django_call
from shopapi.orders.v1 import orders_pb2, orders_pb2_grpc

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


def to_message(order) -> orders_pb2.Order:
    return orders_pb2.Order(
        id=order.id,
        status=order.status,
        reason=order.reason,
        total_cents=order.total_cents,
        lines=[orders_pb2.OrderLine(product_id=line.product_id, product_name=line.product_name,
                                    quantity=line.quantity,
                                    unit_price_cents=line.unit_price_cents)
               for line in order.lines.all()],
        created_at=order.created_at.isoformat(),
    )


class OrdersServicer(orders_pb2_grpc.OrdersServicer):
    @django_call
    def ListOrders(self, request, context):
        if request.customer_id < 1:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "customer_id is required")
        if request.limit < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit must not be negative")
        limit = min(request.limit or DEFAULT_LIMIT, MAX_LIMIT)
        # From the read model, the caller's unapplied writes merged (orders/api.py says why);
        # the lag travels as trailing metadata, and the storefront says when it is behind.
        orders, behind = order_history.read_orders(request.customer_id)
        orders = orders[:limit]
        context.set_trailing_metadata((("x-projection-lag", behind.header()),))
        return orders_pb2.ListOrdersResponse(orders=[to_message(order) for order in orders])

    @django_call
    def GetOrder(self, request, context):
        order = services.orders_of(request.customer_id).filter(id=request.order_id).first()
        if order is None:  # someone else's order is "not found", never "forbidden": no leak
            context.abort(grpc.StatusCode.NOT_FOUND, f"no order {request.order_id}")
        return to_message(order)


def register(server) -> list[str]:
    orders_pb2_grpc.add_OrdersServicer_to_server(OrdersServicer(), server)
    return [orders_pb2.DESCRIPTOR.services_by_name["Orders"].full_name]
