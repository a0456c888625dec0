"""The upstream side of the hop: pooled keep-alive HTTP/1.1 connections, parsed by httptools.

Why not aiohttp's ClientSession (the facade used it first): measured on the workshop's box,
it alone cost about 400 µs of CPU per proxied request, four times nginx's whole hop, most of it
building request and response objects the facade never looks at. The facade already has the
request head as bytes; here it is written as it is, the answer parsed by the same llhttp parser
the server side uses, and a small answer (nearly every answer of the shop) handed over whole.

One `Exchange` is one request/answer on one connection. Its failures are typed so the proxy can
answer the client correctly: `Unavailable` (refused, reset, or a broken answer: 502) and
`asyncio.TimeoutError` (no answer within the request's deadline: 504).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from urllib.parse import urlsplit

import httptools

# Answer body buffered per upstream connection before reading pauses until the client takes it.
READ_HIGH_WATER = 256 * 1024
# An answer announcing at most this many bytes is awaited whole and passed on in one write; a
# bigger one (or one of unknown length) streams.
WHOLE_MAX = 64 * 1024
# How often the deadlines of awaited answers are checked: one timer for all of them rather than
# one per request (a timer per request was a visible share of the facade's CPU).
DEADLINE_TICK = 0.1
# An answer's status line and headers: a bigger head is not an answer the facade will pass on
# (llhttp has no limit of its own, and httptools buffers a header value until it ends).
MAX_HEAD_BYTES = 64 * 1024


class Unavailable(Exception):
    """The upstream refused, reset, or sent something that is not HTTP."""


class Exchange:
    """One request's answer as it arrives: the head first, then the body piece by piece."""

    __slots__ = ("conn", "status", "headers", "keep_alive", "done", "error", "_chunks",
                 "_size", "_head", "_waiter", "deadline")

    def __init__(self, conn: UpstreamConnection) -> None:
        self.conn = conn
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = False
        self.done = False  # the whole body has arrived
        self.error: BaseException | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._head: asyncio.Future[None] = conn.loop.create_future()
        self._waiter: asyncio.Future[None] | None = None
        self.deadline = 0.0

    @property
    def has_head(self) -> bool:
        return self._head.done() and self.error is None

    async def head(self, timeout: float) -> None:
        """Wait for the status line and headers, at most `timeout` seconds.

        A small answer (see WHOLE_MAX) is awaited whole: `done` is then true on return.
        """
        if not self._head.done():
            deadlines = self.conn.pool.deadlines
            self.deadline = self.conn.loop.time() + timeout
            deadlines.add(self)
            try:
                await self._head
            finally:
                deadlines.discard(self)
        if self.error is not None:
            raise self.error

    def whole_body(self) -> bytes:
        body = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        # Reading may have paused on a big answer that then ended in the same read: a
        # connection left paused would never read the next answer on it.
        self.conn.resume_reading()
        return body

    async def body(self, timeout: float) -> bytes | None:
        """The next piece of the body, None at its end; at most `timeout` s between pieces."""
        while not self._chunks:
            if self.error is not None:
                raise self.error
            if self.done:
                return None
            self._waiter = self.conn.loop.create_future()
            deadlines = self.conn.pool.deadlines
            self.deadline = self.conn.loop.time() + timeout
            deadlines.add(self)
            try:
                await self._waiter
            finally:
                deadlines.discard(self)
                self._waiter = None
        chunk = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        self.conn.resume_reading()
        return chunk

    # -- fed by the connection ---------------------------------------------------------------

    def _got_head(self, status: int, keep_alive: bool) -> None:
        self.status = status
        self.keep_alive = keep_alive
        for name, value in self.headers:
            if len(name) == 14 and name.lower() == b"content-length":
                if int(value) <= WHOLE_MAX:
                    return  # small: the waiter wakes once, when the body is complete
                break
        if not self._head.done():
            self._head.set_result(None)

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > READ_HIGH_WATER:
            self.conn.pause_reading()
        self._wake()

    def _finish(self) -> None:
        self.done = True
        if not self._head.done():
            self._head.set_result(None)
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self.error is None and not self.done:
            self.error = error
        if not self._head.done():
            self._head.set_result(None)
        self._wake()

    def _expire(self) -> None:
        self._fail(asyncio.TimeoutError())
        self.conn.close()  # an answer may still come: it must not be read as the next one's

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.closed = False
        self.idle_since = 0.0
        self.used = False  # it has answered before: a failure may mean the server closed it idle
        self._reading_paused = False
        self._writing_paused: asyncio.Future[None] | None = None
        self._head_bytes = 0  # bytes read while the answer's head is incomplete
        self._interim = False  # a 1xx answer is being parsed: the real one follows it

    def start(self, data: bytes) -> Exchange:
        """Send a request head (and maybe its whole body); the answer arrives on the Exchange."""
        self._head_bytes = 0
        exchange = self.exchange = Exchange(self)
        assert self.transport is not None
        self.transport.write(data)
        return exchange

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    async def drain(self) -> None:
        if self._writing_paused is not None:
            await self._writing_paused
        if self.closed:
            raise Unavailable("the connection closed while the request body was being sent")

    @property
    def reusable(self) -> bool:
        exchange = self.exchange
        return (
            not self.closed and exchange is not None and exchange.done and exchange.keep_alive
            and exchange.error is None and not self._reading_paused
        )

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.close()
        self.closed = True

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        exchange = self.exchange
        if exchange is not None:
            if exc is None and exchange.has_head and _ends_with_connection(exchange.headers):
                exchange._finish()  # neither a length nor chunks: the close ends the body
            else:
                exchange._fail(Unavailable(
                    f"connection closed by the upstream{f' ({exc})' if exc else ''}"
                ))
        if self._writing_paused is not None and not self._writing_paused.done():
            self._writing_paused.set_result(None)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None or exchange.done:
            # Bytes nobody asked for: an upstream that sent more than its answer (a body after
            # a HEAD answer, say). The connection can no longer be trusted to frame the next.
            self.close()
            return
        if not exchange.status:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, Unavailable):
                exchange._fail(exc.__context__)
            self.close()  # (or raised by on_message_begin: a second answer, not asked for)
        except httptools.HttpParserError as exc:
            # Content-Length with Transfer-Encoding, two lengths, obs-fold, bad bytes: llhttp
            # refuses them all (RFC 9112 6.3: a response that may be smuggling another).
            exchange._fail(Unavailable(f"the upstream's answer is not valid HTTP: {exc}"))
            self.close()
        except httptools.HttpParserUpgrade:  # (on_headers_complete refused the 101 first)
            exchange._fail(Unavailable("the upstream switched protocols unasked (101)"))
            self.close()
        else:
            if not exchange.status and self._head_bytes > MAX_HEAD_BYTES:
                exchange._fail(Unavailable(
                    f"the upstream's answer head exceeds {MAX_HEAD_BYTES} bytes"
                ))
                self.close()

    def pause_writing(self) -> None:
        self._writing_paused = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._writing_paused is not None and not self._writing_paused.done():
            self._writing_paused.set_result(None)
        self._writing_paused = None

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        exchange = self.exchange
        if exchange is None or exchange.done:
            raise Unavailable("an answer nobody asked for")

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        if exchange.status:
            return  # a trailer field of a chunked answer: not passed on (nor asked for, TE)
        exchange.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        exchange = self.exchange
        assert exchange is not None
        status = parser.get_status_code()
        if status == 101:
            # Switching Protocols: the facade never asks for an upgrade (Upgrade is dropped as
            # hop-by-hop), so this answers something else than its request.
            raise Unavailable("the upstream switched protocols unasked (101)")
        if 100 <= status < 200:
            # An interim answer (103 Early Hints, an unasked 100 Continue): the final answer
            # follows on the same connection (RFC 9110 15.2). A client may ignore 1xx; the
            # facade does, and waits for the real one.
            exchange.headers.clear()
            self._interim = True
            return
        # (What was read bounds the head: only a big read is worth adding the headers up.)
        if self._head_bytes > MAX_HEAD_BYTES and sum(
            len(n) + len(v) + 4 for n, v in exchange.headers
        ) > MAX_HEAD_BYTES:
            raise Unavailable(f"the upstream's answer head exceeds {MAX_HEAD_BYTES} bytes")
        exchange._got_head(status, parser.should_keep_alive())

    def on_body(self, chunk: bytes) -> None:
        self.exchange._feed(chunk)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            self._head_bytes = 0
            return
        self.exchange._finish()  # type: ignore[union-attr]


