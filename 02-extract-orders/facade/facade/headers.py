"""What crosses the hop, in both directions.

A proxy is two HTTP connections glued together, so headers that describe one connection must
not leak into the other (RFC 9110 section 7.6.1): Connection and the headers it names,
Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade. The facade then adds what the
upstream can no longer see for itself: who the client is (X-Forwarded-For), how and where it
connected (X-Forwarded-Proto, X-Forwarded-Host), and a request id that ties the log lines of
every hop together (X-Request-ID).

Everything here runs once per request, so it works on the raw byte pairs the ASGI server hands
over and walks them only once.
"""

from __future__ import annotations

import os
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
# Request headers the facade sets itself (or consumes), so the client's copies are not passed on:
# a client must not be able to pick its own X-Forwarded-Host, and X-Route-To is for us only.
# Expect: 100-continue was already answered by our own server, on our own hop.
_OWNED = frozenset(
    {
        b"host",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        b"x-route-to",
        b"expect",
    }
)
# Response headers the facade sets itself. Date and Server: the ASGI server (uvicorn) always adds
# its own, so passing the upstream's on would send each twice.
_RESPONSE_OWNED = frozenset({b"x-request-id", b"x-upstream", b"date", b"server"})
# An incoming id is reused only if it is short, visible ASCII: it goes into every log line, and a
# newline in it would let a client forge log entries.
_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,200}")


@dataclass
class Incoming:
    """The parts of the client's request headers the facade needs, read in one pass."""

    forward: list[tuple[str, str]]  # end-to-end headers to pass on unchanged
    host: str
    authorization: str | None
    cookie: str | None
    forwarded_for: str | None
    request_id: str
    route_to: str | None
    has_body: bool


def read_request(raw: list[tuple[bytes, bytes]]) -> Incoming:
    kept: list[tuple[bytes, bytes]] = []
    named_by_connection: set[bytes] = set()
    host = b""
    authorization = cookie = forwarded_for = request_id = route_to = None
    has_body = False
    for name, value in raw:  # ASGI servers hand over lower-case names
        if name in HOP_BY_HOP or name.startswith(b"proxy-"):
            if name == b"connection":
                named_by_connection.update(t.strip().lower() for t in value.split(b","))
            elif name == b"transfer-encoding":
                has_body = True  # chunked: a body of unknown length follows
            continue
        if name in _OWNED:
            if name == b"host":
                host = value
            elif name == b"x-forwarded-for":
                # Several X-Forwarded-For lines are one comma-separated list.
                forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"x-route-to":
                route_to = value
            continue
        if name == b"content-length":
            has_body = value.strip() not in (b"0", b"")
        elif name == b"authorization":
            authorization = value
        elif name == b"cookie":
            cookie = value if cookie is None else cookie + b"; " + value
        kept.append((name, value))

    if request_id is None or not _REQUEST_ID.fullmatch(request_id):
        request_id = os.urandom(16).hex().encode()  # as unique as uuid4, and cheaper
    return Incoming(
        forward=[
            (n.decode("latin-1"), v.decode("latin-1"))
            for n, v in kept
            if n not in named_by_connection
        ],
        host=host.decode("latin-1"),
        authorization=_text(authorization),
        cookie=_text(cookie),
        forwarded_for=_text(forwarded_for),
        request_id=request_id.decode("ascii"),
        route_to=_text(route_to),
        has_body=has_body,
    )


def upstream_request_headers(
    incoming: Incoming, *, client_ip: str, scheme: str, upstream_netloc: str, keep_host: bool
) -> list[tuple[str, str]]:
    """The headers sent upstream: the client's end-to-end ones plus what the facade adds.

    keep_host passes the client's Host on (see README, "Host header"); a request without one
    (HTTP/1.0) gets the upstream's address.
    """
    headers = list(incoming.forward)
    headers.append(("Host", incoming.host if keep_host and incoming.host else upstream_netloc))
    chain = f"{incoming.forwarded_for}, {client_ip}" if incoming.forwarded_for else client_ip
    headers.append(("X-Forwarded-For", chain))
    headers.append(("X-Forwarded-Proto", scheme))
    if incoming.host:
        headers.append(("X-Forwarded-Host", incoming.host))
    headers.append(("X-Request-ID", incoming.request_id))
    return headers


def client_response_headers(
    raw: tuple[tuple[bytes, bytes], ...], *, upstream: bytes, request_id: bytes
) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers minus hop-by-hop ones, plus X-Upstream and X-Request-ID."""
    named_by_connection: set[bytes] = set()
    for name, value in raw:
        if name.lower() == b"connection":
            named_by_connection.update(t.strip().lower() for t in value.split(b","))
    headers = []
    for name, value in raw:
        lower = name.lower()
        if (
            lower in HOP_BY_HOP
            or lower.startswith(b"proxy-")
            or lower in _RESPONSE_OWNED
            or lower in named_by_connection
        ):
            continue
        headers.append((name, value))
    headers.append((b"x-upstream", upstream))
    headers.append((b"x-request-id", request_id))
    return headers


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
