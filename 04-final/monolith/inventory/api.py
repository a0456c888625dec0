from django.urls import path
from rest_framework import generics, permissions, serializers

from inventory.models import Stock


class StockSerializer(serializers.ModelSerializer):
    product_id = serializers.IntegerField(read_only=True)
    quantity = serializers.IntegerField(min_value=0, max_value=1_000_000)

    class Meta:
        model = Stock
        fields = ["product_id", "quantity"]


class ServiceMayRead(permissions.BasePermission):
    """Stage 04: a service's own token (client credentials, no user) with the `stock` scope may
    read the stock; setting it stays with staff. The gateway let only staff and services by."""

    def has_permission(self, request, view):
        token = request.auth
        return (request.method in permissions.SAFE_METHODS and request.user is None
                and token is not None and "stock" in getattr(token, "scopes", {}))


class StaffOnly(generics.GenericAPIView):
    permission_classes = [permissions.IsAdminUser | ServiceMayRead]
    serializer_class = StockSerializer
    queryset = Stock.objects.order_by("product_id")


class StockList(StaffOnly, generics.ListAPIView):
    """Stock of every product (staff, and services with the `stock` scope)."""


class StockDetail(StaffOnly, generics.RetrieveUpdateAPIView):
    """Read or set one product's stock (staff only)."""

    lookup_url_kwarg = "product_id"
    # Through the product's own key: Django treats an id too large for the database as no match
    # (404); looked up on the stock's foreign key, SQLite overflowed (500, found by schemathesis).
    lookup_field = "product__pk"
    http_method_names = ["get", "put", "head", "options"]


urlpatterns = [
    path("stock/", StockList.as_view(), name="stock-list"),
    path("stock/<int:product_id>/", StockDetail.as_view(), name="stock-detail"),
]
