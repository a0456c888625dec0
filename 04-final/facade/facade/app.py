"""The facade: one request from the routing table to the right upstream.

No web framework and no ASGI: the facade has three fixed pages of its own and proxies everything
else, so a router and request/response objects would only add CPU to every request (see
server.py for the figures). `python -m facade` runs it (see __main__.py). Its own pages live
under /-/, a prefix no shop URL uses:
    /-/health   liveness (JSON)
    /-/routes   the routing table in force, with its version and the last rejected edit
    /-/metrics  Prometheus text
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys

from .headers import read_request, upstream_request_head
from .metrics import CONTENT_TYPE, Metrics
from .proxy import Call, Proxy, send_json
from .reload import TableWatcher, summary
from .server import Connection, Request
from .settings import Settings
from .split import OLD, BadOverride, choose_side, customer_key
from .table import Route, RouteTable

log = logging.getLogger("facade")
_ALLOW = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
# What may go into a quoted header value: visible ASCII without the quote and the backslash (an
# error description can echo a client's kid; it must not end the string or the header).
_UNQUOTABLE = re.compile(r'[^\x20-\x7e]|["\\]')
_HEADER_VALUE = re.compile(r"[^\x20-\x7e]")


class Facade:
    def __init__(self, settings: Settings | None = None) -> None:
        # Settings None: read the environment at startup, so importing this module (as uvicorn
        # does) has no side effects and tests can set the environment first.
        self._given_settings = settings
        self.settings: Settings | None = None
        self.metrics = Metrics()
        self.table: RouteTable | None = None
        self.proxy: Proxy | None = None
        self.watcher: TableWatcher | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.verifier = None  # stage 04: auth.TokenVerifier when GATEWAY_AUTH is on
        self.gate = None  # ratelimit.RedisGate: rate limits and revoked tokens

    async def startup(self) -> None:
        settings = self._given_settings or Settings.from_env()
        self.settings = settings
        configure_logging(settings.log_level)
        self.watcher = TableWatcher(
            settings.routes_path, settings.reload_interval, self._table_loaded, self._rejected
        )
        table = self.watcher.load_initial()  # a bad table at startup stops the facade
        self._table_loaded(table)
        log.info("routing table %s loaded: version 1: %s", table.source, summary(table))
        self.proxy = Proxy(settings, self.metrics)
        if settings.auth:
            # Imported here: a routing-only facade (GATEWAY_AUTH=off) needs neither library.
            from .auth import TokenVerifier
            from .ratelimit import RedisGate

            self.verifier = TokenVerifier(settings.jwks_url, settings.issuer, settings.audience,
                                          cooldown=settings.jwks_cooldown)
            self.gate = RedisGate(settings.redis_url, self.metrics.redis_errors.inc)
            log.info("gateway: Bearer tokens checked against %s (issuer %s, audience %s); "
                     "rate limits and revocations in %s", settings.jwks_url, settings.issuer,
                     settings.audience, _without_password(settings.redis_url))
        else:
            log.warning("gateway: GATEWAY_AUTH=off: no token is checked, no limit applies")
        self._watch_task = asyncio.get_running_loop().create_task(self.watcher.run())

    async def shutdown(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        if self.proxy is not None:
            await self.proxy.close()
        if self.gate is not None:
            await self.gate.close()

    def _table_loaded(self, table: RouteTable) -> None:
        self.table = table  # the swap: requests that started earlier keep their own reference
        self.metrics.reloads.labels("ok").inc()
        self.metrics.table_loaded(table.version, {r.prefix: r.weight for r in table.routes})

    def _rejected(self, problem: str) -> None:
        self.metrics.reloads.labels("failed").inc()

    # -- requests -------------------------------------------------------------------------------

    async def handle(self, request: Request, conn: Connection) -> None:
        path = request.path
        if path.startswith("/-/"):
            self._own_page(request, conn)
            return
        if path == "*":
            # OPTIONS * asks about the server, not a resource (RFC 9110 9.3.7): the facade is
            # the server the client talks to, so it answers (the server let only OPTIONS by).
            conn.respond(request, 200, [(b"allow", _ALLOW), (b"x-served-by", b"facade")], b"")
            return
        table, proxy, settings = self.table, self.proxy, self.settings
        assert table is not None and proxy is not None and settings is not None

        method = request.method
        # HEAD is GET without the body (RFC 9110 9.3.2): it takes GET's route, so a route that
        # lists GET answers HEAD from the same side.
        route = table.match(path, "GET" if method == "HEAD" else method)
        incoming = read_request(request.headers)
        client_ip = request.client_ip
        identity_head, subject = b"", None
        if self.verifier is not None:
            checked = await self._check(request, conn, route, incoming)
            if checked is None:
                return  # refused: the answer is sent
            identity_head, subject = checked
        try:
            side = choose_side(
                route,
                # A verified caller is its subject: a refreshed token (every 5 minutes) must not
                # move a customer to the other side of a canary.
                lambda: f"sub:{subject}" if subject is not None else customer_key(
                    incoming.authorization, incoming.cookie, settings.session_cookie,
                    client_ip.decode(),
                ),
                incoming.route_to,
            )
        except BadOverride as exc:
            send_json(
                request, conn, 400,
                {"code": "bad_route_override", "detail": str(exc),
                 "request_id": incoming.request_id},
                [(b"x-request-id", incoming.request_id.encode())],
            )
            return

        # The deadline budget: the route's (or the facade's), or less if the client asks less.
        budget = route.budget_ms or settings.budget_ms
        if incoming.budget_ms is not None and incoming.budget_ms < budget:
            budget = incoming.budget_ms
        timeout = (budget + settings.budget_margin_ms) / 1000
        # HEAD goes upstream as GET: see proxy.py for why.
        wire_method = b"GET" if method == "HEAD" else method.encode()

        def call_to(name: str, extra: bytes = b"") -> Call:
            base = table.upstreams[name]
            pool = proxy.pool(base)
            keep_host = settings.host_header == "keep" and incoming.host
            host = incoming.host if keep_host else pool.netloc
            return Call(
                route=route.prefix,
                upstream=name,
                pool=pool,
                method=method,
                target=request.target.decode("latin-1"),
                head=upstream_request_head(
                    wire_method, request.target, incoming,
                    client_ip=client_ip, scheme=b"http", host=host, budget_ms=budget,
                ) + extra,
                declared_length=incoming.content_length,
                request_id=incoming.request_id,
                timeout=timeout,
            )

        if side == OLD:
            call = call_to(route.old, identity_head)
            if route.shadow and route.new is not None and incoming.route_to is None:
                # X-Facade-Shadow tells the new side this is a copy: it can skip e-mails and
                # other side effects.
                shadow = call_to(route.new, identity_head + b"x-facade-shadow: 1\r\n")
                await proxy.forward_shadow(call, shadow, request, conn, route.ignore_fields)
                return
        else:
            assert route.new is not None
            call = call_to(route.new, identity_head)
        await proxy.forward(call, request, conn)

    # -- the gateway's checks (stage 04) --------------------------------------------------------

    async def _check(self, request: Request, conn: Connection, route: Route,
                     incoming) -> tuple[bytes, str | None] | None:
        """Who is calling, may they, and not too often: the identity headers to forward and the
        verified subject, or None once a refusal has been sent.

        Bearer: checked here (signature, iss, aud, exp, nbf; not revoked), then the route's
        roles. The legacy `Token` and the storefront's session cookie pass on to the backends,
        which check them as in stage 03. No credentials at all on a route with roles: 401 here.
        """
        from .auth import InvalidToken, ProviderUnavailable
        from .ratelimit import client_key

        metrics = self.metrics.auth
        authorization = incoming.authorization
        if incoming.authorizations > 1:
            metrics.labels("invalid_token").inc()
            send_json(request, conn, 400, {
                "code": "ambiguous_credentials", "request_id": incoming.request_id,
                "detail": "More than one Authorization header: send one."},
                [(b"x-request-id", incoming.request_id.encode())])
            return None
        scheme, _, credential = (authorization or "").partition(" ")
        identity = None
        rid = [(b"x-request-id", incoming.request_id.encode())]
        if scheme.lower() == "bearer":
            token = credential.strip()
            try:
                identity = await self.verifier.verify(token)
                if await self.gate.revoked(token):
                    raise InvalidToken("the token has been revoked")
            except InvalidToken as exc:
                metrics.labels("invalid_token").inc()
                self._refuse(request, conn, 401, "invalid_token", str(exc), rid)
                return None
            except ProviderUnavailable:
                metrics.labels("provider_unavailable").inc()
                send_json(request, conn, 503, {
                    "code": "identity_unavailable", "request_id": incoming.request_id,
                    "detail": "The shop cannot check tokens right now; please retry."},
                    [*rid, (b"retry-after", b"5")])
                return None
            if route.roles is not None and not identity.roles & route.roles:
                metrics.labels("insufficient_scope").inc()
                self._refuse(request, conn, 403, "insufficient_scope",
                             f"this route needs one of the roles {', '.join(sorted(route.roles))}",
                             rid)
                return None
            metrics.labels("bearer_ok").inc()
        elif route.roles is not None and not authorization and not self._has_session(incoming):
            metrics.labels("not_authenticated").inc()
            # RFC 6750 3.1: a request with no credentials gets the challenge without an error.
            send_json(request, conn, 401,
                      {"detail": "Authentication credentials were not provided.",
                       "code": "not_authenticated"},
                      [*rid, (b"www-authenticate", b'Bearer realm="shop"')])
            return None
        elif authorization or self._has_session(incoming):
            metrics.labels("passed_on").inc()

        if route.limits:
            key = client_key(identity.subject if identity else None, authorization,
                             request.client_ip.decode())
            verdict = await self.gate.hit(route.limits, route.prefix, key)
            if not verdict.allowed:
                self.metrics.rate_limited.labels(route.prefix).inc()
                send_json(request, conn, 429, {
                    "code": "rate_limited", "request_id": incoming.request_id,
                    "detail": f"Too many requests on {route.prefix} (limit {route.rate_limit}); "
                              f"retry in {max(1, verdict.reset_after)} s."},
                    [*rid, *verdict.headers()])
                return None
        if identity is None:
            return b"", None
        # The verified identity, for the backends' logs and decisions; the client's own X-User-*
        # headers were dropped on reading (headers.py).
        fields = [(b"x-user-id", identity.subject), (b"x-user-name", identity.username),
                  (b"x-user-roles", ",".join(sorted(identity.roles))),
                  (b"x-user-scope", " ".join(sorted(identity.scopes))),
                  (b"x-user-client", identity.client_id)]
        head = b"".join(name + b": " + _HEADER_VALUE.sub("", value).encode() + b"\r\n"
                        for name, value in fields if value)
        return head, identity.subject

    def _has_session(self, incoming) -> bool:
        assert self.settings is not None
        return bool(incoming.cookie) and f"{self.settings.session_cookie}=" in incoming.cookie

    def _refuse(self, request: Request, conn: Connection, status: int, error: str,
                description: str, headers: list[tuple[bytes, bytes]]) -> None:
        # RFC 6750 3: the error in the WWW-Authenticate challenge, for clients; the same words
        # in the body's `detail`, as every API error of the shop has one.
        quoted = _UNQUOTABLE.sub("", description)[:200]
        challenge = f'Bearer realm="shop", error="{error}", error_description="{quoted}"'
        send_json(request, conn, status, {"detail": description, "code": error},
                  [*headers, (b"www-authenticate", challenge.encode())])

    def _own_page(self, request: Request, conn: Connection) -> None:
        path = request.path
        if path == "/-/health":
            version = self.table.version if self.table else None
            send_json(request, conn, 200, {"status": "ok", "table_version": version})
        elif path == "/-/routes" and self.table is not None:
            payload = self.table.as_json()
            payload["last_error"] = self.watcher.last_error if self.watcher else None
            send_json(request, conn, 200, payload)
        elif path == "/-/metrics":
            if self.table is not None and self.proxy is not None:
                for name, url in self.table.upstreams.items():
                    pool = self.proxy.pools.get(url)
                    self.metrics.in_flight.labels(name).set(pool.busy if pool else 0)
            conn.respond(
                request, 200, [(b"content-type", CONTENT_TYPE.encode())], self.metrics.render()
            )
        else:
            send_json(request, conn, 404,
                      {"code": "not_found", "detail": f"no facade page {path}"})


def _without_password(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def configure_logging(level: str) -> None:
    """The facade's own log lines go to stderr, next to uvicorn's (which it configures itself)."""
    logger = logging.getLogger("facade")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s facade: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)

