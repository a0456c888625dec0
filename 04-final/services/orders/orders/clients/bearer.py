"""`Authorization: Bearer <jwt>`: who is calling, checked here without asking anyone.

The provider (the monolith, /o/) signs access tokens with RS256 and publishes its public keys
(the JWKS). This service fetches them once (PyJWKClient caches the set, and fetches it again
only for a `kid` it has not seen: a rotation), then checks each token's signature, issuer,
audience and lifetime itself: no gRPC call per request, unlike the legacy `Token` (customers.py).
The gateway checked the same token first; checking again here keeps a request that reaches this
service some other way from being believed on its word.

A revoked token is refused at the gateway (it reads the revocations in Redis); a caller who
skips the gateway can use one here until it expires, 5 minutes at most.
"""

from __future__ import annotations

import threading

import jwt
from django.conf import settings
from rest_framework import authentication, exceptions

from orders.clients.customers import Customer, IdentityUnavailable

_lock = threading.Lock()
_jwks: jwt.PyJWKClient | None = None


def jwks() -> jwt.PyJWKClient:
    global _jwks
    with _lock:
        if _jwks is None:
            # An unknown kid fetches the set again, at most once per cooldown: a flood of
            # made-up kids costs the provider one request per cooldown, not one each.
            _jwks = jwt.PyJWKClient(settings.IDENTITY_JWKS_URL, cache_jwk_set=True,
                                    lifespan=3600, timeout=2,
                                    cooldown_duration=settings.JWKS_REFRESH_COOLDOWN_SECONDS)
        return _jwks


def customer_of(token: str) -> Customer:
    try:
        key = jwks().get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        raise IdentityUnavailable() from exc
    except jwt.PyJWTError as exc:  # malformed, no kid, a kid nobody published
        raise exceptions.AuthenticationFailed(f"Invalid token: {exc}") from exc
    try:
        claims = jwt.decode(token, key.key, algorithms=["RS256"],
                            audience=settings.OIDC_ACCESS_TOKEN_AUDIENCE,
                            issuer=settings.OIDC_ISSUER,
                            options={"require": ["exp", "nbf", "iss", "aud", "sub"]})
    except jwt.PyJWTError as exc:
        raise exceptions.AuthenticationFailed(f"Invalid token: {exc}") from exc
    roles = claims.get("roles") or []
    if not str(claims["sub"]).isdigit():
        # A service's token (client credentials) names no customer: orders belong to people.
        raise exceptions.PermissionDenied("A service token cannot act for a customer here.")
    return Customer(int(claims["sub"]), claims.get("preferred_username", ""),
                    claims.get("email", ""), is_staff="staff" in roles)


class BearerJwtAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid bearer header.")
        try:
            token = header[1].decode("ascii")
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid bearer header.") from exc
        return customer_of(token), token

    def authenticate_header(self, request):
        return 'Bearer realm="shop"'
