"""The routing table: which path prefix goes to which upstream, and how traffic is split.

The table is data, not code, so the instructor can flip a route while the shop runs. Because a
typo in it would send real customers to the wrong place, it is validated as a whole before it is
used: every problem is collected and reported at once, and a table with any problem is rejected
(the reloader then keeps the previous one in force).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
ROUTE_KEYS = frozenset(
    {"prefix", "methods", "old", "new", "weight", "sticky", "shadow", "ignore_fields", "budget_ms",
     "roles", "rate_limit"}
)
# Stage 04: who may call a route with a Bearer token (the token's `roles` claim).
KNOWN_ROLES = frozenset({"customer", "staff", "service"})
MAX_BUDGET_MS = 600_000  # ten minutes: more is a typo, not a deadline


class TableError(ValueError):
    """The table cannot be used; the message names every problem found."""


@dataclass(frozen=True)
class Route:
    prefix: str
    old: str
    new: str | None = None
    methods: frozenset[str] | None = None  # None: every method
    weight: float = 0.0  # percent of customers sent to `new`
    sticky: bool = True
    shadow: bool = False
    ignore_fields: tuple[str, ...] = ()
    budget_ms: int | None = None  # None: the facade's default (FACADE_BUDGET_MS)
    # Stage 04. roles: a caller must prove one of them (None: anyone, signed in or not).
    roles: frozenset[str] | None = None
    # rate_limit: e.g. "30/minute", per client (None: no limit on this route).
    rate_limit: str | None = None
    limits: tuple = field(default=(), compare=False)  # rate_limit parsed (limits' items)
    # Derived once here so the per-request path only compares integers and strings.
    threshold: int = field(init=False)  # weight in basis points, 0..10000
    _prefix_dir: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", round(self.weight * 100))
        object.__setattr__(self, "_prefix_dir", self.prefix.rstrip("/") + "/")

    def matches(self, path: str, method: str) -> bool:
        # Prefixes match whole path segments: "/api/v1/orders" matches "/api/v1/orders" and
        # "/api/v1/orders/7" but not "/api/v1/orders-archive".
        if self.methods is not None and method not in self.methods:
            return False
        return path == self.prefix or path.startswith(self._prefix_dir)

    def as_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "methods": sorted(self.methods) if self.methods else None,
            "old": self.old,
            "new": self.new,
            "weight": self.weight,
            "sticky": self.sticky,
            "shadow": self.shadow,
            "ignore_fields": list(self.ignore_fields),
            "budget_ms": self.budget_ms,
            "roles": sorted(self.roles) if self.roles is not None else None,
            "rate_limit": self.rate_limit,
        }


@dataclass(frozen=True)
class RouteTable:
    upstreams: dict[str, str]  # name -> base URL without a trailing slash
    routes: tuple[Route, ...]  # longest prefix first: the first match wins
    source: str = "<memory>"
    version: int = 1
    loaded_at: str = ""
    sha256: str = ""

    def match(self, path: str, method: str) -> Route:
        for route in self.routes:
            if route.matches(path, method):
                return route
        # Unreachable for a validated table: it has a catch-all "/" for every method.
        raise LookupError(path)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "loaded_at": self.loaded_at,
            "source": self.source,
            "sha256": self.sha256,
            "upstreams": dict(self.upstreams),
            "routes": [route.as_json() for route in self.routes],
        }


def load_table(path: Path, version: int = 1) -> RouteTable:
    """Read and validate the table file; raises TableError (or OSError if unreadable)."""
    data = path.read_bytes()
    return parse_table(data, source=str(path), version=version)


def parse_table(data: bytes | str, source: str = "<memory>", version: int = 1) -> RouteTable:
    raw = data.encode() if isinstance(data, str) else data
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TableError(f"not valid TOML: {exc}") from None

    problems: list[str] = []
    for key in doc:
        if key not in ("upstreams", "routes"):
            problems.append(f"unknown top-level key {key!r} (expected [upstreams] and [[routes]])")
    upstreams = _upstreams(doc.get("upstreams"), problems)
    routes = _routes(doc.get("routes"), upstreams, problems)
    if problems:
        raise TableError("; ".join(problems))
    return RouteTable(
        upstreams=upstreams,
        # Longest prefix first, so matching is a plain first-hit scan.
        routes=tuple(sorted(routes, key=lambda r: -len(r.prefix))),
        source=source,
        version=version,
        loaded_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def _upstreams(section: Any, problems: list[str]) -> dict[str, str]:
    if not isinstance(section, dict) or not section:
        problems.append('missing [upstreams] table (e.g. monolith = "http://127.0.0.1:8000")')
        return {}
    upstreams: dict[str, str] = {}
    for name, url in section.items():
        # Discovery by name: whoever starts the facade (the workshop's supervisor, compose, k8s)
        # may say where `name` really listens with FACADE_UPSTREAM_<NAME>; the file gives defaults.
        url = os.environ.get(f"FACADE_UPSTREAM_{name.upper()}", url)
        # A bad address is still recorded under its name, so the routes that use it are not
        # also reported as "unknown upstream": one mistake, one message.
        upstreams[name] = str(url)
        if not isinstance(url, str):
            problems.append(f"upstream {name!r}: the address must be a string URL")
            continue
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port like ":99999" or ":http"
        except ValueError:
            problems.append(f"upstream {name!r}: bad port in {url!r}")
            continue
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"upstream {name!r}: bad URL {url!r} (expected http://host:port)")
        elif parts.path not in ("", "/") or parts.query or parts.fragment:
            # The request path is appended as it came; a base path would silently change it.
            problems.append(
                f"upstream {name!r}: URL {url!r} must not have a path, query or fragment"
            )
        else:
            upstreams[name] = f"{parts.scheme}://{parts.netloc}"
    return upstreams


def _routes(section: Any, upstreams: dict[str, str], problems: list[str]) -> list[Route]:
    if not isinstance(section, list) or not section:
        problems.append('missing [[routes]] (at least the catch-all: prefix = "/")')
        return []
    routes: list[Route] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(section):
        where = f"routes[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table")
            continue
        route = _route(entry, where, upstreams, problems)
        if route is None:
            continue
        # One route per prefix: two would make the winner depend on the order in the file. To
        # send only some methods elsewhere, restrict them here; the rest fall through to the
        # next shorter prefix.
        if route.prefix in seen:
            first = seen[route.prefix]
            problems.append(f"{where}: duplicate prefix {route.prefix!r} (see routes[{first}])")
            continue
        seen[route.prefix] = index
        routes.append(route)
    if not any(r.prefix == "/" and r.methods is None for r in routes):
        problems.append(
            'missing catch-all route: add [[routes]] prefix = "/" (no methods) so every '
            "request has a home"
        )
    return routes


def _route(
    entry: dict[str, Any], where: str, upstreams: dict[str, str], problems: list[str]
) -> Route | None:
    before = len(problems)
    for key in entry:
        if key not in ROUTE_KEYS:
            known = ", ".join(sorted(ROUTE_KEYS))
            problems.append(f"{where}: unknown key {key!r} (known: {known})")

    prefix = entry.get("prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        problems.append(f"{where}: prefix must be a string starting with '/', not {prefix!r}")
        prefix = "/"
    else:
        where = f"{where} (prefix {prefix!r})"
        # "/api/v1/orders/" and "/api/v1/orders" are the same route.
        prefix = prefix.rstrip("/") or "/"

    methods: frozenset[str] | None = None
    if "methods" in entry:
        raw = entry["methods"]
        if not isinstance(raw, list) or not raw or not all(isinstance(m, str) for m in raw):
            problems.append(f"{where}: methods must be a non-empty list like [\"GET\", \"POST\"]")
        else:
            methods = frozenset(m.upper() for m in raw)
            unknown = sorted(methods - KNOWN_METHODS)
            if unknown:
                problems.append(f"{where}: unknown method(s) {', '.join(unknown)}")

    old = entry.get("old")
    if not isinstance(old, str):
        problems.append(f"{where}: 'old' (the upstream that serves by default) is required")
    elif upstreams and old not in upstreams:
        problems.append(f"{where}: unknown upstream {old!r} in 'old' ({_known(upstreams)})")
    new = entry.get("new")
    if new is not None and not isinstance(new, str):
        problems.append(f"{where}: 'new' must be an upstream name")
    elif new is not None and upstreams and new not in upstreams:
        problems.append(f"{where}: unknown upstream {new!r} in 'new' ({_known(upstreams)})")

    weight = entry.get("weight", 0)
    # bool is an int in Python; `weight = true` is a typo, not 1 %.
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        problems.append(f"{where}: weight must be a number from 0 to 100, not {weight!r}")
        weight = 0
    elif not 0 <= weight <= 100:
        problems.append(f"{where}: weight {weight} is out of range 0..100")
        weight = 0

    sticky = entry.get("sticky", True)
    shadow = entry.get("shadow", False)
    for key, value in (("sticky", sticky), ("shadow", shadow)):
        if not isinstance(value, bool):
            problems.append(f"{where}: {key} must be true or false, not {value!r}")
    if new is None and (weight or shadow is True):
        problems.append(f"{where}: weight and shadow need a 'new' upstream")
    if shadow is True and weight:
        # In a parallel run `old` answers every customer; a canary would contradict that.
        problems.append(f"{where}: shadow = true serves everyone from 'old'; set weight = 0")

    ignore = entry.get("ignore_fields", [])
    if not isinstance(ignore, list) or not all(isinstance(f, str) and f for f in ignore):
        problems.append(f"{where}: ignore_fields must be a list of field names or dotted paths")
        ignore = []

    budget = entry.get("budget_ms")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int)
        or not 1 <= budget <= MAX_BUDGET_MS
    ):
        problems.append(
            f"{where}: budget_ms must be a whole number of milliseconds from 1 to "
            f"{MAX_BUDGET_MS}, not {budget!r}"
        )

    roles = entry.get("roles")
    if roles is not None:
        if (not isinstance(roles, list) or not roles
                or not all(isinstance(r, str) for r in roles)):
            problems.append(f"{where}: roles must be a non-empty list like [\"customer\"]")
            roles = None
        elif set(roles) - KNOWN_ROLES:
            unknown = ", ".join(sorted(set(roles) - KNOWN_ROLES))
            problems.append(f"{where}: unknown role(s) {unknown} (known: "
                            f"{', '.join(sorted(KNOWN_ROLES))})")
            roles = None
        else:
            roles = frozenset(roles)

    rate_limit = entry.get("rate_limit")
    items: tuple = ()
    if rate_limit is not None:
        from .ratelimit import parse_limit  # limits is imported only by tables that use it

        try:
            if not isinstance(rate_limit, str):
                raise ValueError("not a string")
            items = parse_limit(rate_limit)
        except ValueError:
            problems.append(f"{where}: rate_limit must be like \"30/minute\" or "
                            f"\"5/second; 100/minute\", not {rate_limit!r}")

    if len(problems) > before:
        return None
    return Route(
        prefix=prefix,
        old=old,
        new=new,
        methods=methods,
        weight=float(weight),
        sticky=sticky,
        shadow=shadow,
        ignore_fields=tuple(ignore),
        budget_ms=budget,
        roles=roles,
        rate_limit=rate_limit,
        limits=items,
    )


def _known(upstreams: dict[str, str]) -> str:
    return "known: " + ", ".join(sorted(upstreams))
