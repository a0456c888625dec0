from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from orders.projections.order_history import metrics as order_history_metrics

from orders_service import health, token_scheme  # noqa: F401 (registers the scheme)

urlpatterns = [
    # Exactly the paths the monolith had: the facade sends /api/v1/orders here.
    path("api/v1/", include("orders.api")),
    path("api/v1/schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", order_history_metrics),
    path("", lambda request: JsonResponse({"service": "orders"})),
]
