"""Who is calling: `Authorization: Bearer <jwt>` checked at the front door, alone.

The provider (the monolith, /o/) signs access tokens RS256 and publishes its public keys at
/o/.well-known/jwks.json. The gateway keeps those keys (PyJWKClient caches the whole set) and
checks each token itself: no call to the provider per request. What a token must be, in the
order it is checked (the cheap refusals first, before any cryptography):

    at most MAX_TOKEN_BYTES   a header-sized token is a token; 8 KiB of base64 is an attack
    three base64url parts     else "malformed"
    alg RS256, a kid          the allowlist: `none` and HS256 (a forger HMAC-signing with the
                              public key, "algorithm confusion") never reach a key
    a published kid           an unknown kid fetches the JWKS again (a rotation), at most once
                              per cooldown, so made-up kids cannot flood the provider
    signature, iss, aud, exp, nbf, iat, sub   pyjwt, with LEEWAY seconds for clock skew

Every refusal is a 401 naming what was wrong (RFC 6750's `invalid_token`); nothing a client
sends turns into a 500. The provider unreachable while a key is needed is a 503: the token may
be fine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import jwt

ALGORITHMS = ("RS256",)  # the allowlist: exactly what the provider signs with
MAX_TOKEN_BYTES = 8 * 1024
LEEWAY = 5  # seconds of clock skew between the provider and the gateway
REQUIRED = ["exp", "nbf", "iat", "iss", "aud", "sub"]
MAX_VERIFIED = 10_000


class InvalidToken(Exception):
    """The token is refused: 401, with this text as the error_description."""


class ProviderUnavailable(Exception):
    """The keys could not be fetched: 503, the token may well be good."""


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str
    roles: frozenset[str]
    scopes: frozenset[str]
    client_id: str
    username: str
    expires_at: int
    token: str


class TokenVerifier:
    def __init__(self, jwks_url: str, issuer: str, audience: str, *,
                 cooldown: float = 30.0, lifespan: float = 300.0) -> None:
        self.issuer, self.audience = issuer, audience
        self.lifespan = lifespan
        # The JWKS client blocks (urllib), so it only ever runs in a thread; the keys it found
        # are kept here, by kid, for the event loop to use without a thread hop.
        self._client = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=lifespan,
                                       timeout=2, cooldown_duration=cooldown)
        self._keys: dict[str, tuple[float, jwt.PyJWK]] = {}
        # Tokens already checked, until they expire: a client sends the same token with every
        # request for minutes, and its RSA check and JSON parsing (~100 µs) need doing once.
        # (A key withdrawn from the JWKS then stops its tokens at their `exp`, 5 minutes at most.)
        self._verified: dict[str, Identity] = {}

    async def _key(self, kid: str) -> jwt.PyJWK:
        cached = self._keys.get(kid)
        if cached is not None and time.monotonic() - cached[0] < self.lifespan:
            return cached[1]
        try:
            key = await asyncio.to_thread(self._client.get_signing_key, kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise ProviderUnavailable(str(exc)) from None
        except jwt.PyJWKClientError:
            raise InvalidToken(f"unknown key id {kid[:64]!r}") from None
        if len(self._keys) > 64:  # kids only come from the provider's set: a handful
            self._keys.clear()
        self._keys[kid] = (time.monotonic(), key)
        return key

    async def verify(self, token: str) -> Identity:
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known.expires_at + LEEWAY:
                return known
            del self._verified[token]
        identity = await self._verify(token)
        if len(self._verified) >= MAX_VERIFIED:
            self._verified.clear()  # simpler than an LRU, and rare: a cache, not a store
        self._verified[token] = identity
        return identity

    async def _verify(self, token: str) -> Identity:
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken(f"the token is over {MAX_TOKEN_BYTES} bytes")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidToken(f"algorithm {str(alg)[:16]!r} is not accepted (RS256 only)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key (kid)")
        key = await self._key(kid)
        try:
            claims = jwt.decode(token, key.key, algorithms=list(ALGORITHMS),
                                audience=self.audience, issuer=self.issuer, leeway=LEEWAY,
                                options={"require": REQUIRED})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(f"the token is not for this audience ({self.audience})") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token is from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the signature does not verify") from None
        except jwt.PyJWTError as exc:  # anything else pyjwt refuses: still the client's fault
            raise InvalidToken(f"invalid token ({type(exc).__name__})") from None
        roles = claims.get("roles")
        scope = claims.get("scope")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidToken("the token's roles are not a list of names")
        if scope is not None and not isinstance(scope, str):
            raise InvalidToken("the token's scope is not a string")
        return Identity(
            subject=str(claims["sub"]), roles=frozenset(roles),
            scopes=frozenset((scope or "").split()), client_id=str(claims.get("client_id", "")),
            username=str(claims.get("preferred_username", "")), expires_at=int(claims["exp"]),
            token=token)
