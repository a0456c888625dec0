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
body, Date and Server headers. No TLS, no HTTP/2, no WebSocket: the facade listens on the
loopback or behind a load balancer, and the shop has none of them.

Owning a server means owning its robustness: everything a client can send is either served or
refused with the facade's JSON error (`{"code", "detail"}`, `X-Served-By: facade`) and the
connection closed, never passed on half-understood (tests/test_http_robustness.py proves each):
    400  what the parser refuses (request line, header syntax, bytes, obs-fold, methods); request
         smuggling: Content-Length with Transfer-Encoding, differing Content-Lengths, chunked not
         the final coding; HTTP/1.1 without one valid Host; an Upgrade with a body
    413  a body over `Limits.max_body_bytes` (FACADE_MAX_BODY_BYTES, 10 MiB)
    417  an Expect other than 100-continue
    431  a request line plus headers over `Limits.max_head_bytes` (FACADE_MAX_HEADER_BYTES, 64 KiB)
    501  a transfer coding other than chunked; CONNECT
    505  an HTTP version other than 1.x
    408  headers not complete within `header_timeout` (slowloris), or a body silent for
         `body_timeout`; an idle connection is closed after `keepalive_idle`, silently
The limits and timeouts are `Limits`, set from the environment (settings.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from time import time
from urllib.parse import unquote

import httptools

log = logging.getLogger("facade")

# Request body buffered per connection before reading pauses until the facade passes it on.
READ_HIGH_WATER = 256 * 1024
# Pending connections the kernel queues before accept(): asyncio's default, 100, made a burst of
# a few hundred browsers' connections wait a whole SYN retry (1 s and more) for no reason.
BACKLOG = 1024
# Seconds a refused connection keeps reading (and dropping) what the client still sends, so that
# closing it cannot reset the refusal away (see Connection._linger).
LINGER = 2.0
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_SERVER = b"facade"
_FACADE_JSON = [(b"content-type", b"application/json"), (b"x-served-by", b"facade")]
# uri-host [ ":" port ] (RFC 3986 3.2.2): reg-name, IPv4 or an IP literal in brackets.
_CHECKED = frozenset({b"host", b"content-length", b"transfer-encoding", b"expect"})
_HOST = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.vV]+\])(?::[0-9]*)?")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may take of the facade; over a limit, the request is refused."""

    # Request line plus headers. llhttp has no limit of its own and httptools buffers a header
    # value until it ends: without one, a client could make the facade buffer gigabytes.
    max_head_bytes: int = 64 * 1024
    # A request body; Content-Length over it is refused before a byte of it is read.
    max_body_bytes: int = 10 * 1024 * 1024
    # From a request's first byte to the end of its headers (slowloris sends them a byte at a time).
    header_timeout: float = 10.0
    # The longest silence while a body is read, or while the client does not take its answer.
    body_timeout: float = 30.0
    # An idle client connection (a new one, or between requests) is closed after this long.
    keepalive_idle: float = 5.0  # uvicorn's default


class ClientGone(Exception):
    """The client disconnected while the facade was still reading its request or answering."""


