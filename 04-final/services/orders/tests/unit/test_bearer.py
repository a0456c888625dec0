"""A Bearer JWT is checked here alone: against the provider's JWKS, served by a real HTTP server."""

from __future__ import annotations

import http.server
import json
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings
from rest_framework import exceptions

from orders.clients import bearer
from orders.clients.customers import IdentityUnavailable

ISSUER = "http://gateway.test/o"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def provider():
    """The provider's JWKS on a free port; `keys` can change, as in a rotation."""
    keys = {"k1": rsa_key()}

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"keys": [
                {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())), "kid": kid,
                 "alg": "RS256", "use": "sig"} for kid, k in keys.items()]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/o/.well-known/jwks.json"
    with override_settings(IDENTITY_JWKS_URL=url, OIDC_ISSUER=ISSUER,
                           JWKS_REFRESH_COOLDOWN_SECONDS=0):
        bearer._jwks = None
        yield keys
    bearer._jwks = None
    server.shutdown()


def token(key, kid="k1", **changes):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "shop", "sub": "7", "iat": now, "nbf": now, "exp": now + 60,
              "preferred_username": "alice", "email": "alice@example.com",
              "roles": ["customer"], "scope": "shop", "jti": "x"}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key,
                      algorithm="RS256", headers={"kid": kid})


def test_a_good_token_names_the_customer(provider):
    customer = bearer.customer_of(token(provider["k1"]))
    assert (customer.id, customer.username, customer.is_staff) == (7, "alice", False)
    assert bearer.customer_of(token(provider["k1"], roles=["staff"])).is_staff


@pytest.mark.parametrize("changes", [
    {"aud": "another-api"}, {"iss": "http://evil.test/o"}, {"exp": 1}, {"nbf": 2**31},
    {"exp": None},
], ids=["audience", "issuer", "expired", "not-yet", "no-exp"])
def test_a_token_with_a_wrong_claim_is_refused(provider, changes):
    with pytest.raises(exceptions.AuthenticationFailed):
        bearer.customer_of(token(provider["k1"], **changes))


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(provider):
    with pytest.raises(exceptions.AuthenticationFailed):
        bearer.customer_of(token(rsa_key()))


def test_hs256_signed_with_the_public_key_is_refused(provider):
    from cryptography.hazmat.primitives import serialization

    public = provider["k1"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # pyjwt refuses to HMAC-sign with a PEM key, so the forgery is built by hand.
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": "shop", "sub": "1", "nbf": 0,
                           "exp": 2**31, "roles": ["staff"]}).encode())
    sig = b64(hmac.new(public, f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(exceptions.AuthenticationFailed):
        bearer.customer_of(f"{head}.{body}.{sig}")


def test_a_rotated_key_is_fetched_once_then_known(provider):
    provider["k2"] = rsa_key()
    try:
        assert bearer.customer_of(token(provider["k2"], kid="k2")).id == 7
    finally:
        del provider["k2"]


def test_a_service_token_cannot_act_as_a_customer(provider):
    with pytest.raises(exceptions.PermissionDenied):
        bearer.customer_of(token(provider["k1"], sub="orders-service", roles=["service"]))


def test_no_provider_is_a_503_not_a_401(provider):
    with override_settings(IDENTITY_JWKS_URL="http://127.0.0.1:9/none"):
        bearer._jwks = None
        try:
            with pytest.raises(IdentityUnavailable):
                bearer.customer_of(token(provider["k1"]))
        finally:
            bearer._jwks = None
