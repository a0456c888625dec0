"""Rate limits per client and route, and the revoked tokens: both in the stage's Redis.

A limit is counted in Redis (the `limits` library, sliding-window counter) rather than in this
process, so two gateways side by side share one count and a restart forgets nothing. Each
route's `rate_limit` (routes.toml, e.g. "30/minute") applies to each client separately: the
verified token's subject, else a hash of the legacy token, else the client's address.

When Redis does not answer, requests are let through (and counted in
gateway_redis_errors_total): a limit protects the shop, and refusing every customer because the
counter is down would do the attacker's work. The same goes for the revocation list: a revoked
token then lives until it expires (5 minutes at most).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger("facade")
REVOKED_PREFIX = "revoked:"  # the provider writes revoked:<sha256 of the token> (identity/)
TIMEOUT = 0.5  # seconds: a slow Redis must not stall the front door


def parse_limit(text: str) -> tuple[RateLimitItem, ...]:
    """"30/minute" or "10/second; 100/minute" -> limits' items; ValueError names the problem."""
    items = tuple(parse_many(text))
    if not items:
        raise ValueError(f"no limit in {text!r}")
    return items


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int = 0
    remaining: int = 0
    reset_after: int = 0  # seconds until the window lets this client in again

    def headers(self) -> list[tuple[bytes, bytes]]:
        # RateLimit-* (the IETF httpapi draft's fields) plus Retry-After (RFC 9110) for clients
        # that know only that one.
        return [(b"ratelimit-limit", b"%d" % self.limit),
                (b"ratelimit-remaining", b"%d" % self.remaining),
                (b"ratelimit-reset", b"%d" % self.reset_after),
                (b"retry-after", b"%d" % max(1, self.reset_after))]


def client_key(subject: str | None, authorization: str | None, client_ip: str) -> str:
    if subject is not None:
        return "sub:" + subject
    if authorization:
        # Never the credential itself as a key: Redis keys are listed and logged.
        return "auth:" + hashlib.sha256(authorization.encode("latin-1")).hexdigest()[:32]
    return "ip:" + client_ip


class RedisGate:
    def __init__(self, url: str, on_error) -> None:
        self.url = url
        self._on_error = on_error
        self._storage = RedisStorage("async+" + url, implementation="redispy",
                                     socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._redis = aioredis.Redis.from_url(url, socket_timeout=TIMEOUT,
                                              socket_connect_timeout=TIMEOUT)
        self._last_warning = 0.0

    def _failed(self, what: str, exc: BaseException) -> None:
        self._on_error()
        now = time.monotonic()
        if now - self._last_warning > 10:  # one line per 10 s, not one per request
            self._last_warning = now
            log.warning("redis %s failed (%s: %s): letting requests through", what,
                        type(exc).__name__, exc)

    async def hit(self, items: tuple[RateLimitItem, ...], route: str, client: str) -> Verdict:
        try:
            for item in items:
                if not await asyncio.wait_for(self._limiter.hit(item, route, client), TIMEOUT):
                    stats = await asyncio.wait_for(
                        self._limiter.get_window_stats(item, route, client), TIMEOUT)
                    return Verdict(False, item.amount, 0,
                                   math.ceil(max(0.0, stats.reset_time - time.time())))
        except Exception as exc:  # noqa: BLE001 - any Redis failure: fail open, said above
            self._failed("rate limit", exc)
        return Verdict(True)

    async def revoked(self, token: str) -> bool:
        key = REVOKED_PREFIX + hashlib.sha256(token.encode("latin-1")).hexdigest()
        try:
            return bool(await asyncio.wait_for(self._redis.exists(key), TIMEOUT))
        except Exception as exc:  # noqa: BLE001
            self._failed("revocation check", exc)
            return False

    async def close(self) -> None:
        await self._redis.aclose()