class Refused(ClientGone):
    """The request cannot be served as sent: answered with `status` and the connection closed.

    A ClientGone, so whatever was passing the request on stops exactly as if the client had gone;
    the server then answers with the error if no answer had started.
    """

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class Request:
    """One client request: its head at once, its body as it arrives."""

    __slots__ = (
        "_chunks", "_conn", "_waiter", "body_done", "client_ip", "headers", "keep_alive",
        "method", "path", "query", "target", "started_answer", "_expect_continue", "http10",
        "received", "error",
    )

    def __init__(self, conn: Connection, method: bytes, target: bytes,
                 headers: list[tuple[bytes, bytes]], keep_alive: bool, http10: bool) -> None:
        self._conn = conn
        self.http10 = http10
        self.method = method.decode("ascii")
        self.received = 0  # body bytes so far
        # Set when the request turned out unservable after its head: the body broke, grew over
        # the limit or stalled. Raised to whoever reads the body.
        self.error: Refused | None = None
        if target[0] != 0x2F and target != b"*":  # not "/...": llhttp never gives an empty one
            # Absolute form (RFC 9112 3.2.2), as a client talking to a proxy sends it: the
            # server validated it. A gateway passes the origin form on, and the host in the
            # target replaces the Host header (3.2.2: "MUST ignore the received Host").
            authority, target = _split_absolute(target)
            headers = [(n, v) for n, v in headers if n != b"host"] + [(b"host", authority)]
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
            return None  # (or it failed: body() then raises the error)
        body = b"".join(self._chunks)
        self._chunks.clear()
        return body

    async def body(self) -> bytes | None:
        """The next piece of the body; None at its end. Raises ClientGone (Refused)."""
        while not self._chunks:
            if self.error is not None:
                raise self.error
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

    def _fail(self, error: Refused) -> None:
        self._chunks.clear()
        self.error = error
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
        self.limits = server.limits
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
        self.head_since: float | None = None  # loop time a request's head began; None: not in one
        self.last_read = 0.0  # loop time of the last bytes read (the body timeout)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0  # the head as parsed so far: request line and header fields
        self._head_bytes = 0  # bytes read while the head is incomplete (what httptools buffers)
        self._broken = False  # the parser failed: nothing more is read from this connection
        # After a chunk's size line, until its data: a last chunk's trailers are parsed here,
        # and httptools buffers a trailer field whole, like a header (bounded the same way).
        self._chunk_head = False
        self._chunk_head_bytes = 0
        self._eof = False  # the client closed its side
        self._lingering = False  # refused: reading and dropping until the client closes
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
        worker = self.worker
        if worker is not None and worker is not asyncio.current_task():
            # Nobody is left to answer: stop waiting for the upstream now, which closes the
            # upstream connection and frees its pool slot, rather than when it answers.
            worker.cancel()

    def eof_received(self) -> bool | None:
        # The client closed its sending side: `sock.shutdown(SHUT_WR)` after a request, as
        # scripts and `nc -N` do, still expects the answer (RFC 9112 9.6: either side may
        # close; a server answers what it received whole). A client that closed altogether
        # looks the same until the answer is written and refused: it holds its upstream slot at
        # most for the request's budget. A head or body cut short can never complete: close now.
        if self._lingering:
            return None  # lingering after a refusal: the client has read it and closed
        self._eof = True
        if self.current is None and self.head_since is None and self.pending:
            return True  # keep the transport open for writing; the worker closes it
        return None  # returning None closes the transport: connection_lost stops the rest

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return  # the parser failed: the rest cannot be framed, the refusal is on its way
        self.last_read = self.loop.time()
        if self.head_since is not None or self.current is None:
            self._head_bytes += len(data)
        elif self._chunk_head:
            self._chunk_head_bytes += len(data)
        try:
            while True:
                try:
                    self.parser.feed_data(data)
                    break
                except httptools.HttpParserUpgrade as exc:
                    # Only a bodiless request gets here (on_headers_complete refuses the others):
                    # the Upgrade is ignored (RFC 9110 7.8 lets a server) and the request served
                    # as HTTP/1.1; what followed it is the next request.
                    data = data[exc.args[0]:]
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if not isinstance(refused, Refused):
                log.exception("the facade's request parsing failed", exc_info=refused)
                refused = Refused(500, "facade_error", "internal error in the facade")
            self._parse_failed(refused)
            return
        except httptools.HttpParserError as exc:
            self._parse_failed(Refused(400, "bad_request", _parser_detail(exc)))
            return
        if self.head_since is not None and self._head_bytes > self.limits.max_head_bytes:
            # A head still incomplete after this many bytes (one endless header line, say).
            self._parse_failed(_head_too_large(self.limits))
        elif self._chunk_head and self._chunk_head_bytes > self.limits.max_head_bytes:
            self._parse_failed(_head_too_large(self.limits))  # an endless trailer field

    def pause_writing(self) -> None:
        self._writing_paused = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._writing_paused is not None and not self._writing_paused.done():
            self._writing_paused.set_result(None)
        self._writing_paused = None

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.idle_since = None
        self.head_since = self.last_read  # the head began in the read being parsed
        self._url = b""
        self._headers = []
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.current is not None:
            # A trailer field (RFC 9112 7.1.2): parsed, counted against the head limit, and
            # dropped: the body goes on re-chunked, and no upstream of the shop asks for one.
            self._head_size += len(name) + len(value) + 4
            if self._head_size > self.limits.max_head_bytes:
                raise _head_too_large(self.limits)
            return
        self._head_size += len(name) + len(value) + 4
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.head_since = None
        self._head_bytes = 0
        method = parser.get_method()
        http10, expect_continue = self._check_head(parser, method)
        request = Request(
            self, method, self._url, self._headers, parser.should_keep_alive(), http10,
        )
        request._expect_continue = expect_continue
        self._head_size = 0  # from here on: the trailers' size
        self.current = request
        self.pending.append(request)
        if not self._kick() and len(self.pending) > 1:
            self.pause_reading()  # pipelining: one request at a time, no unbounded queue

    def _check_head(
        self, parser: httptools.HttpRequestParser, method: bytes
    ) -> tuple[bool, bool]:
        """Refuse what the facade cannot pass on exactly: (HTTP/1.0?, Expect: 100-continue?)."""
        limits = self.limits
        if self._head_size > limits.max_head_bytes:
            raise _head_too_large(limits)
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):  # llhttp accepts "GET /" (0.9) and HTTP/2.0
            raise Refused(505, "http_version_not_supported",
                          f"HTTP/{version} is not served here: use HTTP/1.1")
        http10 = version == "1.0"
        if method == b"CONNECT":
            raise Refused(501, "not_implemented", "CONNECT: the facade is not a tunnel")
        url = self._url
        if url == b"*" and method != b"OPTIONS":
            # The asterisk form is only for OPTIONS (RFC 9112 3.2.4).
            raise Refused(400, "bad_request", "the request target * is only for OPTIONS")
        hosts = 0
        host = b""
        if url[0] != 0x2F and url != b"*":
            if url[:7].lower() != b"http://" and url[:8].lower() != b"https://":
                raise Refused(400, "bad_request",
                              "the request target must be a path or an http(s) URL")
            authority = _split_absolute(url)[0]
            if b"@" in authority or not authority or not _HOST.fullmatch(authority):
                # RFC 9110 4.2.4: userinfo in an http URL is to be treated as an error.
                raise Refused(400, "bad_request", "the request target's host is not valid")
        length: int | None = None
        codings: list[bytes] = []
        expect_continue = False
        for name, value in self._headers:
            if name not in _CHECKED:
                continue  # most headers: one set lookup (a bytes object caches its hash)
            if name == b"host":
                hosts += 1
                host = value
            elif name == b"content-length":
                length = int(value)  # llhttp checked: digits only, one value
            elif name == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",")]
            elif name == b"expect" and not http10:  # RFC 9110 10.1.1: 1.0's MUST be ignored
                if value.lower() != b"100-continue":
                    raise Refused(417, "expectation_failed",
                                  "only Expect: 100-continue is understood")
                expect_continue = True
        # RFC 9112 3.2: HTTP/1.1 requests MUST carry exactly one Host, and a valid one (also
        # with an absolute target, whose host then replaces it: 3.2.2).
        if hosts > 1 or (hosts == 0 and not http10) or (hosts == 1 and not _HOST.fullmatch(host)):
            raise Refused(400, "bad_request",
                          "an HTTP/1.1 request needs exactly one valid Host header")
        if codings:
            # llhttp already refused Transfer-Encoding with Content-Length, and chunked twice.
            if http10:
                # RFC 9112 6.1: HTTP/1.0 has no transfer codings; such framing is faulty.
                raise Refused(400, "bad_request", "Transfer-Encoding in an HTTP/1.0 request")
            if codings[-1] != b"chunked":
                # RFC 9112 6.3 (4.): chunked not last: the body's length cannot be known.
                raise Refused(400, "bad_request", "Transfer-Encoding must end with chunked")
            if codings != [b"chunked"]:
                # RFC 9112 6.1: a coding the server does not understand: 501. The facade would
                # have to pass it on unchanged, and Transfer-Encoding is hop-by-hop.
                raise Refused(501, "not_implemented",
                              "only the chunked transfer coding is understood")
        elif length is not None and length > limits.max_body_bytes:
            raise _body_too_large(limits)
        if (codings or length) and parser.should_upgrade():
            # llhttp ends an Upgrade request at its head; its body would be read as the next
            # request. The facade serves no upgrades, so the request is refused instead.
            raise Refused(400, "bad_request", "an Upgrade request with a body is not served")
        return http10, expect_continue

    def on_chunk_header(self) -> None:
        self._chunk_head = True
        self._chunk_head_bytes = 0

    def on_chunk_complete(self) -> None:
        self._chunk_head = False

    def on_body(self, chunk: bytes) -> None:
        self._chunk_head = False
        request = self.current
        if request is not None:
            request.received += len(chunk)
            if request.received > self.limits.max_body_bytes:
                raise _body_too_large(self.limits)  # a chunked body: known only as it comes
            request._feed(chunk)
            if request.buffered() > READ_HIGH_WATER:
                self.pause_reading()

    def on_message_complete(self) -> None:
        self._head_bytes = 0
        if self.current is not None:
            self.current._finish()
            self.current = None

    def _parse_failed(self, refused: Refused) -> None:
        """The parser stopped: nothing more can be framed on this connection.

        A request whose head was accepted fails as its body is read (the worker answers with the
        error, if it has not answered yet); otherwise the error is queued as a request of its
        own, so requests pipelined before it are still answered first, in order.
        """
        self._broken = True
        self.head_since = None
        self.pause_reading()
        if self.current is not None:
            self.current._fail(refused)
            self.current = None
        else:
            request = Request(self, b"GET", b"/", [], False, False)
            request.error = refused
            request.body_done = True
            self.pending.append(request)
            self._kick()

    def _kick(self) -> bool:
        """Wake the worker for a new request; False if it is busy with an earlier one."""
        if self.worker is None:
            self.worker = self.loop.create_task(self._serve())
        elif self._next is not None and not self._next.done():
            self._next.set_result(None)
        else:
            return False
        return True

    # -- serving requests in order ---------------------------------------------------------------

    async def _serve(self) -> None:
        # One task per connection, not per request: it waits for the next request between them.
        try:
            while not self.closed:
                if not self.pending:
                    if self._eof:
                        self.close()  # half-closed, and everything it asked is answered
                        return
                    self.idle_since = self.loop.time()
                    self._next = self.loop.create_future()
                    await self._next
                    self._next = None
                    continue
                request = self.pending[0]
                self._close_after = not request.keep_alive or self.server.stopping
                try:
                    if request.error is not None and request.body_done:
                        raise request.error  # refused at its head: no handler sees it
                    await self.handler(request, self)
                except Refused as refused:
                    if not request.started_answer:
                        self._close_after = True
                        self.respond(request, refused.status, _FACADE_JSON, json.dumps(
                            {"code": refused.code, "detail": refused.detail}).encode())
                    self._linger()
                    return
                except ClientGone:
                    self.close()
                    return
                except Exception:
                    log.exception("error answering %s %r", request.method, request.target)
                    if not request.started_answer:
                        self._close_after = True
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
        elif request.http10:
            # An HTTP/1.0 connection persists only when both sides say so (RFC 9112 9.3, and
            # its Appendix C.2.2): the client asked for keep-alive, the answer confirms it.
            lines.append(b"connection: keep-alive\r\n")
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
            # A client that stops reading an answer would hold its upstream connection (and a
            # pool slot) for ever: after `body_timeout` without progress it is cut off.
            try:
                await asyncio.wait_for(self._writing_paused, self.limits.body_timeout)
            except asyncio.TimeoutError:
                self.abort()
        if self.closed:
            raise ClientGone

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.close()
        self.closed = True

    def _linger(self) -> None:
        """Close after a refusal without losing the refusal (RFC 9112 9.6, "lingering close").

        The client may still be sending (the body of a 413, the rest of a broken request):
        closing a socket with unread bytes makes the kernel send a reset, and the reset can
        destroy the refusal in the client's buffers before it reads it. So: send the answer and a
        FIN, read and drop what still comes for up to LINGER seconds, then close.
        """
        transport = self.transport
        if self.closed or transport is None or self._eof or not transport.can_write_eof():
            self.close()  # (after the client's FIN nothing more can come)
            return
        self._broken = True  # data_received drops everything from here on
        self._lingering = True  # and the client's own FIN ends it (eof_received)
        transport.write_eof()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        self.loop.call_later(LINGER, self.close)

    # -- flow control and timers -----------------------------------------------------------------

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if (self._reading_paused and self.transport is not None and len(self.pending) <= 1
                and not self._broken):
            self._reading_paused = False
            # The silence while paused was the facade's, not the client's: the body and header
            # timeouts start again (a head can be half read when pipelining pauses reading).
            self.last_read = self.loop.time()
            if self.head_since is not None:
                self.head_since = self.last_read
            self.transport.resume_reading()

    def check_timers(self, now: float) -> None:
        """Called by the server's sweep: enforce the idle, header and body timeouts."""
        limits = self.limits
        if self.idle_since is not None:
            if now - self.idle_since > limits.keepalive_idle:
                self.close()  # nothing asked: no answer owed (a 408 here confuses browsers)
        elif self.head_since is not None:
            if now - self.head_since > limits.header_timeout and not self._reading_paused:
                self._parse_failed(Refused(
                    408, "request_timeout",
                    f"the request's headers did not arrive within {limits.header_timeout:g} s",
                ))
        elif (self.current is not None and not self._reading_paused
              and now - self.last_read > limits.body_timeout):
            self._parse_failed(Refused(
                408, "request_timeout",
                f"the request's body stalled for {limits.body_timeout:g} s",
            ))


