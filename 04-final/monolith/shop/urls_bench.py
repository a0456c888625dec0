"""The public URLs plus the inventory's JSON twin of Reserve/Release, for bench/grpc_vs_rest.py."""

from django.urls import include, path

from shop.urls import urlpatterns as public

urlpatterns = [path("api/v1/", include("inventory.bench_api")), *public]