def _ends_with_connection(headers: list[tuple[bytes, bytes]]) -> bool:
    """An answer framed by neither Content-Length nor chunked encoding (RFC 9112 6.3, 8.)."""
    return all(name.lower() not in (b"content-length", b"transfer-encoding") for name, _ in headers)


class Pool:
    """Keep-alive connections to one upstream, reused last-in first-out.

    The idle timeout must stay below the upstream server's own keep-alive timeout (gunicorn 2 s,
    uvicorn 5 s, waitress 120 s): otherwise the server may close a connection at the very
    moment it is reused. A request that still meets such a connection is retried once on a new
    one when that is safe (see Proxy).
    """

    def __init__(
        self, base_url: str, limit: int, keepalive_timeout: float, deadlines: Deadlines
    ) -> None:
        parts = urlsplit(base_url)
        self.deadlines = deadlines
        self.loop = asyncio.get_running_loop()
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.netloc = parts.netloc.encode()
        self.keepalive_timeout = keepalive_timeout
        self.idle: list[UpstreamConnection] = []
        self.limit = limit
        self.busy = 0
        self._queue: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        """A slot for one request in flight (FACADE_POOL_LIMIT per upstream), if one is free."""
        if self.busy < self.limit:
            self.busy += 1
            return True
        return False

    async def acquire(self) -> None:
        """A slot for one request in flight; wait for one if none is free."""
        if self.try_acquire():
            return
        slot = self.loop.create_future()
        self._queue.append(slot)
        try:
            await slot  # handed over by release_slot(), busy unchanged
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self.release_slot()  # handed over just as the waiter gave up: pass it on
            raise

    def release_slot(self) -> None:
        while self._queue:
            slot = self._queue.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.busy -= 1

    def pooled(self) -> UpstreamConnection | None:
        """A kept-alive connection that is still fresh, if there is one."""
        now = self.loop.time()
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_timeout:
                return conn
            conn.close()
        return None

    async def connect(self, timeout: float) -> UpstreamConnection:
        """A pooled connection if a fresh one is idle, else a new connection."""
        return self.pooled() or await self.new_connection(timeout)

    async def new_connection(self, timeout: float) -> UpstreamConnection:
        try:
            _, conn = await asyncio.wait_for(  # not asyncio.timeout(): Python 3.10 has none
                self.loop.create_connection(
                    lambda: UpstreamConnection(self), self.host, self.port, ssl=self.ssl
                ),
                timeout,
            )
        except OSError as exc:
            raise Unavailable(f"cannot connect: {exc.strerror or exc}") from None
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        if conn.reusable:
            conn.exchange = None
            conn.used = True
            conn.idle_since = self.loop.time()
            self.idle.append(conn)
        else:
            conn.close()

    def forget(self, conn: UpstreamConnection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


class Deadlines:
    """The answers being awaited, each with its deadline; expired ones fail with a timeout."""

    def __init__(self) -> None:
        self.waiting: set[Exchange] = set()
        self.add = self.waiting.add
        self.discard = self.waiting.discard

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(DEADLINE_TICK)
            now = loop.time()
            for exchange in [e for e in self.waiting if e.deadline <= now]:
                self.waiting.discard(exchange)
                exchange._expire()
