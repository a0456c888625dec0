from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shop import health


def api_root(request):
    """The API's front page: where to go next (the docs list every operation)."""
    from django.http import JsonResponse

    base = request.build_absolute_uri("/api/v1/")
    return JsonResponse(
        {
            name: base + path
            for name, path in [
                ("products", "products/"),
                ("orders", "orders/"),
                ("token", "auth/token/"),
                ("stock", "stock/"),
                ("schema", "schema/"),
                ("docs", "docs/"),
            ]
        }
    )


api_v1 = [
    path("", api_root, name="api-root"),
    path("", include("catalog.api")),
    path("", include("inventory.api")),
    path("", include("customers.api")),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    # The OAuth2 / OpenID Connect provider: authorize, token, revoke, introspect, userinfo,
    # /o/.well-known/openid-configuration and /o/.well-known/jwks.json.
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("", include("storefront.urls")),
]
