from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import services
from inventory.models import Stock


class StockSerializer(serializers.ModelSerializer):
    product_id = serializers.IntegerField(read_only=True)
    quantity = serializers.IntegerField(min_value=0, max_value=1_000_000)

    class Meta:
        model = Stock
        fields = ["product_id", "quantity"]


class StaffOnly(generics.GenericAPIView):
    permission_classes = [permissions.IsAdminUser]
    serializer_class = StockSerializer
    queryset = Stock.objects.order_by("product_id")


class StockList(StaffOnly, generics.ListAPIView):
    """Stock of every product (staff only)."""


class StockDetail(StaffOnly, generics.RetrieveUpdateAPIView):
    """Read or set one product's stock (staff only)."""

    lookup_url_kwarg = "product_id"
    # Through the product's own key: Django treats an id too large for the database as no match
    # (404); looked up on the stock's foreign key, SQLite overflowed (500, found by schemathesis).
    lookup_field = "product__pk"
    http_method_names = ["get", "put", "head", "options"]


class LineIn(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    quantity = serializers.IntegerField(min_value=1, max_value=100)


class ReserveIn(serializers.Serializer):
    reservation_id = serializers.CharField(max_length=64)
    lines = LineIn(many=True, allow_empty=False, max_length=20)


class ReservationOut(serializers.Serializer):
    reservation_id = serializers.CharField()
    lines = serializers.JSONField()


class Reservations(APIView):
    """Reserve stock: the inventory gRPC call's JSON twin, kept so the two can be measured
    side by side (bench/grpc_vs_rest.py). Staff only; the orders service speaks gRPC."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=ReserveIn, responses={
        201: ReservationOut,
        409: OpenApiResponse(description="out_of_stock, or released (this id was given back)"),
    })
    def post(self, request):
        data = ReserveIn(data=request.data)
        data.is_valid(raise_exception=True)
        lines = [(line["product_id"], line["quantity"]) for line in data.validated_data["lines"]]
        try:
            reservation = services.reserve(data.validated_data["reservation_id"], lines)
        except services.UnknownProduct as exc:
            return Response({"lines": [{"product_id": [str(exc)]}]}, status=400)
        except services.OutOfStock as exc:
            return Response({"code": "out_of_stock", "detail": str(exc),
                             "product_id": exc.product_id}, status=409)
        except services.ReservationReleased as exc:
            return Response({"code": "released", "detail": str(exc)}, status=409)
        return Response(ReservationOut(reservation).data, status=status.HTTP_201_CREATED)


class ReservationRelease(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=None, responses={200: inline_serializer("Released", {
        "released": serializers.BooleanField(help_text="false: nothing was held to give back"),
    })})
    def post(self, request, reservation_id):
        return Response({"released": services.release(reservation_id)})


urlpatterns = [
    path("reservations/", Reservations.as_view(), name="reservations"),
    path("reservations/<str:reservation_id>/release/", ReservationRelease.as_view(),
         name="reservation-release"),
    path("stock/", StockList.as_view(), name="stock-list"),
    path("stock/<int:product_id>/", StockDetail.as_view(), name="stock-detail"),
]
