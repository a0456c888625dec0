"""The OAuth2 / OpenID Connect provider (identity/): every flow the shop uses, end to end.

Tokens are checked the way the gateway checks them: pyjwt against the published JWKS, never by
asking the provider. Revocation is checked where the gateway looks: Redis.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from identity import keys, revocation
from tests.servers import redis_server

STOREFRONT_REDIRECT = "http://127.0.0.1:8080/oauth/callback"


@pytest.fixture
def clients(seeded, settings, tmp_path):
    settings.OAUTH_STOREFRONT_REDIRECT_URIS = [STOREFRONT_REDIRECT]
    os.environ["OAUTH_SERVICE_CLIENT_SECRET"] = "service-secret-for-tests"
    try:
        with open(os.devnull, "w") as quiet:
            call_command("oauth_clients", stdout=quiet)
    finally:
        del os.environ["OAUTH_SERVICE_CLIENT_SECRET"]


@pytest.fixture(scope="module")
def published_revocations():
    """The machine's Redis (or a container), where revoked tokens are announced."""
    with redis_server(os.environ.get("REDIS_URL")) as url:
        client = redis.Redis.from_url(url)
        try:
            client.ping()
        except redis.RedisError as exc:
            if os.environ.get("CI"):
                pytest.fail(f"no Redis at {url} ({exc}): the revocation tests need one")
            pytest.skip(f"no Redis at {url}: start one (redis-server) to run this test")
        yield url, client


def jwks(api) -> dict:
    resp = api.get("/o/.well-known/jwks.json")
    assert resp.status_code == 200
    return resp.json()


def verify(api, token: str) -> dict:
    """As the gateway does: the key named by `kid` from the JWKS, RS256 only, iss and aud."""
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [k for k in jwks(api)["keys"] if k["kid"] == kid]
    return jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"],
                      audience="shop", issuer=settings.OIDC_ISSUER,
                      options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]})


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_discovery_names_the_issuer_and_the_jwks(api):
    doc = api.get("/o/.well-known/openid-configuration").json()
    assert doc["issuer"] == settings.OIDC_ISSUER
    assert doc["jwks_uri"].endswith("/o/.well-known/jwks.json")
    assert "RS256" in doc["id_token_signing_alg_values_supported"]


def test_the_jwks_publishes_two_keys_and_the_current_one_signs(api):
    published = jwks(api)["keys"]
    assert [k["kid"] for k in published] == [keys.kid(settings.OIDC_KEYS.current),
                                              keys.kid(settings.OIDC_KEYS.next)]
    assert all(k["kty"] == "RSA" and "d" not in k for k in published)  # public halves only


def test_the_login_api_keeps_the_legacy_token_and_adds_a_jwt(api, alice):
    resp = api.post("/api/v1/auth/token/", {"username": "alice", "password": "wonderland"},
                    format="json")
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    claims = verify(api, body["access_token"])
    assert claims["sub"] == str(alice.pk) and claims["roles"] == ["customer"]
    assert claims["preferred_username"] == "alice" and claims["scope"] == "shop"
    assert claims["exp"] - claims["iat"] == 300
    # Both open the API: the legacy token as before, the JWT as a Bearer token.
    for header in (f"Token {body['token']}", f"Bearer {body['access_token']}"):
        me = APIClient(HTTP_AUTHORIZATION=header)
        assert me.get("/api/v1/stock/").status_code == 403  # authenticated, not staff


