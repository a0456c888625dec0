"""The gateway's checks (stage 04), through a real gateway process, a real Redis and a stand-in
provider: a JWKS on a real HTTP server, with keys made here (the monolith's own provider is
checked by the monolith's tests and, end to end, by the acceptance suite).

Every hostile token gets a 401 naming what was wrong, never a 500 and never the backend.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import threading
import time
import uuid

import jwt
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import free_port, start_facade, table, wait_until

ISSUER = "http://shop.test/o"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Provider:
    """The provider's JWKS endpoint: the keys it publishes and how often it was asked."""

    def __init__(self) -> None:
        self.keys = {"current": rsa_key(), "next": rsa_key()}
        self.fetches = 0
        self.up = True
        provider = self

        class Jwks(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                provider.fetches += 1
                if not provider.up:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": [
                    {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())),
                     "kid": kid, "alg": "RS256", "use": "sig"}
                    for kid, k in list(provider.keys.items())]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        self.url = f"http://127.0.0.1:{self.server.server_port}/o/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, kid: str = "current", key=None, **changes) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": "shop", "sub": "7", "iat": now, "nbf": now,
                  "exp": now + 300, "jti": uuid.uuid4().hex, "scope": "shop",
                  "roles": ["customer"], "preferred_username": "alice", "client_id": "shop-api"}
        claims.update(changes)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def provider():
    provider = Provider()
    yield provider
    provider.server.shutdown()


@pytest.fixture(scope="module")
def redis_url():
    url = os.environ.get("REDIS_URL") or LOCAL_REDIS
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"no Redis at {url} ({exc}): the gateway's tests need one")
        pytest.skip(f"no Redis at {url}: start one (redis-server) or set REDIS_URL")
    return url


SHARED_ROUTES = """
[[routes]]
prefix = "/staff"
old = "monolith"
roles = ["staff"]

[[routes]]
prefix = "/orders"
old = "monolith"
roles = ["customer", "staff"]

[[routes]]
prefix = "/limited-{run}"
old = "monolith"
rate_limit = "3/minute"

[[routes]]
prefix = "/login-{run}"
old = "monolith"
rate_limit = "2/minute"

[[routes]]
prefix = "/"
old = "monolith"
"""


def gateway_env(provider, redis_url, **env):
    return {"GATEWAY_AUTH": "on", "GATEWAY_JWKS_URL": provider.url, "GATEWAY_ISSUER": ISSUER,
            "GATEWAY_REDIS_URL": redis_url, "REDIS_URL": "", "GATEWAY_JWKS_COOLDOWN": "1",
            **env}


@pytest.fixture(scope="module")
def gw(tmp_path_factory, upstreams, provider, redis_url):
    """One gateway for most tests (starting one takes seconds on a busy machine). Its rate-limit
    prefixes are this run's own: the counters in the shared Redis belong to this run alone."""
    run = uuid.uuid4().hex[:8]
    proc = start_facade(tmp_path_factory.mktemp("gateway"),
                        table({"monolith": upstreams["monolith"].url},
                              SHARED_ROUTES.replace("{run}", run)),
                        **gateway_env(provider, redis_url))
    proc.run = run
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture
def own_gateway(facade_factory, upstreams, provider, redis_url):
    """A gateway of a test's own, for what would disturb the shared one."""
    def start(**env):
        return facade_factory(table({"monolith": upstreams["monolith"].url}, SHARED_ROUTES),
                              **gateway_env(provider, redis_url, **env))
    return start


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


def good_claims(**changes) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": "shop", "sub": "1", "iat": now, "nbf": now, "exp": now + 300,
            "roles": ["staff"], "scope": "shop", **changes}


def assert_refused(resp, words: str, status: int = 401, error: str = "invalid_token") -> None:
    assert resp.status_code == status, resp.text
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="shop"') and f'error="{error}"' in challenge
    assert words in resp.json()["detail"], resp.json()
    assert resp.headers["x-served-by"] == "facade"  # answered at the door: no backend saw it


# -- a good token -------------------------------------------------------------------------------