def _head_too_large(limits: Limits) -> Refused:
    return Refused(431, "request_header_fields_too_large",
                   f"the request line and headers exceed {limits.max_head_bytes} bytes")


def _body_too_large(limits: Limits) -> Refused:
    return Refused(413, "content_too_large",
                   f"the request body exceeds {limits.max_body_bytes} bytes")


def _split_absolute(url: bytes) -> tuple[bytes, bytes]:
    """`http://host:port/path?query` -> (b"host:port", b"/path?query")."""
    rest = url.partition(b"://")[2]
    end = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i != -1), default=len(rest))
    target = rest[end:]
    return rest[:end], target if target[:1] == b"/" else b"/" + target


def _parser_detail(exc: httptools.HttpParserError) -> str:
    return f"not a valid HTTP/1.1 request: {exc}"


class Server:
    """Accepts connections and hands every request to `handler`; stops gracefully."""

    def __init__(self, handler: Handler, limits: Limits | None = None) -> None:
        self.handler = handler
        self.limits = limits or Limits()
        self.loop = asyncio.get_running_loop()
        self.connections: set[Connection] = set()
        self.stopping = False
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._date = b""
        self._date_second = 0

    async def listen(self, host: str, port: int) -> None:
        self._server = await self.loop.create_server(
            lambda: Connection(self.handler, self), host, port, reuse_address=True,
            backlog=BACKLOG,
        )
        self._sweeper = self.loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        # One sweep for all connections instead of a timer per request: a timer per request was
        # a visible share of the facade's CPU, and these limits need no precision (a timeout
        # fires between 1x and 1.25x its value).
        limits = self.limits
        tick = min(1.0, limits.keepalive_idle, limits.header_timeout, limits.body_timeout) / 4
        while True:
            await asyncio.sleep(tick)
            now = self.loop.time()
            for conn in list(self.connections):
                conn.check_timers(now)

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
