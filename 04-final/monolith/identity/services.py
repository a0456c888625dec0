"""What the rest of the monolith may ask of identity (the bounded contexts' rule: services only)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, set_token_value
from oauth2_provider.settings import oauth2_settings

from identity import tokens

# The client the API's password login (POST /api/v1/auth/token/) issues tokens for: public (no
# secret to keep), so a holder can revoke its own token at /o/revoke_token/ with this id.
API_CLIENT_ID = "shop-api"
API_SCOPES = ["shop"]


def api_application():
    Application = get_application_model()
    app, _ = Application.objects.get_or_create(
        client_id=API_CLIENT_ID,
        defaults={
            "name": "Shop API (password login at /api/v1/auth/token/)",
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_PASSWORD,
            "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": True,
        },
    )
    return app


@transaction.atomic
def issue_access_token(user) -> dict:
    """A JWT for a user who proved their password: the same token the /o/ flows issue."""
    expires_in = oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
    raw = tokens.sign(tokens.claims(user, API_CLIENT_ID, API_SCOPES, expires_in))
    token = get_access_token_model()(
        user=user, application=api_application(), scope=" ".join(API_SCOPES),
        expires=timezone.now() + timedelta(seconds=expires_in))
    set_token_value(token, raw)  # only its checksum is stored (RFC 9700 storage)
    token.save()
    return {"access_token": raw, "token_type": "Bearer", "expires_in": expires_in,
            "scope": " ".join(API_SCOPES)}
