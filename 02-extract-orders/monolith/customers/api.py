from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.views import ObtainAuthToken


@extend_schema(summary="Exchange a username and password for an API token")
class TokenLogin(ObtainAuthToken):
    """POST {"username", "password"} -> {"token"}; send it as `Authorization: Token <token>`."""


urlpatterns = [path("auth/token/", TokenLogin.as_view(), name="token-login")]
