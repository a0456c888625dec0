"""The upstream call: one pooled aiohttp session, bodies streamed, failures answered at once.

Why aiohttp and not httpx: measured on the workshop machines, a proxied request costs about
255 µs of CPU with aiohttp's ClientSession and over 1 ms with httpx's AsyncClient. The proxy's
CPU is taken from the upstreams' on a small machine, so this choice is visible in throughput.

Streaming: request and response bodies pass through chunk by chunk, so a 100 MB upload costs
the facade a few chunks of memory, not 100 MB, and the client sees the first byte as soon as
the upstream sends it. Only shadow mode keeps bodies (it has to compare them), up to a cap.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from time import perf_counter
from typing import Any

import aiohttp
from yarl import URL

from .headers import client_response_headers
from .metrics import Metrics
from .settings import Settings
from .shadow import Ignore, compare

log = logging.getLogger("facade")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected while we were still reading its request body."""


class TooLarge(Exception):
    """A body over the shadow cap: it is passed on, but not compared."""


@dataclass
class Call:
    """One request to one upstream."""

    route: str  # the matched prefix (a metrics label)
    upstream: str  # the upstream's name from the table
    base_url: str
    method: str
    target: str  # path and query exactly as the client sent them
    headers: list[tuple[str, str]]
    request_id: str


