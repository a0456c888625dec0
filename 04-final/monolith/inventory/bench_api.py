"""Reserve and release as DRF JSON: the inventory gRPC calls' twin, for the benchmark only.

bench/grpc_vs_rest.py measures the same use case (inventory.services) over both doors. This door
is NOT on the public API: reservations are the orders service's business, and a staff token at
the front door must not be able to give back the stock of someone's order. Only the benchmark's
settings (shop/settings_bench.py) route to it.
"""

from django.urls import path
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import services


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
    """Reserve stock (staff only), exactly as Inventory/Reserve does over gRPC."""

    permission_classes = [permissions.IsAdminUser]

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

    def post(self, request, reservation_id):
        return Response({"released": services.release(reservation_id)})


urlpatterns = [
    path("reservations/", Reservations.as_view(), name="reservations"),
    path("reservations/<str:reservation_id>/release/", ReservationRelease.as_view(),
         name="reservation-release"),
]
