from django.urls import path
from rest_framework import generics

from catalog.api_v2 import Versioned
from catalog.serializers import ProductSerializer
from catalog.services import active_products
from shop.api_contract import FieldKeyedSearchFilter


class ProductList(Versioned, generics.ListAPIView):
    """Products, 10 per page, ordered by name; `?search=` matches name or description."""

    serializer_class = ProductSerializer
    filter_backends = [FieldKeyedSearchFilter]
    search_fields = ["name", "description"]

    def get_queryset(self):
        return active_products().select_related("stock")


class ProductDetail(Versioned, generics.RetrieveAPIView):
    serializer_class = ProductSerializer

    def get_queryset(self):
        return active_products().select_related("stock")


urlpatterns = [
    path("products/", ProductList.as_view(), name="product-list"),
    path("products/<int:pk>/", ProductDetail.as_view(), name="product-detail"),
]
