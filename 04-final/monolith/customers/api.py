from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from identity import services as identity

LoginAnswer = inline_serializer("TokenLoginAnswer", fields={
    "token": serializers.CharField(help_text="The legacy token: `Authorization: Token <token>`"),
    "access_token": serializers.CharField(
        help_text="A JWT (RS256, 5 minutes): `Authorization: Bearer <access_token>`"),
    "token_type": serializers.CharField(help_text='"Bearer"'),
    "expires_in": serializers.IntegerField(help_text="Seconds the access token lives"),
    "scope": serializers.CharField(),
})


@extend_schema(summary="Exchange a username and password for an API token",
               responses={200: LoginAnswer})
class TokenLogin(ObtainAuthToken):
    """POST {"username", "password"} -> {"token", "access_token", ...}.

    `token` is the legacy token (`Authorization: Token <token>`), kept for every client written
    before stage 04. `access_token` is a JWT signed by the shop's OAuth2 provider (/o/), sent as
    `Authorization: Bearer <access_token>`: the gateway checks it without asking anyone. New
    clients use the /o/ flows (authorization code + PKCE, client credentials) instead.
    Wrong credentials answer 400 `{"non_field_errors": [...]}` (DRF's shape, kept since day one).
    """

    parser_classes = [JSONParser]  # JSON like the rest of the API (DRF's view also reads forms)
    # Logging in needs no credentials: a stale token or session must not stand in the way.
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        legacy, _ = Token.objects.get_or_create(user=user)
        return Response({"token": legacy.key, **identity.issue_access_token(user)})


urlpatterns = [path("auth/token/", TokenLogin.as_view(), name="token-login")]
