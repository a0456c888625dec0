"""What crosses the hop, in both directions.

A proxy is two HTTP connections glued together, so headers that describe one connection must
not leak into the other (RFC 9110 section 7.6.1): Connection and the headers it names,
Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade. The facade then adds what the
upstream can no longer see for itself: who the client is (X-Forwarded-For), how and where it
connected (X-Forwarded-Proto, X-Forwarded-Host), a request id that ties the log lines of every
hop together (X-Request-ID), and how long the callee may work (X-Request-Budget-Ms).

Everything here runs once per request, so it works on the raw byte pairs as parsed off the
wire, walks them once, and keeps them bytes: they go out again as bytes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
BUDGET = b"x-request-budget-ms"
# Request headers the facade sets itself (or consumes), so the client's copies are not passed on:
# a client must not be able to pick its own X-Forwarded-Host, and X-Route-To is for us only.
# Expect: 100-continue was already answered by our own server, on our own hop. Content-Length
# is sent again by the facade, from the body it actually forwards.
_OWNED = frozenset(
    {
        b"host",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        b"x-route-to",
        b"expect",
        b"content-length",
        BUDGET,
    }
)
# Identity headers: only the gateway says who the caller is (from a verified token), so whatever
# a client sends under these names is dropped, never passed on (stage 04).
IDENTITY_PREFIX = b"x-user-"
_IDENTITY_NAMES = frozenset({b"x-authenticated-user", b"x-forwarded-user", b"x-remote-user",
                             b"remote-user"})
# Response headers the facade sets itself. Date and Server: the facade's server always adds its
# own, so passing the upstream's on would send each twice. Content-Length: the facade frames the
# body it sends (whole: its length; streamed without one: chunked).
_RESPONSE_OWNED = frozenset(
    {b"x-request-id", b"x-upstream", b"date", b"server", b"content-length"}
)
_RESPONSE_DROPPED = HOP_BY_HOP | _RESPONSE_OWNED
# An incoming id is reused only if it is short, visible ASCII: it goes into every log line, and a
# newline in it would let a client forge log entries.
_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,200}")
_MILLISECONDS = re.compile(rb"[0-9]{1,9}")


@dataclass(slots=True)
class Incoming:
    """The parts of the client's request headers the facade needs, read in one pass."""

    forward: list[tuple[bytes, bytes]]  # end-to-end headers to pass on unchanged
    host: bytes
    authorization: str | None
    cookie: str | None
    forwarded_for: bytes | None
    request_id: str
    route_to: str | None
    budget_ms: int | None  # what the client says it can wait, if it said so sanely
    content_length: int | None  # None: no body, or a chunked one (see `chunked`)
    chunked: bool
    # Stage 04: two Authorization headers would let the gateway check one credential while a
    # backend reads another (or both, joined): such a request is refused.
    authorizations: int = 0

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


def read_request(raw: list[tuple[bytes, bytes]]) -> Incoming:
    kept: list[tuple[bytes, bytes]] = []
    named_by_connection: set[bytes] | None = None
    host = b""
    authorization = cookie = forwarded_for = request_id = route_to = budget = None
    content_length: int | None = None
    chunked = False
    authorizations = 0
    for name, value in raw:
        name = name.lower()
        if name in HOP_BY_HOP or name.startswith(b"proxy-"):
            if name == b"connection":
                named_by_connection = named_by_connection or set()
                named_by_connection.update(t.strip().lower() for t in value.split(b","))
            elif name == b"transfer-encoding":
                chunked = True  # a body of unknown length follows
            continue
        if name in _OWNED:
            if name == b"host":
                host = value
            elif name == b"content-length":
                content_length = int(value)  # the server's parser checked it is a number
            elif name == b"x-forwarded-for":
                # Several X-Forwarded-For lines are one comma-separated list.
                forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"x-route-to":
                route_to = value
            elif name == BUDGET:
                budget = value.strip()
            continue
        if name.startswith(IDENTITY_PREFIX) or name in _IDENTITY_NAMES:
            continue
        if name == b"authorization":
            authorization = value
            authorizations += 1
        elif name == b"cookie":
            cookie = value if cookie is None else cookie + b"; " + value
        kept.append((name, value))

    if request_id is None or not _REQUEST_ID.fullmatch(request_id):
        # As unique as uuid4's 122 random bits, without a system call: an id, not a secret.
        request_id = b"%032x" % random.getrandbits(128)
    if named_by_connection:
        kept = [(n, v) for n, v in kept if n not in named_by_connection]
    return Incoming(
        forward=kept,
        host=host,
        authorization=_text(authorization),
        cookie=_text(cookie),
        forwarded_for=forwarded_for,
        request_id=request_id.decode("ascii"),
        route_to=_text(route_to),
        # A budget that is not a plain number of milliseconds is ignored, not refused: the
        # route's own budget then applies, which is what a client that sent none gets.
        budget_ms=int(budget) if budget is not None and _MILLISECONDS.fullmatch(budget) else None,
        content_length=None if chunked else content_length,
        chunked=chunked,
        authorizations=authorizations,
    )


def upstream_request_head(
    method: bytes,
    target: bytes,
    incoming: Incoming,
    *,
    client_ip: bytes,
    scheme: bytes,
    host: bytes,
    budget_ms: int,
) -> bytes:
    """The request line and headers sent upstream, each line ending in CRLF.

    `host` is the Host the upstream gets (see README, "Host header"). The body's framing
    (Content-Length or chunked) and the blank line that ends the head are the proxy's to add:
    they depend on whether the body is forwarded whole or streamed.
    """
    chain = incoming.forwarded_for + b", " + client_ip if incoming.forwarded_for else client_ip
    lines = [method, b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    for name, value in incoming.forward:
        lines += (name, b": ", value, b"\r\n")
    lines += (b"x-forwarded-for: ", chain, b"\r\nx-forwarded-proto: ", scheme, b"\r\n")
    if incoming.host:
        lines += (b"x-forwarded-host: ", incoming.host, b"\r\n")
    lines += (
        b"x-request-id: ", incoming.request_id.encode(),
        b"\r\nx-request-budget-ms: ", str(budget_ms).encode(), b"\r\n",
    )
    return b"".join(lines)


def client_response_headers(
    raw: list[tuple[bytes, bytes]], *, upstream: bytes, request_id: bytes
) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers minus hop-by-hop ones, plus X-Upstream and X-Request-ID."""
    headers = []
    named_by_connection = None
    for name, value in raw:
        lower = name.lower()
        if lower in _RESPONSE_DROPPED or lower[:6] == b"proxy-":
            if lower == b"connection":
                named_by_connection = {t.strip().lower() for t in value.split(b",")}
            continue
        headers.append((name, value))
    if named_by_connection:
        headers = [(n, v) for n, v in headers if n.lower() not in named_by_connection]
    headers.append((b"x-upstream", upstream))
    headers.append((b"x-request-id", request_id))
    return headers


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
