"""The facade as a plain ASGI application.

No web framework: the facade has three fixed pages of its own and proxies everything else, so a
router and request/response objects would only add CPU to every request (the goal is at most
~200 µs of CPU per proxied request). Run it with

    python -m uvicorn facade.app:app --host 127.0.0.1 --port 8080 --no-access-log --no-proxy-headers

(--no-proxy-headers: the facade is the edge. Without it uvicorn trusts X-Forwarded-For from
local clients and replaces the client address with whatever they claim.)

or `python -m facade` (see __main__.py). Its own pages live under /-/, a prefix no shop URL uses:
    /-/health   liveness (JSON)
    /-/routes   the routing table in force, with its version and the last rejected edit
    /-/metrics  Prometheus text
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any
from urllib.parse import quote

from .headers import read_request, upstream_request_headers
from .metrics import CONTENT_TYPE, Metrics
from .proxy import Call, Proxy, Receive, Send, send_json
from .reload import TableWatcher, summary
from .settings import Settings
from .split import OLD, BadOverride, choose_side, customer_key
from .table import RouteTable

log = logging.getLogger("facade")


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

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websocket: the shop has none; refuse the handshake instead of hanging
            await receive()
            await send({"type": "websocket.close", "code": 1003})

    # -- lifespan: what lives as long as the process ------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.error("facade cannot start: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

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
        await self.proxy.start()
        self._watch_task = asyncio.get_running_loop().create_task(self.watcher.run())

    async def shutdown(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        if self.proxy is not None:
            await self.proxy.close()

    def _table_loaded(self, table: RouteTable) -> None:
        self.table = table  # the swap: requests that started earlier keep their own reference
        self.metrics.reloads.labels("ok").inc()
        self.metrics.table_loaded(table.version, {r.prefix: r.weight for r in table.routes})

    def _rejected(self, problem: str) -> None:
        self.metrics.reloads.labels("failed").inc()

    # -- requests -------------------------------------------------------------------------------

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith("/-/"):
            await self._own_page(path, send)
            return
        table, proxy, settings = self.table, self.proxy, self.settings
        assert table is not None and proxy is not None and settings is not None

        method: str = scope["method"]
        route = table.match(path, method)
        incoming = read_request(scope["headers"])
        client = scope.get("client")
        client_ip = client[0] if client else ""
        try:
            side = choose_side(
                route,
                lambda: customer_key(
                    incoming.authorization, incoming.cookie, settings.session_cookie, client_ip
                ),
                incoming.route_to,
            )
        except BadOverride as exc:
            await send_json(
                send,
                400,
                {"error": "bad_route_override", "detail": str(exc),
                 "request_id": incoming.request_id},
                [(b"x-request-id", incoming.request_id.encode())],
            )
            return

        raw_path = scope.get("raw_path") or quote(path).encode()
        query = scope.get("query_string") or b""
        target = (raw_path + b"?" + query if query else raw_path).decode("latin-1")

        def call_to(name: str) -> Call:
            base = table.upstreams[name]
            return Call(
                route=route.prefix,
                upstream=name,
                base_url=base,
                method=method,
                target=target,
                headers=upstream_request_headers(
                    incoming,
                    client_ip=client_ip,
                    scheme=scope.get("scheme", "http"),
                    upstream_netloc=base.partition("://")[2],
                    keep_host=settings.host_header == "keep",
                ),
                request_id=incoming.request_id,
            )

        if side == OLD:
            call = call_to(route.old)
            if route.shadow and route.new is not None and incoming.route_to is None:
                shadow = call_to(route.new)
                # Tells the new side this is a copy: it can skip e-mails and other side effects.
                shadow.headers.append(("X-Facade-Shadow", "1"))
                await proxy.forward_shadow(
                    call, shadow, receive, send, incoming.has_body, route.ignore_fields
                )
                return
        else:
            assert route.new is not None
            call = call_to(route.new)
        await proxy.forward(call, receive, send, incoming.has_body)

    async def _own_page(self, path: str, send: Send) -> None:
        if path == "/-/health":
            version = self.table.version if self.table else None
            await send_json(send, 200, {"status": "ok", "table_version": version})
        elif path == "/-/routes" and self.table is not None:
            payload = self.table.as_json()
            payload["last_error"] = self.watcher.last_error if self.watcher else None
            await send_json(send, 200, payload)
        elif path == "/-/metrics":
            body = self.metrics.render()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", CONTENT_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        else:
            await send_json(send, 404, {"error": "not_found", "detail": f"no facade page {path}"})


def configure_logging(level: str) -> None:
    """The facade's own log lines go to stderr, next to uvicorn's (which it configures itself)."""
    logger = logging.getLogger("facade")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s facade: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)


app = Facade()
