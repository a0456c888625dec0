from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import idempotency, services
from orders.deadline import DeadlineExceeded
from orders.projections import order_history
from orders.serializers import OrderOut, PlaceOrderIn, Rejection


def rejection(http_status, code, detail, **extra):
    return Response({"code": code, "detail": detail, **extra}, status=http_status)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    pattern=r"^[\x21-\x7E]{1,255}$",
    description="Any unique string (a UUID): the same key and body again answer the first "
                "outcome (`Idempotent-Replayed: true`), never a second order.",
)


class OrderListCreate(generics.ListAPIView):
    """The signed-in customer's orders, newest first; POST places a new one."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = OrderOut

    def get_queryset(self):
        return services.orders_of(self.request.user.id)

    @extend_schema(responses={200: OrderOut(many=True)}, parameters=[OpenApiParameter(
        "X-Projection-Lag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=True,
        description="How far the order-history read model is behind the orders: "
                    "`events=N; seconds=S`. Your own orders are always in the list.")])
    def get(self, request, *args, **kwargs):
        # CQRS (T16): served from the read model (orders/projections/order_history.py), not the
        # orders table. Read-your-own-writes: the caller's orders that events not yet applied
        # name are merged from the write side, so a client never misses the order it just
        # placed, and never waits for the worker (a stopped worker would block every list).
        orders, behind = order_history.read_orders(request.user.id)
        page = self.paginate_queryset(orders)
        response = self.get_paginated_response(self.get_serializer(page, many=True).data)
        response["X-Projection-Lag"] = behind.header()
        return response

    @extend_schema(
        request=PlaceOrderIn,
        # X-Request-Budget-Ms is left out of the schema, as in stages 00 and 01: it is a hop
        # header the front door sets (docs/api-contract.md). A client may still send a smaller
        # one, and a budget too small to finish answers 504, which a schema-driven client
        # would count as a server fault rather than a choice the caller made.
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: OpenApiResponse(OrderOut, description="accepted: `status` is `pending` until "
                                 "the saga decides; poll `Location` until it is final "
                                 "(`confirmed`, or `rejected` with a `reason`: out_of_stock, "
                                 "payment_declined, payment_timeout, ...)"),
            409: OpenApiResponse(Rejection, description="idempotency_key_in_use (the key's first "
                                 "request is still running: retry later)"),
            422: OpenApiResponse(Rejection, description="idempotency_key_reused: this key was "
                                 "first sent with another body"),
            503: OpenApiResponse(Rejection, description="inventory or orders database down"),
            504: OpenApiResponse(Rejection, description="the inventory did not answer in time, "
                                 "or deadline_exceeded: nothing was kept, retry with the same key"),
        },
    )
    def post(self, request):
        key = idempotency.key_of(request)  # 400 {"Idempotency-Key": [...]} when malformed
        data = PlaceOrderIn(data=request.data)
        data.is_valid(raise_exception=True)  # a 400 is never recorded: nothing happened
        claim = None
        if key is not None:
            claim = idempotency.claim(request.user.id, key, request.data, request.deadline)
            if not isinstance(claim, idempotency.Claim):
                return claim  # the first answer again, or 409 (in flight), or 422 (reused)
        response = self.place(request, data.validated_data, claim)
        if claim is not None:
            claim.settle(response)
        return response

    def place(self, request, data, claim) -> Response:
        lines = [services.Line(**line) for line in data["lines"]]
        try:
            order = services.accept_order(request.user, lines, data["card_number"],
                                          deadline=request.deadline,
                                          record=claim.record_order if claim else None,
                                          traceparent=request.headers.get("traceparent"))
        except services.UnknownProduct as exc:
            return Response({"lines": [{"product_id": [str(exc)]}]}, status=400)
        except services.InventoryUnavailable as exc:  # timeout included: nothing is kept
            return rejection(504 if exc.code == "inventory_timeout" else 503, exc.code,
                             "The inventory did not answer; nothing was ordered or charged.")
        except DeadlineExceeded as exc:
            return rejection(504, exc.code, "The order could not be accepted in time; nothing "
                             "was ordered or charged. Retrying is safe.")
        except services.OrdersUnavailable as exc:
            return rejection(503, exc.code, "Orders are unavailable; nothing was ordered.")
        except idempotency.ClaimLost:
            return idempotency.in_use()
        # Accepted, not decided: the saga reserves, charges and confirms, or rejects with a
        # reason. The client polls Location until the status is final (docs/api-contract.md).
        return Response(OrderOut(order).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/v1/orders/{order.id}/"})


class OrderDetail(generics.RetrieveAPIView):
    """One of the customer's own orders; anyone else's is a 404, not a 403 (no leak)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = OrderOut

    def get_queryset(self):
        return services.orders_of(self.request.user.id)


class OrderCancel(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: OrderOut, 404: None, 409: Rejection})
    def post(self, request, pk):
        if not services.orders_of(request.user.id).filter(pk=pk).exists():
            return Response({"detail": "No Order matches the given query."}, status=404)
        try:
            order = services.cancel_order(request.user, pk, request.deadline)
        except services.NotCancellable as exc:
            return rejection(409, "not_cancellable", str(exc))
        return Response(OrderOut(order).data)


urlpatterns = [
    path("orders/", OrderListCreate.as_view(), name="order-list"),
    path("orders/<int:pk>/", OrderDetail.as_view(), name="order-detail"),
    path("orders/<int:pk>/cancel/", OrderCancel.as_view(), name="order-cancel"),
]
