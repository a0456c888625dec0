from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny


@extend_schema(summary="Exchange a username and password for an API token")
class TokenLogin(ObtainAuthToken):
    """POST {"username", "password"} -> {"token"}; send it as `Authorization: Token <token>`.

    Wrong credentials answer 400 `{"non_field_errors": [...]}` (DRF's shape, kept since day one).
    """

    parser_classes = [JSONParser]  # JSON like the rest of the API (DRF's view also reads forms)
    # Logging in needs no credentials: a stale token or session must not stand in the way.
    authentication_classes = []
    permission_classes = [AllowAny]


urlpatterns = [path("auth/token/", TokenLogin.as_view(), name="token-login")]