def test_a_good_token_passes_with_the_verified_identity_and_no_forged_one(gw, provider):
    resp = gw.client.get("/orders/1", headers={
        **bearer(provider.token()), "X-User-Id": "1", "X-User-Roles": "staff",
        "X-Forwarded-User": "admin"})
    assert resp.status_code == 200, resp.text
    seen = {k.lower(): v for k, v in resp.json()["headers"]}
    assert seen["x-user-id"] == "7" and seen["x-user-roles"] == "customer"
    assert seen["x-user-name"] == "alice" and seen["x-user-scope"] == "shop"
    assert "x-forwarded-user" not in seen
    assert seen["authorization"].startswith("Bearer ")  # the backend may check it again


def test_two_authorization_headers_are_refused_not_guessed_between(gw, provider):
    resp = gw.client.get("/anything", headers=[("Authorization", f"Bearer {provider.token()}"),
                                               ("Authorization", "Token someone-elses")])
    assert resp.status_code == 400 and resp.json()["code"] == "ambiguous_credentials"
    assert resp.headers["x-served-by"] == "facade"


def test_a_client_cannot_make_itself_someone_without_a_token(gw):
    resp = gw.client.get("/anything", headers={"X-User-Id": "1", "X-User-Roles": "staff"})
    seen = {k.lower() for k, _ in resp.json()["headers"]}
    assert not {"x-user-id", "x-user-roles"} & seen


# -- hostile tokens: 401, never 500, never the backend -------------------------------------------

def test_alg_none_is_refused(gw):
    token = unsigned({"alg": "none", "typ": "JWT", "kid": "current"}, good_claims())
    assert_refused(gw.client.get("/anything", headers=bearer(token)), "'none' is not accepted")


