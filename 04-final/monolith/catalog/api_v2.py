"""API v2 of the catalogue, beside v1 (stage 04): one real change, and v1 told it will go.

The change: money as an object a client cannot misread, `"price": {"amount": "14.50",
"currency": "EUR"}` (a decimal string, never a float), instead of v1's bare `price_cents`. The
shop is the same; only the representation moves, so both versions are served from one queryset
and a v1 client keeps working, unchanged, until the sunset date.

v1's product endpoints answer with `Deprecation` (RFC 9745: since when), `Sunset` (RFC 8594: the
date they stop) and `Link: <...v2...>; rel="successor-version"`, so a client's logs say what to
do before anything breaks (`deprecate_v1_products`, a middleware: the v1 views stay untouched).
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

from django.urls import path
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.api import ProductDetail, ProductList
from catalog.models import Product

CURRENCY = "EUR"  # one currency, as the storefront shows it (storefront/templatetags/money.py)
V1_DEPRECATED_SINCE = datetime(2026, 11, 27, tzinfo=timezone.utc)
V1_SUNSET = datetime(2027, 6, 30, tzinfo=timezone.utc)


class MoneySerializer(serializers.Serializer):
    amount = serializers.CharField(help_text='A decimal string with two places, e.g. "14.50"')
    currency = serializers.CharField(help_text="ISO 4217, e.g. EUR")


class ProductV2Serializer(serializers.ModelSerializer):
    price = serializers.SerializerMethodField()
    stock = serializers.SerializerMethodField(help_text="Units available now.")

    class Meta:
        model = Product
        fields = ["id", "slug", "name", "description", "price", "stock"]

    @extend_schema_field(MoneySerializer)
    def get_price(self, product) -> dict:
        cents = product.price_cents
        return {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": CURRENCY}

    def get_stock(self, product) -> int:
        stock = getattr(product, "stock", None)
        return stock.quantity if stock else 0


class ProductListV2(ProductList):
    """Products (v2: `price` as an amount and a currency), 10 per page, ordered by name."""

    serializer_class = ProductV2Serializer


class ProductDetailV2(ProductDetail):
    serializer_class = ProductV2Serializer


def deprecate_v1_products(get_response):
    since = f"@{int(V1_DEPRECATED_SINCE.timestamp())}"
    sunset = format_datetime(V1_SUNSET, usegmt=True)

    def middleware(request):
        response = get_response(request)
        if request.path.startswith("/api/v1/products/"):
            successor = request.path.replace("/api/v1/", "/api/v2/", 1)
            response["Deprecation"] = since
            response["Sunset"] = sunset
            response["Link"] = f'<{successor}>; rel="successor-version"'
        return response

    return middleware


urlpatterns = [
    path("products/", ProductListV2.as_view(), name="product-list-v2"),
    path("products/<int:pk>/", ProductDetailV2.as_view(), name="product-detail-v2"),
]
