"""Which side serves a request: the old upstream or the new one.

Three rules, in this order:
1. `X-Route-To: old|new|<upstream name>` forces a side (for the instructor and the tests).
2. A route without `new`, or with weight 0, always goes to `old`; weight 100 always to `new`.
3. Otherwise the canary weight decides. With `sticky = true` (the default) the decision is a
   hash of the customer, so the same customer always lands on the same side: a half-migrated
   customer who sees an order on one request and not on the next is the classic canary bug.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from hashlib import blake2b

from .table import Route

OLD = "old"
NEW = "new"
BUCKETS = 10_000  # basis points: weights like 12.5 % work exactly


class BadOverride(ValueError):
    """An X-Route-To value that names no side of the matched route."""


def bucket(customer: str, salt: str) -> int:
    """A stable number in 0..9999 for this customer on this route.

    Python's hash() is salted per process, so it would reshuffle customers on every restart;
    blake2b is the same everywhere, forever. Salting with the route prefix makes the canary
    cohorts of different routes independent. A customer in bucket b is on `new` while
    b < weight * 100: raising the weight only ever moves customers from old to new, never back.
    """
    digest = blake2b(f"{salt}\n{customer}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def choose_side(route: Route, customer: Callable[[], str], override: str | None) -> str:
    """OLD or NEW. `customer` is called only when a sticky split actually needs the key."""
    if override is not None:
        return _override(route, override)
    if route.new is None or route.threshold <= 0:
        return OLD
    if route.threshold >= BUCKETS:
        return NEW
    # Not sticky: a fair coin per request (no security here, so `random` is fine).
    roll = bucket(customer(), route.prefix) if route.sticky else random.randrange(BUCKETS)
    return NEW if roll < route.threshold else OLD


def _override(route: Route, value: str) -> str:
    wanted = value.strip()
    lowered = wanted.lower()
    if lowered == OLD or wanted == route.old:
        return OLD
    if route.new is not None and (lowered == NEW or wanted == route.new):
        return NEW
    sides = f"old ({route.old})" + (f" or new ({route.new})" if route.new else "")
    raise BadOverride(
        f"X-Route-To {value!r} names no side of route {route.prefix!r}; use {sides}"
    )


def customer_key(authorization: str | None, cookie: str | None, cookie_name: str, ip: str) -> str:
    """Who is asking: the Authorization header, else the session cookie, else the client IP.

    The kind is part of the key so an IP can never collide with a token of the same text.
    """
    if authorization:
        return "auth:" + authorization
    if cookie:
        session = _cookie_value(cookie, cookie_name)
        if session:
            return "session:" + session
    return "ip:" + ip


def _cookie_value(cookie_header: str, name: str) -> str | None:
    for part in cookie_header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"') or None
    return None
