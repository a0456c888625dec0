"""Version 2 of the catalogue beside version 1 (stage 04): one real change, and v1 told it will go.

The change: money as an object a client cannot misread, `"price": {"amount": "14.50",
"currency": "EUR"}` (a decimal string, never a float), instead of v1's bare `price_cents`.

The version is asked for in the media type, on the same URL: `Accept: application/json;
version=v2` (DRF's AcceptHeaderVersioning). The URL names the resource, which did not change; a
v1 client sends nothing new and gets v1, as the contract pins (docs/api-contract.md: every path
under /api/v2/ is a 404). An unknown version is a 406.

v1 answers say it will go: `Deprecation` (RFC 9745: since when), `Sunset` (RFC 8594: the date
it stops) and a `Link` to its successor, so a client's logs say what to do before anything
breaks. Every answer carries `Vary: Accept`: a cache must not serve one version for the other.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.versioning import AcceptHeaderVersioning

from catalog.models import Product

CURRENCY = "EUR"  # one currency, as the storefront shows it (storefront/templatetags/money.py)
V1, V2 = "v1", "v2"
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


class MediaTypeVersioning(AcceptHeaderVersioning):
    default_version = V1
    allowed_versions = (V1, V2)


class Versioned:
    """For the catalogue's views: v2's serializer when asked for, and v1's deprecation notice."""

    versioning_class = MediaTypeVersioning
    v2_serializer_class = ProductV2Serializer

    def get_serializer_class(self):
        if getattr(self.request, "version", V1) == V2:
            return self.v2_serializer_class
        return super().get_serializer_class()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ["Accept"])
        if getattr(request, "version", V1) != V2:
            response["Deprecation"] = f"@{int(V1_DEPRECATED_SINCE.timestamp())}"
            response["Sunset"] = format_datetime(V1_SUNSET, usegmt=True)
            response["Link"] = (f'<{request.path}>; rel="successor-version"; '
                                f'type="application/json; version={V2}"')
        return response
