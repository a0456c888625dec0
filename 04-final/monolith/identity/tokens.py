"""JWT access tokens: what django-oauth-toolkit issues, and what the login API hands out.

DOT's own access tokens are opaque random strings that only its database can check. Signed
tokens let the gateway (and the orders service) check them alone, with the public keys of the
JWKS: no call to the monolith per request. ACCESS_TOKEN_GENERATOR (settings.py) points at
`signed_access_token`; DOT still stores each token (as a checksum only), so introspection and
revocation keep working.
"""

from __future__ import annotations

import time
import uuid

import jwt
from django.conf import settings

CUSTOMER, STAFF, SERVICE = "customer", "staff", "service"


def roles_of(user) -> list[str]:
    if user is None:
        return [SERVICE]
    return [STAFF] if user.is_staff else [CUSTOMER]


def claims(user, client_id: str, scopes: list[str], expires_in: int) -> dict:
    now = int(time.time())
    out = {
        "iss": settings.OIDC_ISSUER,
        "aud": settings.OIDC_ACCESS_TOKEN_AUDIENCE,
        # A service (client credentials) acts for itself: its subject is its client id.
        "sub": str(user.pk) if user is not None else client_id,
        "client_id": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + int(expires_in),
        "jti": uuid.uuid4().hex,
        "scope": " ".join(sorted(scopes)),
        "roles": roles_of(user),
    }
    if user is not None:
        # What a backend needs to answer without asking the monolith who this is.
        out.update(preferred_username=user.get_username(), email=user.email or "")
    return out


def sign(payload: dict) -> str:
    return jwt.encode(payload, settings.OIDC_KEYS.current, algorithm="RS256",
                      headers={"kid": settings.OIDC_SIGNING_KID, "typ": "at+jwt"})


def signed_access_token(request) -> str:
    """oauthlib's token generator hook: `request` is oauthlib's, after the grant was validated."""
    user = getattr(request, "user", None)
    if getattr(request, "grant_type", None) == "client_credentials":
        user = None
    client_id = request.client_id or getattr(request.client, "client_id", "")
    return sign(claims(user, client_id, list(request.scopes or []), request.expires_in))