def test_staff_get_the_staff_role_and_their_bearer_token_opens_the_stock_api(api, seeded):
    body = api.post("/api/v1/auth/token/", {"username": "admin", "password": "workshop-admin"},
                    format="json").json()
    assert verify(api, body["access_token"])["roles"] == ["staff"]
    staff = APIClient(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert staff.get("/api/v1/stock/").status_code == 200


def test_the_storefront_logs_in_with_code_and_pkce_then_refreshes(clients, alice):
    browser = APIClient()
    browser.force_login(alice)
    verifier, challenge = pkce()
    resp = browser.get("/o/authorize/", {
        "response_type": "code", "client_id": "storefront", "redirect_uri": STOREFRONT_REDIRECT,
        "scope": "openid shop", "state": "xyz", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    assert resp.status_code == 302, resp.content
    query = parse_qs(urlsplit(resp["Location"]).query)
    assert query["state"] == ["xyz"]
    code = query["code"][0]

    token = APIClient().post("/o/token/", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": STOREFRONT_REDIRECT,
        "client_id": "storefront", "code_verifier": verifier})
    assert token.status_code == 200, token.content
    body = token.json()
    claims = verify(browser, body["access_token"])
    assert claims["sub"] == str(alice.pk) and claims["client_id"] == "storefront"
    assert set(claims["scope"].split()) == {"openid", "shop"}
    assert "id_token" in body and "refresh_token" in body

    refreshed = APIClient().post("/o/token/", {
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
        "client_id": "storefront"})
    assert refreshed.status_code == 200, refreshed.content
    assert verify(browser, refreshed.json()["access_token"])["sub"] == str(alice.pk)
    # A refresh token is used once: the old one is refused now.
    again = APIClient().post("/o/token/", {
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
        "client_id": "storefront"})
    assert again.status_code == 400


def test_a_code_without_its_verifier_gets_no_token(clients, alice):
    browser = APIClient()
    browser.force_login(alice)
    _, challenge = pkce()
    resp = browser.get("/o/authorize/", {
        "response_type": "code", "client_id": "storefront", "redirect_uri": STOREFRONT_REDIRECT,
        "scope": "shop", "code_challenge": challenge, "code_challenge_method": "S256"})
    code = parse_qs(urlsplit(resp["Location"]).query)["code"][0]
    token = APIClient().post("/o/token/", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": STOREFRONT_REDIRECT,
        "client_id": "storefront", "code_verifier": pkce()[0]})
    assert token.status_code == 400 and "access_token" not in token.json()


def test_a_service_gets_a_token_for_itself_with_client_credentials(clients, api):
    auth = base64.b64encode(b"orders-service:service-secret-for-tests").decode()
    resp = APIClient(HTTP_AUTHORIZATION=f"Basic {auth}").post(
        "/o/token/", {"grant_type": "client_credentials", "scope": "stock"})
    assert resp.status_code == 200, resp.content
    claims = verify(api, resp.json()["access_token"])
    assert claims["sub"] == "orders-service" and claims["roles"] == ["service"]
    assert claims["scope"] == "stock" and "refresh_token" not in resp.json()

    # Its token reads the stock (the `stock` scope), sets none, and browses like anyone.
    service = APIClient(HTTP_AUTHORIZATION=f"Bearer {resp.json()['access_token']}")
    assert service.get("/api/v1/stock/").status_code == 200
    assert service.put("/api/v1/stock/1/", {"quantity": 1}, format="json").status_code == 403
    assert service.get("/api/v1/products/").status_code == 200

    wrong = base64.b64encode(b"orders-service:not-the-secret").decode()
    refused = APIClient(HTTP_AUTHORIZATION=f"Basic {wrong}").post(
        "/o/token/", {"grant_type": "client_credentials"})
    assert refused.status_code == 401


def test_a_revoked_token_is_refused_here_and_announced_to_the_gateway(
        api, alice, settings, published_revocations):
    url, client = published_revocations
    settings.REVOCATION_REDIS_URL = url
    revocation._client = None
    try:
        body = api.post("/api/v1/auth/token/", {"username": "alice", "password": "wonderland"},
                        format="json").json()
        token = body["access_token"]
        bearer = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert bearer.get("/api/v1/stock/").status_code == 403  # known, not staff

        resp = APIClient().post("/o/revoke_token/", {"token": token, "client_id": "shop-api"})
        assert resp.status_code == 200, resp.content

        assert bearer.get("/api/v1/stock/").status_code == 401
        key = revocation.PREFIX + hashlib.sha256(token.encode()).hexdigest()
        assert client.exists(key)
        assert 0 < client.ttl(key) <= 301
        client.delete(key)
    finally:
        revocation._client = None


def test_a_rotation_signs_with_the_published_next_key_and_keeps_the_old_one(tmp_path):
    before = keys.ensure(tmp_path)
    after = keys.rotate(tmp_path)
    assert after.current == before.next and after.previous == before.current
    assert after.next not in (before.current, before.next)
    assert after.inactive == [after.next, before.current]
    assert oct(os.stat(tmp_path / "next.pem").st_mode & 0o777) == "0o600"
    assert json.loads(json.dumps(keys.kid(after.current)))  # a plain string
