import contextlib

from django.db import transaction
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import budget, idempotency, services
from orders.serializers import OrderOut, PlaceOrderIn, Rejection


def rejection(http_status, code, detail, **extra):
    return Response({"code": code, "detail": detail, **extra}, status=http_status)


IDEMPOTENCY_KEY = OpenApiParameter(
    idempotency.HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    pattern=r"^[\x21-\x7E]{1,255}$",
    description="Any unique string (a UUID): the same key and body again answer the first "
                "outcome (`Idempotent-Replayed: true`), never a second order.",
)


class OrderListCreate(generics.ListAPIView):
    """The signed-in customer's orders, newest first; POST places a new one."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = OrderOut

    def get_queryset(self):
        return services.orders_of(self.request.user)

    @extend_schema(
        request=PlaceOrderIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: OrderOut,
            402: OpenApiResponse(Rejection, description="payment_declined or payment_timeout"),
            409: OpenApiResponse(Rejection, description="out_of_stock, or idempotency_key_in_use"
                                 " (the key's first request is still running: retry later)"),
            422: OpenApiResponse(Rejection, description="idempotency_key_reused: this key was "
                                 "first sent with another body"),
            504: OpenApiResponse(Rejection, description="deadline_exceeded: the budget "
                                 "(X-Request-Budget-Ms) ran out, nothing was kept"),
        },
    )
    def post(self, request):
        deadline = budget.deadline_of(request)  # the budget counts from the request's arrival
        key = idempotency.key_of(request)
        body = request.data  # malformed JSON is a 400 here, before any key is claimed
        if key is None:
            return self.place(request, body, deadline)
        try:
            started = idempotency.begin(request.user, key, body)
        except idempotency.KeyReused:
            return rejection(422, "idempotency_key_reused",
                             "This Idempotency-Key was first used with another request body.")
        except idempotency.KeyInUse:
            answer = rejection(409, "idempotency_key_in_use",
                               "A request with this Idempotency-Key is still running.")
            answer["Retry-After"] = "1"
            return answer
        if not isinstance(started, idempotency.Claim):
            return self.replay(started)
        try:
            answer = self.place(request, body, deadline, claim=started)
        except BaseException:
            idempotency.release(started)
            raise
        if answer.status_code >= 400 and answer.data.get("code") not in KEPT_REJECTIONS:
            idempotency.release(started)  # nothing was kept: a retry runs again
        return answer

    def place(self, request, body, deadline, claim=None):
        data = PlaceOrderIn(data=body)
        data.is_valid(raise_exception=True)
        lines = [services.Line(**line) for line in data.validated_data["lines"]]

        def place():
            budget.check(deadline)
            order = services.place_order(request.user, lines, data.validated_data["card_number"])
            budget.check(deadline)  # past it: roll everything back rather than commit late
            return order

        try:
            if claim is None:
                with transaction.atomic():
                    order = place()
            else:
                order = idempotency.place_once(claim, place)
        except services.UnknownProduct as exc:  # deleted between validation and placing
            return Response({"lines": [{"product_id": [str(exc)]}]}, status=400)
        except services.OutOfStock as exc:
            answer = rejection(409, "out_of_stock", str(exc), product_id=exc.product_id)
        except services.PaymentFailed as exc:
            answer = rejection(402, exc.code, str(exc))
        except budget.DeadlineExceeded:
            return rejection(504, "deadline_exceeded", "The request's time budget ran out; "
                             "nothing was ordered or charged. Retry with the same Idempotency-Key.")
        except idempotency.ClaimLost:
            answer = rejection(409, "idempotency_key_in_use",
                               "A newer request with this Idempotency-Key took it over.")
            answer["Retry-After"] = "1"
            return answer
        else:
            return Response(
                OrderOut(order).data,
                status=status.HTTP_201_CREATED,
                headers={"Location": f"/api/v1/orders/{order.id}/"},
            )
        if claim is not None:
            # If a newer request holds the key now, it keeps its own outcome.
            with contextlib.suppress(idempotency.ClaimLost):
                idempotency.keep_rejection(claim, answer.status_code, answer.data)
        return answer

    def replay(self, kept):
        headers = {"Idempotent-Replayed": "true"}
        if kept.response_body is not None:
            return Response(kept.response_body, status=kept.status_code, headers=headers)
        order = services.orders_of(self.request.user).filter(pk=kept.order_id).first()
        if order is None:  # deleted by staff since
            return Response({"detail": "The order this key created no longer exists."},
                            status=404, headers=headers)
        headers["Location"] = f"/api/v1/orders/{order.id}/"
        return Response(OrderOut(order).data, status=kept.status_code, headers=headers)


# Business rejections are outcomes, kept with the key; any other error kept nothing.
KEPT_REJECTIONS = {"out_of_stock", "payment_declined", "payment_timeout"}


class OrderDetail(generics.RetrieveAPIView):
    """One of the customer's own orders; anyone else's is a 404, not a 403 (no leak)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = OrderOut

    def get_queryset(self):
        return services.orders_of(self.request.user)


class OrderCancel(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: OrderOut, 404: None, 409: Rejection})
    def post(self, request, pk):
        if not services.orders_of(request.user).filter(pk=pk).exists():
            return Response({"detail": "No Order matches the given query."}, status=404)
        try:
            order = services.cancel_order(request.user, pk)
        except services.NotCancellable as exc:
            return rejection(409, "not_cancellable", str(exc))
        return Response(OrderOut(order).data)


urlpatterns = [
    path("orders/", OrderListCreate.as_view(), name="order-list"),
    path("orders/<int:pk>/", OrderDetail.as_view(), name="order-detail"),
    path("orders/<int:pk>/cancel/", OrderCancel.as_view(), name="order-cancel"),
]