class Proxy:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        timeout = self.settings.upstream_timeout
        self.session = aiohttp.ClientSession(
            # One pool of keep-alive connections for the whole process: a new TCP connection
            # per request would cost more than everything else the facade does.
            connector=aiohttp.TCPConnector(
                limit=self.settings.pool_limit,
                keepalive_timeout=self.settings.keepalive_timeout,
            ),
            # connect: the upstream does not accept; sock_read: it accepted but does not answer
            # (or stalls mid-body). No total limit: a big download may take longer than that.
            timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout),
            # A client session keeps cookies by default. Here that would hand one customer's
            # session cookie to the next customer: the facade must not have a cookie jar.
            cookie_jar=aiohttp.DummyCookieJar(),
            # Pass compressed bodies through as they are; the client asked for them.
            auto_decompress=False,
            # Send the client's headers, not aiohttp's defaults in their place.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    # -- the normal path: stream both ways ---------------------------------------------------

    async def forward(
        self, call: Call, receive: Receive, send: Send, has_body: bool, head: bytes = b""
    ) -> None:
        """Proxy one request. `head` is body already read from `receive` (by shadow mode)."""
        data = request_body(receive, head) if has_body else None
        resp = await self._open(call, data, send)
        if resp is not None:
            await self._relay(call, resp, send, keep=0)

    async def _open(
        self, call: Call, data: AsyncIterator[bytes] | bytes | None, send: Send
    ) -> aiohttp.ClientResponse | None:
        """Send the request upstream; on failure answer the client and return None."""
        assert self.session is not None, "Proxy.start() was not called"
        started = perf_counter()
        try:
            resp = await self.session.request(
                call.method,
                # encoded=True: the path goes on byte for byte, no re-quoting.
                URL(call.base_url + call.target, encoded=True),
                headers=call.headers,
                data=data,
                # A redirect is an answer for the client, not an instruction for the facade.
                allow_redirects=False,
            )
        except ClientGone:
            return None
        # Timeouts first: aiohttp's timeout errors are also ClientErrors.
        except asyncio.TimeoutError:
            await self._fail(call, send, 504, "upstream_timeout", "did not answer in time")
            return None
        except (aiohttp.ClientError, OSError) as exc:
            # Connection refused comes back at once: the client gets a 502 right away, not
            # after a timeout. aiohttp itself retries an idempotent request once when a pooled
            # connection turns out to be closed (the upstream restarted), so a stale keep-alive
            # connection does not surface as a 502.
            await self._fail(call, send, 502, "upstream_unavailable", _describe(exc))
            return None
        self.metrics.observe_latency(call.upstream, perf_counter() - started)
        return resp

    async def _relay(
        self, call: Call, resp: aiohttp.ClientResponse, send: Send, keep: int
    ) -> bytes | None:
        """Stream the upstream's answer to the client; keep a copy of up to `keep` bytes.

        Returns the copy (shadow mode), or None when nothing was kept or the copy overflowed.
        """
        copy: list[bytes] | None = [] if keep else None
        kept = 0
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": client_response_headers(
                        resp.raw_headers,
                        upstream=call.upstream.encode(),
                        request_id=call.request_id.encode(),
                    ),
                }
            )
            self.metrics.count_request(call.route, call.upstream, resp.status)
            async for chunk in resp.content.iter_any():
                if copy is not None:
                    kept += len(chunk)
                    if kept > keep:
                        copy = None
                    else:
                        copy.append(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            # The status line is already out, so a 502 is no longer possible. Returning without
            # finishing the body makes the server close the connection: the client sees a
            # truncated response instead of a silently short one.
            log.warning(
                "upstream %s broke off its answer to %s %s (request %s): %s",
                call.upstream, call.method, call.target, call.request_id, _describe(exc),
            )
            return None
        finally:
            # Back to the pool if the body was read to the end, closed otherwise.
            resp.release()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return b"".join(copy) if copy is not None else None

    async def _fail(self, call: Call, send: Send, status: int, error: str, why: str) -> None:
        log.warning(
            "%s %s -> %d %s: upstream %s (%s) %s (request %s)",
            call.method, call.target, status, error, call.upstream, call.base_url, why,
            call.request_id,
        )
        self.metrics.count_request(call.route, call.upstream, status)
        await send_json(
            send,
            status,
            {"error": error, "upstream": call.upstream, "request_id": call.request_id},
            [(b"x-upstream", call.upstream.encode()), (b"x-request-id", call.request_id.encode())],
        )

    # -- shadow mode: old answers, new gets a copy, the answers are compared ---------------------

    async def forward_shadow(
        self,
        call: Call,
        shadow: Call,
        receive: Receive,
        send: Send,
        has_body: bool,
        ignore_fields: tuple[str, ...],
    ) -> None:
        cap = self.settings.shadow_max_bytes
        body = b""
        if has_body:
            # The body goes out twice, so it has to be read first (up to the cap).
            try:
                body, complete = await read_capped(receive, cap)
            except ClientGone:
                return
            if not complete:
                self.metrics.shadow_skipped.labels(call.route, "too_large").inc()
                await self.forward(call, receive, send, has_body=True, head=body)
                return
        # The copy leaves now, in parallel with the real request, so both sides see the request
        # in the same state of the world, and the customer never waits for the new side.
        copy = self._spawn(self._fetch(shadow, body if has_body else None, cap))
        resp = await self._open(call, body if has_body else None, send)
        if resp is None:
            copy.cancel()
            return
        old_body = await self._relay(call, resp, send, keep=cap)
        if old_body is None:
            copy.cancel()
            self.metrics.shadow_skipped.labels(call.route, "too_large").inc()
            return
        self._spawn(self._compare(call, resp.status, old_body, copy, ignore_fields))

    async def _fetch(self, call: Call, body: bytes | None, cap: int) -> tuple[int, bytes]:
        assert self.session is not None
        started = perf_counter()
        async with self.session.request(
            call.method,
            URL(call.base_url + call.target, encoded=True),
            headers=call.headers,
            data=body,
            allow_redirects=False,
        ) as resp:
            self.metrics.observe_latency(call.upstream, perf_counter() - started)
            chunks, size = [], 0
            async for chunk in resp.content.iter_any():
                size += len(chunk)
                if size > cap:
                    raise TooLarge
                chunks.append(chunk)
            return resp.status, b"".join(chunks)

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
        except (aiohttp.ClientError, OSError) as exc:
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


async def request_body(receive: Receive, head: bytes = b"") -> AsyncIterator[bytes]:
    """The client's body as the ASGI server delivers it, chunk by chunk."""
    if head:
        yield head
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def read_capped(receive: Receive, cap: int) -> tuple[bytes, bool]:
    """Read the body up to `cap` bytes: (body, True) if that was all, (what was read, False)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > cap:
            return b"".join(chunks), False


async def send_json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload, indent=None).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


@lru_cache(maxsize=256)
def _ignore(fields: tuple[str, ...]) -> Ignore:
    return Ignore(fields)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