def test_hs256_signed_with_the_public_key_is_refused(gw, provider):
    """Algorithm confusion: a verifier that let the token pick its algorithm would check this
    HMAC with the public key (which anyone can fetch) as the secret, and believe it."""
    public = provider.keys["current"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "current"}).encode())
    body = b64(json.dumps(good_claims()).encode())
    sig = hmac.new(public, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert_refused(gw.client.get("/staff/", headers=bearer(f"{head}.{body}.{b64(sig)}")),
                   "'HS256' is not accepted")


def test_a_token_signed_by_a_stranger_under_a_known_kid_is_refused(gw, provider):
    forged = provider.token(key=rsa_key(), roles=["staff"])
    assert_refused(gw.client.get("/staff/", headers=bearer(forged)),
                   "signature does not verify")


def test_an_unknown_kid_is_refused_and_fetches_the_keys_at_most_once_per_cooldown(
        own_gateway, provider):
    gw = own_gateway(GATEWAY_JWKS_COOLDOWN="30")
    assert gw.client.get("/anything", headers=bearer(provider.token())).status_code == 200
    before = provider.fetches
    # A rotation: `next` signs now. It was published from the start, so the gateway already
    # has it: no fetch (and the cooldown would allow none yet).
    assert gw.client.get("/anything", headers=bearer(provider.token("next"))).status_code == 200
    for i in range(20):
        forged = provider.token(kid=f"made-up-{i}", key=provider.keys["current"])
        assert_refused(gw.client.get("/anything", headers=bearer(forged)), "unknown key id")
    # The first fetch started the cooldown: twenty made-up kids cost the provider nothing more.
    assert provider.fetches == before


@pytest.mark.parametrize("token, words", [
    ("not-a-jwt", "malformed"),
    ("a.b.c", "malformed"),
    ("....", "malformed"),
    (b64(b"[1]") + "." + b64(b"{}") + ".", "malformed"),
    (unsigned({"alg": "RS256"}, good_claims()), "names no key"),
    (unsigned({"alg": "RS256", "kid": 5}, good_claims()), "malformed"),
    (unsigned({"alg": ["RS256"], "kid": "current"}, good_claims()), "is not accepted"),
    ("é.é.é", "malformed"),
    ("", "malformed"),
    ("a" * 40 + "." * 2, "malformed"),
], ids=["plain", "three-dots", "empty-parts", "header-a-list", "no-kid", "kid-a-number",
        "alg-a-list", "not-ascii", "empty", "no-payload"])
def test_a_malformed_token_is_refused(gw, token, words):
    # Bytes: httpx would refuse to send a str that is not ASCII; a hostile client would not.
    header = f"Bearer {token}".strip().encode("latin-1")
    assert_refused(gw.client.get("/anything", headers={"Authorization": header}), words)


def test_an_oversized_token_is_refused_before_it_is_parsed(gw, provider):
    huge = provider.token(padding="x" * 9000)
    assert_refused(gw.client.get("/anything", headers=bearer(huge)), "over 8192 bytes")


@pytest.mark.parametrize("changes, words", [
    ({"aud": "another-api"}, "not for this audience"),
    ({"iss": "http://evil.test/o"}, "another issuer"),
    ({"exp": int(time.time()) - 60}, "expired"),
    ({"nbf": int(time.time()) + 3600}, "not valid yet"),
    ({"exp": None}, "no 'exp' claim"),
    ({"sub": None}, "no 'sub' claim"),
    ({"exp": "tomorrow"}, "invalid token"),
    ({"roles": "staff"}, "roles are not a list"),
], ids=["wrong-audience", "wrong-issuer", "expired", "not-yet-valid", "no-exp", "no-sub",
        "exp-a-string", "roles-a-string"])
def test_a_token_with_a_wrong_claim_is_refused(gw, provider, changes, words):
    assert_refused(gw.client.get("/anything", headers=bearer(provider.token(**changes))), words)


def test_a_revoked_token_is_refused_as_soon_as_the_provider_says_so(gw, provider, redis_url):
    token = provider.token()
    assert gw.client.get("/anything", headers=bearer(token)).status_code == 200
    key = "revoked:" + hashlib.sha256(token.encode()).hexdigest()
    store = redis.Redis.from_url(redis_url)
    store.set(key, 1, ex=60)  # what the provider's revocation writes (identity/revocation.py)
    try:
        assert_refused(gw.client.get("/anything", headers=bearer(token)), "revoked")
    finally:
        store.delete(key)


# -- roles ---------------------------------------------------------------------------------------

def test_a_customer_on_a_staff_route_gets_403_insufficient_scope(gw, provider):
    resp = gw.client.get("/staff/", headers=bearer(provider.token()))
    assert_refused(resp, "needs one of the roles staff", 403, "insufficient_scope")
    staff = provider.token(roles=["staff"])
    assert gw.client.get("/staff/", headers=bearer(staff)).status_code == 200


def test_no_credentials_on_a_route_with_roles_is_401_here_and_legacy_ones_pass_on(gw):
    resp = gw.client.get("/orders/")
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == 'Bearer realm="shop"'
    assert resp.headers["x-served-by"] == "facade"
    # The legacy token and the storefront's session are the backends' to check, as in stage 03.
    assert gw.client.get("/orders/", headers={"Authorization": "Token abc"}
                         ).status_code == 200
    assert gw.client.get("/orders/", headers={"Cookie": "sessionid=s"}).status_code == 200


def test_a_customer_keeps_their_canary_side_when_their_token_is_refreshed(
        own_gateway, provider, spawn_upstream, upstreams):
    """Stickiness by the verified subject, not the token's text: a new token every 5 minutes
    must not move a customer between the old and the new side."""

    new = spawn_upstream("orders")
    gw = own_gateway()
    gw.rewrite(table({"monolith": upstreams["monolith"].url, "orders": new.url}, '''
[[routes]]
prefix = "/canary"
old = "monolith"
new = "orders"
weight = 50

[[routes]]
prefix = "/"
old = "monolith"
'''))
    wait_until(lambda: gw.routes()["version"] >= 2, 10, "the canary table")
    for subject in ("1", "2", "3", "4", "5", "6"):
        sides = {gw.client.get("/canary/x", headers=bearer(provider.token(sub=subject))
                               ).headers["x-upstream"] for _ in range(4)}  # 4 fresh tokens
        assert len(sides) == 1, (subject, sides)


# -- the keys ------------------------------------------------------------------------------------

def test_a_new_key_is_fetched_once_the_cooldown_is_over(gw, provider):
    # The shared gateway's cooldown is 1 s.
    assert gw.client.get("/anything", headers=bearer(provider.token())).status_code == 200
    provider.keys["later"] = rsa_key()
    try:
        token = provider.token("later")
        wait_until(lambda: gw.client.get("/anything", headers=bearer(token)).status_code == 200,
                   10, "the new key to be fetched after the cooldown")
    finally:
        del provider.keys["later"]


def test_the_provider_down_is_a_503_not_a_401_nor_a_500(own_gateway, provider):
    gw = own_gateway()  # no key fetched yet
    provider.up = False
    try:
        resp = gw.client.get("/anything", headers=bearer(provider.token(kid="current")))
        assert resp.status_code == 503, resp.text
        assert resp.json()["code"] == "identity_unavailable" and resp.headers["retry-after"]
    finally:
        provider.up = True


# -- rate limits ---------------------------------------------------------------------------------

def test_a_client_over_the_limit_gets_429_with_retry_after_and_ratelimit_headers(
        gw, provider):
    alice, bob = provider.token(sub="1"), provider.token(sub="2")
    for _ in range(3):
        assert gw.client.get(f"/limited-{gw.run}/x", headers=bearer(alice)).status_code == 200
    resp = gw.client.get(f"/limited-{gw.run}/x", headers=bearer(alice))
    assert resp.status_code == 429, resp.text
    assert resp.json()["code"] == "rate_limited"
    assert resp.headers["ratelimit-limit"] == "3" and resp.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    assert int(resp.headers["ratelimit-reset"]) <= 60
    # Per client: bob has his own count; per route: alice is still welcome elsewhere.
    assert gw.client.get(f"/limited-{gw.run}/x", headers=bearer(bob)).status_code == 200
    assert gw.client.get("/anything", headers=bearer(alice)).status_code == 200
    assert gw.metric("gateway_rate_limited_total", route=f"/limited-{gw.run}") == 1


def test_anonymous_callers_are_counted_by_address(gw):
    codes = [gw.client.post(f"/login-{gw.run}/", json={}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_redis_down_lets_requests_through_and_counts_the_failure(
        facade_factory, upstreams, provider):
    """A limit protects the shop; refusing every customer because the counter is down would do
    the attacker's work. Redis that does not answer: requests pass, the metric says so."""
    routes = table({"monolith": upstreams["monolith"].url}, '''
[[routes]]
prefix = "/limited"
old = "monolith"
rate_limit = "1/minute"

[[routes]]
prefix = "/"
old = "monolith"
''')

    gw = facade_factory(routes, GATEWAY_AUTH="on", GATEWAY_JWKS_URL=provider.url,
                        GATEWAY_ISSUER=ISSUER, REDIS_URL="",
                        GATEWAY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    codes = [gw.client.get("/limited/x", headers=bearer(provider.token())).status_code
             for _ in range(3)]
    assert codes == [200, 200, 200]
    assert gw.metric("gateway_redis_errors_total") >= 3


def test_the_gateway_refuses_to_start_without_its_provider_and_redis(facade_factory, upstreams):
    routes = table({"monolith": upstreams["monolith"].url},
                   '[[routes]]\nprefix = "/"\nold = "monolith"\n')
    with pytest.raises(AssertionError, match="GATEWAY_JWKS_URL, GATEWAY_ISSUER"):
        facade_factory(routes, GATEWAY_AUTH="on")


def test_the_table_rejects_unknown_roles_and_bad_limits(own_gateway):
    gw = own_gateway()
    good = gw.routes_path.read_text()
    gw.rewrite(good.replace('roles = ["staff"]', 'roles = ["admin"]\nrate_limit = "lots"'))
    wait_until(lambda: gw.routes()["last_error"] is not None, 10, "the edit to be rejected")
    error = gw.routes()["last_error"]["problem"]
    assert "unknown role(s) admin" in error and "rate_limit must be like" in error


def test_a_checked_token_is_remembered_only_until_it_expires(provider, monkeypatch):
    """The verifier keeps tokens it checked (no second RSA check per request), never past exp."""
    import asyncio

    from facade import auth

    monkeypatch.setattr(auth, "LEEWAY", 0)
    verifier = auth.TokenVerifier(provider.url, ISSUER, "shop")
    token = provider.token(exp=int(time.time()) + 2)
    first = asyncio.run(verifier.verify(token))
    assert asyncio.run(verifier.verify(token)) is first  # from memory

    def refused() -> bool:
        try:
            asyncio.run(verifier.verify(token))
        except auth.InvalidToken as exc:
            assert "expired" in str(exc)
            return True
        return False

    wait_until(refused, 10, "the remembered token to be refused once expired")
