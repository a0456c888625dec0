"""The facade's HTTP/1.1 server: asyncio protocols and the httptools parser, no framework.

Why not uvicorn or another server: the facade is a hop every request pays for, so its CPU per
request is the figure that matters (bench/facade.py). Measured on the workshop's 2-core box
against the same upstream, uvicorn + an ASGI app cost about 3x what nginx costs before the
proxy did anything, and granian about the same; this server, which hands the request to the
facade without building ASGI scopes and messages, costs about half of that. It uses the same
parser as uvicorn (httptools, llhttp) and the same loop (uvloop where installed).

What it does, and no more: keep-alive, pipelined requests answered in order, request bodies
streamed with back-pressure (reading pauses while the facade cannot pass the body on),
`Expect: 100-continue`, answers framed by Content-Length or chunked, HEAD answered without a
body, Date and Server headers, idle connections closed after `KEEPALIVE_IDLE` seconds, and
400 for what the parser refuses. No TLS, no HTTP/2, no WebSocket: the facade listens on the
loopback or behind a load balancer, and the shop has none of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from time import time
from urllib.parse import unquote

import httptools

log = logging.getLogger("facade")

KEEPALIVE_IDLE = 5.0  # seconds an idle client connection is kept (uvicorn's default)
# Request body buffered per connection before reading pauses until the facade passes it on.
READ_HIGH_WATER = 256 * 1024
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_SERVER = b"facade"
_FACADE_JSON = [(b"content-type", b"application/json"), (b"x-served-by", b"facade")]


class ClientGone(Exception):
    """The client disconnected while the facade was still reading its request or answering."""


class Request:
    """One client request: its head at once, its body as it arrives."""

    __slots__ = (
        "_chunks", "_conn", "_waiter", "body_done", "client_ip", "headers", "keep_alive",
        "method", "path", "query", "target", "started_answer", "_expect_continue", "http10",
    )

    def __init__(self, conn: Connection, method: bytes, target: bytes,
                 headers: list[tuple[bytes, bytes]], keep_alive: bool, http10: bool) -> None:
        self._conn = conn
        self.http10 = http10
        self.method = method.decode("ascii")
        self.target = target  # path and query exactly as the client sent them
        path, _, query = target.partition(b"?")
        # Decoded for routing, so "/api/v1/%6Frders" meets the same route as "/api/v1/orders";
        # the upstream gets the target byte for byte.
        self.path = unquote(path.decode("latin-1")) if b"%" in path else path.decode("latin-1")
        self.query = query
        self.headers = headers
        self.keep_alive = keep_alive
        self.client_ip = conn.client_ip
        self.body_done = False
        self.started_answer = False
        self._chunks: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._expect_continue = False

    # -- the body, as the parser delivers it ----------------------------------------------------

    def whole_body(self) -> bytes | None:
        """The body if it has arrived completely (the usual case for a small one), else None."""
        if not self.body_done:
            return None
        body = b"".join(self._chunks)
        self._chunks.clear()
        return body

    async def body(self) -> bytes | None:
        """The next piece of the body; None at its end. Raises ClientGone."""
        while not self._chunks:
            if self.body_done:
                return None
            if self._conn.closed:
                raise ClientGone
            if self._expect_continue:
                self._expect_continue = False
                self._conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._waiter = self._conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = b"".join(self._chunks)
        self._chunks.clear()
        self._conn.resume_reading()
        return chunk

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._wake()

    def _finish(self) -> None:
        self.body_done = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def buffered(self) -> int:
        return sum(map(len, self._chunks))


Handler = Callable[[Request, "Connection"], Awaitable[None]]


class Connection(asyncio.Protocol):
    """One client connection: parses requests, runs the handler on each in turn, frames answers."""

    def __init__(self, handler: Handler, server: Server) -> None:
        self.handler = handler
        self.server = server
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client_ip = b""
        self.closed = False
        self.pending: deque[Request] = deque()
        self.current: Request | None = None  # the request whose body is being parsed
        self.worker: asyncio.Task[None] | None = None
        self._next: asyncio.Future[None] | None = None  # the worker waits here between requests
        self.idle_since: float | None = None  # loop time it became idle; None while busy
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._reading_paused = False
        self._writing_paused: asyncio.Future[None] | None = None
        # the answer in progress
        self._chunked = False
        self._head_only = False
        self._close_after = False

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip = (peer[0] if isinstance(peer, tuple) else "").encode()
        self.server.connections.add(self)
        self.idle_since = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        for request in (self.current, *self.pending):
            if request is not None:
                request._wake()
        if self._next is not None and not self._next.done():
            self._next.set_result(None)
        if self._writing_paused is not None and not self._writing_paused.done():
            self._writing_paused.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, b"upgrades (WebSocket, h2c) are not served here")
        except httptools.HttpParserError as exc:
            self._refuse(400, str(exc).encode(errors="replace"))

    def pause_writing(self) -> None:
        self._writing_paused = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._writing_paused is not None and not self._writing_paused.done():
            self._writing_paused.set_result(None)
        self._writing_paused = None

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.idle_since = None
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        request = Request(
            self, parser.get_method(), self._url, self._headers, parser.should_keep_alive(),
            parser.get_http_version() == "1.0",
        )
        for name, value in self._headers:
            if name == b"expect" and value.lower() == b"100-continue":
                request._expect_continue = True
        self.current = request
        self.pending.append(request)
        if self.worker is None:
            self.worker = self.loop.create_task(self._serve())
        elif self._next is not None and not self._next.done():
            self._next.set_result(None)
        elif len(self.pending) > 1:
            self.pause_reading()  # pipelining: one request at a time, no unbounded queue

    def on_body(self, chunk: bytes) -> None:
        request = self.current
        if request is not None:
            request._feed(chunk)
            if request.buffered() > READ_HIGH_WATER:
                self.pause_reading()

    def on_message_complete(self) -> None:
        if self.current is not None:
            self.current._finish()
            self.current = None

    # -- serving requests in order ---------------------------------------------------------------

    async def _serve(self) -> None:
        # One task per connection, not per request: it waits for the next request between them.
        try:
            while not self.closed:
                if not self.pending:
                    self.idle_since = self.loop.time()
                    self._next = self.loop.create_future()
                    await self._next
                    self._next = None
                    continue
                request = self.pending[0]
                self._close_after = not request.keep_alive or self.server.stopping
                try:
                    await self.handler(request, self)
                except ClientGone:
                    self.close()
                    return
                except Exception:
                    log.exception("error answering %s %r", request.method, request.target)
                    if not request.started_answer:
                        self.respond(request, 500, _FACADE_JSON,
                                     b'{"code": "facade_error", "detail": "internal error in '
                                     b'the facade"}')
                    self.close()
                    return
                self.pending.popleft()
                if not request.body_done:
                    # The answer went out before the body was read (an error, say): the rest of
                    # the body would be parsed as the next request, so the connection ends here.
                    self.close()
                    return
                if self._close_after:
                    self.close()
                    return
                self.resume_reading()
        finally:
            self.worker = None

    # -- writing answers -------------------------------------------------------------------------

    def start(
        self,
        request: Request,
        status: int,
        headers: list[tuple[bytes, bytes]],
        length: int | None,
    ) -> None:
        """Send the status line and headers. `length` None: the body follows chunked."""
        self.write(self._head(request, status, headers, length))

    def _head(
        self,
        request: Request,
        status: int,
        headers: list[tuple[bytes, bytes]],
        length: int | None,
    ) -> bytes:
        request.started_answer = True
        # 1xx, 204 and 304 answers never have a body, HEAD answers never send one.
        bodiless = status < 200 or status in (204, 304)
        self._head_only = bodiless or request.method == "HEAD"
        self._chunked = length is None and not self._head_only
        if self._chunked and request.http10:
            # HTTP/1.0 knows no chunks: the end of the body is the end of the connection.
            self._chunked = False
            self._close_after = True
        if bodiless:
            length = None
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"")),
                 b"server: ", _SERVER, b"\r\ndate: ", self.server.date(), b"\r\n"]
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")
        if length is not None:
            lines += (b"content-length: ", str(length).encode(), b"\r\n")
        elif self._chunked:
            lines.append(b"transfer-encoding: chunked\r\n")
        if self._close_after:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)

    def send(self, chunk: bytes) -> None:
        if chunk and not self._head_only:
            if self._chunked:
                self.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                self.write(chunk)

    def end(self) -> None:
        if self._chunked and not self._head_only:
            self.write(b"0\r\n\r\n")

    def respond(
        self, request: Request, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        """A whole answer in one write: status, headers and a body of known length."""
        head = self._head(request, status, headers, len(body))
        self.write(head if self._head_only else head + body)

    def abort(self) -> None:
        """Break the connection off: the client sees a truncated answer, not a short one."""
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    async def drain(self) -> None:
        if self._writing_paused is not None:
            await self._writing_paused
        if self.closed:
            raise ClientGone

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.close()
        self.closed = True

    # -- flow control and timers -----------------------------------------------------------------

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and len(self.pending) <= 1:
            self._reading_paused = False
            self.transport.resume_reading()

    def _refuse(self, status: int, why: bytes) -> None:
        if not self.pending:  # never before or inside the answer to a request still pending
            body = json.dumps({"code": "bad_request", "detail": why.decode(errors="replace")})
            self.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nx-served-by: facade\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%b"
                % (status, _REASONS[status], len(body), body.encode())
            )
        self.close()


class Server:
    """Accepts connections and hands every request to `handler`; stops gracefully."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.loop = asyncio.get_running_loop()
        self.connections: set[Connection] = set()
        self.stopping = False
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._date = b""
        self._date_second = 0

    async def listen(self, host: str, port: int) -> None:
        self._server = await self.loop.create_server(
            lambda: Connection(self.handler, self), host, port, reuse_address=True
        )
        self._sweeper = self.loop.create_task(self._close_idle())

    async def _close_idle(self) -> None:
        # One sweep a second instead of a timer per request: a timer per request was a visible
        # share of the facade's CPU, and a keep-alive limit needs no precision.
        while True:
            await asyncio.sleep(1)
            limit = self.loop.time() - KEEPALIVE_IDLE
            for conn in [c for c in self.connections
                         if c.idle_since is not None and c.idle_since < limit]:
                conn.close()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting; let answers in progress finish (up to `grace` s); close the rest."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.connections):
            if not conn.pending:
                conn.close()  # idle keep-alive connection
        deadline = self.loop.time() + grace
        while any(c.pending and not c.closed for c in self.connections):
            if self.loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.abort()

    def date(self) -> bytes:
        now = int(time())
        if now != self._date_second:
            self._date_second = now
            self._date = formatdate(now, usegmt=True).encode()
        return self._date
