"""One proxied request: send it upstream, relay the answer, answer 502/504 when there is none.

Small bodies (nearly all of the shop's) are passed on whole: when the client's body has
arrived with its headers, it leaves in the same write as the request head, and when the
upstream's answer has arrived with its headers, the client gets it in one write with its
Content-Length. Large ones stream chunk by chunk both ways, with back-pressure, so a 100 MB
upload costs the facade a few chunks of memory and the client sees the first byte of a slow
download as soon as the upstream sends it. Only shadow mode keeps bodies (it compares them),
up to a cap.

HEAD is asked upstream as GET, and only the answer's head is relayed: a HEAD answer carries a
Content-Length but no body, and an upstream that sends the body anyway (waitress + Django did)
would otherwise leave bytes on the connection that read as a broken next answer. A GET answer
is framed the same by every server, so the facade answers HEAD right whatever the upstream
does with one (nginx does the same when it caches).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from time import perf_counter
from typing import Any

from .client import Deadlines, Exchange, Pool, Unavailable, UpstreamConnection
from .headers import client_response_headers
from .metrics import Metrics
from .server import ClientGone, Connection, Request
from .settings import Settings
from .shadow import Ignore, compare

log = logging.getLogger("facade")

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class TooLarge(Exception):
    """A body over the shadow cap: it is passed on, but not compared."""


@dataclass(slots=True)
class Call:
    """One request to one upstream."""

    route: str  # the matched prefix (a metrics label)
    upstream: str  # the upstream's name from the table
    pool: Pool
    method: str  # the client's method (HEAD is sent upstream as GET)
    target: str  # path and query exactly as the client sent them (for log lines)
    head: bytes  # the request line and headers, each line ending in CRLF; no framing yet
    declared_length: int | None  # the client's Content-Length; None: chunked, or no body
    request_id: str
    timeout: float  # seconds: the budget the upstream was given, plus the margin

    def whole(self, body: bytes) -> bytes:
        """The request for the wire, with a body known in full."""
        if body or self.declared_length is not None:
            return b"%bcontent-length: %d\r\n\r\n%b" % (self.head, len(body), body)
        return self.head + b"\r\n"

    def streamed_head(self) -> bytes:
        """The head for a body that follows in pieces: framed as the client framed it."""
        if self.declared_length is not None:
            return b"%bcontent-length: %d\r\n\r\n" % (self.head, self.declared_length)
        return self.head + b"transfer-encoding: chunked\r\n\r\n"


class Proxy:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.pools: dict[str, Pool] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.deadlines = Deadlines()
        self._spawn(self.deadlines.run())

    def pool(self, base_url: str) -> Pool:
        pool = self.pools.get(base_url)
        if pool is None:
            pool = self.pools[base_url] = Pool(
                base_url, self.settings.pool_limit, self.settings.keepalive_timeout,
                self.deadlines,
            )
        return pool

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for pool in self.pools.values():
            pool.close()

    # -- the normal path ---------------------------------------------------------------------------

    async def forward(self, call: Call, request: Request, conn: Connection) -> None:
        if not call.pool.try_acquire() and not await self._wait_for_slot(call, request, conn):
            return
        try:
            exchange = await self._open(call, request, conn, request.whole_body())
            if exchange is not None:
                await self._relay(call, exchange, request, conn, keep=0)
        finally:
            call.pool.release_slot()

    async def _wait_for_slot(self, call: Call, request: Request, conn: Connection) -> bool:
        """Wait for a free slot (FACADE_POOL_LIMIT in flight), within the request's budget.

        An upstream that hangs holds its slots until their timeouts; without a limit on this
        wait, a request queued behind them would wait for the slot *and then* its own timeout,
        long past the budget the client was promised. False: the client got a 504.
        """
        try:
            await asyncio.wait_for(call.pool.acquire(), call.timeout)
        except asyncio.TimeoutError:
            await self._fail(call, request, conn, 504, "upstream_timeout",
                             f"no free connection to it within {call.timeout:g} s "
                             f"({call.pool.limit} requests already in flight)")
            return False
        return True

    async def _open(
        self, call: Call, request: Request, conn: Connection, body: bytes | None
    ) -> Exchange | None:
        """Send the request upstream and wait for the answer's head; on failure answer the client.

        `body` is the whole request body when it is known (None: stream it from the client).
        """
        started = perf_counter()
        try:
            exchange = await self._send(call, request, body)
            await exchange.head(call.timeout)
        except ClientGone:
            raise
        except asyncio.TimeoutError:
            await self._fail(call, request, conn, 504, "upstream_timeout",
                             f"no answer within {call.timeout:g} s")
            return None
        except (Unavailable, OSError) as exc:
            # Connection refused comes back at once: the client gets a 502 right away, not after
            # a timeout.
            await self._fail(call, request, conn, 502, "upstream_unavailable", _describe(exc))
            return None
        self.metrics.observe_latency(call.upstream, perf_counter() - started)
        return exchange

    async def _send(self, call: Call, request: Request | None, body: bytes | None) -> Exchange:
        upstream = call.pool.pooled() or await call.pool.new_connection(call.timeout)
        if body is not None:
            exchange = upstream.start(call.whole(body))
            if upstream.used and call.method in _IDEMPOTENT:
                # A reused connection that the server closed while idle fails before any byte
                # of the answer; the request can safely go again, once, on a new connection.
                try:
                    await exchange.head(call.timeout)
                except Unavailable:
                    if exchange.status:  # the answer had begun: not a stale connection
                        raise
                    fresh = await call.pool.new_connection(call.timeout)
                    exchange = fresh.start(call.whole(body))
            return exchange
        assert request is not None
        exchange = upstream.start(call.streamed_head())
        try:
            await self._stream_body(request, upstream, exchange, call.declared_length is None)
        except BaseException:
            upstream.close()  # half a request on it: the connection cannot serve another
            raise
        return exchange

    async def _stream_body(
        self, request: Request, upstream: UpstreamConnection, exchange: Exchange, chunked: bool
    ) -> None:
        while True:
            chunk = await request.body()
            if chunk is None:
                break
            if exchange.error is not None or exchange.has_head:
                break  # the upstream answered (or failed) before taking the whole body
            upstream.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            await upstream.drain()
        if chunked:
            upstream.write(b"0\r\n\r\n")

    async def _relay(
        self, call: Call, exchange: Exchange, request: Request, conn: Connection, keep: int
    ) -> bytes | None:
        """Pass the upstream's answer to the client; keep a copy of up to `keep` bytes.

        Returns the copy (shadow mode), or None when nothing was kept or the copy overflowed.
        """
        headers = client_response_headers(
            exchange.headers, upstream=call.upstream.encode(), request_id=call.request_id.encode()
        )
        self.metrics.count_request(call.route, call.upstream, exchange.status)
        upstream = exchange.conn
        try:
            if exchange.done:  # the usual small answer: whole, in one write
                body = exchange.whole_body()
                conn.respond(request, exchange.status, headers, body)
                return body if keep and len(body) <= keep else None
            if request.method == "HEAD":
                # The GET body is never read: the connection is closed instead (release).
                conn.start(request, exchange.status, headers, _content_length(exchange.headers))
                return None
            return await self._stream_answer(call, exchange, request, conn, headers, keep)
        finally:
            call.pool.release(upstream)

    async def _stream_answer(
        self,
        call: Call,
        exchange: Exchange,
        request: Request,
        conn: Connection,
        headers: list[tuple[bytes, bytes]],
        keep: int,
    ) -> bytes | None:
        copy: list[bytes] | None = [] if keep else None
        kept = 0
        conn.start(request, exchange.status, headers, _content_length(exchange.headers))
        try:
            while (chunk := await exchange.body(call.timeout)) is not None:
                if copy is not None:
                    kept += len(chunk)
                    if kept > keep:
                        copy = None
                    else:
                        copy.append(chunk)
                conn.send(chunk)
                await conn.drain()
        except (Unavailable, asyncio.TimeoutError) as exc:
            # The status line is already out, so a 502 is no longer possible. Breaking the
            # connection off makes the client see a truncated answer rather than a short one.
            log.warning(
                "upstream %s broke off its answer to %s %s (request %s): %s",
                call.upstream, call.method, call.target, call.request_id, _describe(exc),
            )
            conn.abort()
            return None
        conn.end()
        return b"".join(copy) if copy is not None else None

    async def _fail(
        self, call: Call, request: Request, conn: Connection, status: int, code: str, why: str
    ) -> None:
        log.warning(
            "%s %s -> %d %s: upstream %s (%s:%s) %s (request %s)",
            call.method, call.target, status, code, call.upstream, call.pool.host,
            call.pool.port, why, call.request_id,
        )
        self.metrics.count_request(call.route, call.upstream, status)
        what = "did not answer in time" if status == 504 else "is unavailable"
        send_json(
            request, conn, status,
            {"code": code, "detail": f"the {call.upstream} service {what}: {why}",
             "upstream": call.upstream, "request_id": call.request_id},
            [(b"x-upstream", call.upstream.encode()), (b"x-request-id", call.request_id.encode())],
        )

    # -- shadow mode: old answers, new gets a copy, the answers are compared ---------------------

    async def forward_shadow(
        self,
        call: Call,
        shadow: Call,
        request: Request,
        conn: Connection,
        ignore_fields: tuple[str, ...],
    ) -> None:
        cap = self.settings.shadow_max_bytes
        body = request.whole_body()
        if body is None:
            # The body goes out twice, so it has to be read first (up to the cap).
            body, complete = await read_capped(request, cap)
            if not complete:
                self.metrics.shadow_skipped.labels(call.route, "too_large").inc()
                await self._forward_head_read(call, request, conn, body)
                return
        # The copy leaves now, in parallel with the real request, so both sides see the request
        # in the same state of the world, and the customer never waits for the new side.
        copy = self._spawn(self._fetch(shadow, body, cap))
        if not await self._wait_for_slot(call, request, conn):
            copy.cancel()
            return
        try:
            exchange = await self._open(call, request, conn, body)
            if exchange is None:
                copy.cancel()
                return
            old_body = await self._relay(call, exchange, request, conn, keep=cap)
        finally:
            call.pool.release_slot()
        if old_body is None:
            copy.cancel()
            self.metrics.shadow_skipped.labels(call.route, "too_large").inc()
            return
        self._spawn(self._compare(call, exchange.status, old_body, copy, ignore_fields))

    async def _forward_head_read(
        self, call: Call, request: Request, conn: Connection, head: bytes
    ) -> None:
        """Forward a body whose beginning was already read (a shadow body over the cap)."""
        if not await self._wait_for_slot(call, request, conn):
            return
        try:
            started = perf_counter()
            chunked = call.declared_length is None
            try:
                upstream = await call.pool.connect(call.timeout)
                exchange = upstream.start(call.streamed_head())
                upstream.write(b"%x\r\n%b\r\n" % (len(head), head) if chunked else head)
                try:
                    await self._stream_body(request, upstream, exchange, chunked)
                except BaseException:
                    upstream.close()
                    raise
                await exchange.head(call.timeout)
            except asyncio.TimeoutError:
                await self._fail(call, request, conn, 504, "upstream_timeout", "no answer")
                return
            except (Unavailable, OSError) as exc:
                await self._fail(call, request, conn, 502, "upstream_unavailable",
                                 _describe(exc))
                return
            self.metrics.observe_latency(call.upstream, perf_counter() - started)
            await self._relay(call, exchange, request, conn, keep=0)
        finally:
            call.pool.release_slot()

    async def _fetch(self, call: Call, body: bytes, cap: int) -> tuple[int, bytes]:
        started = perf_counter()
        await asyncio.wait_for(call.pool.acquire(), call.timeout)  # a timeout: not compared
        try:
            exchange = await self._send(call, None, body)
            try:
                await exchange.head(call.timeout)
                self.metrics.observe_latency(call.upstream, perf_counter() - started)
                chunks, size = [exchange.whole_body()], 0
                size = len(chunks[0])
                while (chunk := await exchange.body(call.timeout)) is not None:
                    size += len(chunk)
                    if size > cap:
                        raise TooLarge
                    chunks.append(chunk)
                if size > cap:
                    raise TooLarge
                return exchange.status, b"".join(chunks)
            finally:
                call.pool.release(exchange.conn)
        finally:
            call.pool.release_slot()

    async def _compare(
        self,
        call: Call,
        old_status: int,
        old_body: bytes,
        copy: asyncio.Task[tuple[int, bytes]],
        ignore_fields: tuple[str, ...],
    ) -> None:
        route = call.route
        try:
            new_status, new_body = await copy
        except TooLarge:
            self.metrics.shadow_skipped.labels(route, "too_large").inc()
            return
        except asyncio.TimeoutError:
            self.metrics.shadow_skipped.labels(route, "timeout").inc()
            log.warning("shadow copy of request %s: new side timed out", call.request_id)
            return
        except (Unavailable, OSError) as exc:
            self.metrics.shadow_skipped.labels(route, "unavailable").inc()
            log.warning(
                "shadow copy of request %s: new side unavailable (%s)",
                call.request_id, _describe(exc),
            )
            return
        diffs = compare(old_status, old_body, new_status, new_body, _ignore(ignore_fields))
        self.metrics.shadow_comparisons.labels(route).inc()
        if diffs:
            self.metrics.shadow_mismatches.labels(route).inc()
            log.warning(
                "shadow mismatch on route %s: %s %s (request %s): %s",
                route, call.method, call.target, call.request_id, "; ".join(diffs),
            )

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        # asyncio keeps only weak references to tasks: keep a strong one until it is done, so a
        # shadow comparison is not garbage-collected halfway (and can be cancelled at shutdown).
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


# -- helpers --------------------------------------------------------------------------------


async def read_capped(request: Request, cap: int) -> tuple[bytes, bool]:
    """Read the body up to `cap` bytes: (body, True) if that was all, (what was read, False)."""
    chunks, size = [], 0
    while (chunk := await request.body()) is not None:
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(chunks), False
    return b"".join(chunks), True


def send_json(
    request: Request,
    conn: Connection,
    status: int,
    payload: Any,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """One of the facade's own answers: JSON, and `X-Served-By: facade` to say who answered."""
    body = json.dumps(payload).encode()
    conn.respond(
        request,
        status,
        [(b"content-type", b"application/json"), (b"x-served-by", b"facade"), *(headers or [])],
        body,
    )


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value)
    return None


@lru_cache(maxsize=256)
def _ignore(fields: tuple[str, ...]) -> Ignore:
    return Ignore(fields)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
