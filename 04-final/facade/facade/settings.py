"""Everything the facade reads from the environment, read once at startup.

The routing table itself is a file (it changes while the facade runs); these knobs are process
settings that only change with a restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The demo table shipped next to the package; FACADE_ROUTES points elsewhere.
DEFAULT_ROUTES = Path(__file__).resolve().parent.parent / "routes.toml"
# The deadline budget (docs/api-contract.md): the facade gives each request this many ms
# (X-Request-Budget-Ms) unless its route or the client says less, and waits that long plus the
# margin, so the callee's own answer (a 504 deadline_exceeded with nothing kept) always arrives
# before the facade gives up: a timeout at the front door never hides a success behind it.
MIN_MARGIN_MS = 1000


@dataclass(frozen=True)
class Settings:
    routes_path: Path
    budget_ms: int = 8000
    budget_margin_ms: int = 2000
    # How often the table file is checked for changes.
    reload_interval: float = 0.5
    # Shadow mode has to keep both bodies to compare them; bigger bodies are not compared.
    shadow_max_bytes: int = 1024 * 1024
    # Upstream requests in flight per upstream; more wait for a free slot.
    pool_limit: int = 100
    # The idle timeout must stay below the upstream server's own keep-alive timeout (gunicorn:
    # 2 s, uvicorn: 5 s, waitress: 120 s): otherwise the server may close a connection at the
    # very moment we reuse it.
    keepalive_timeout: float = 1.5
    # "keep": the upstream sees the Host the client sent (see README, "Host header").
    # "upstream": the upstream sees its own address, like `curl http://127.0.0.1:8000`.
    host_header: str = "keep"
    # What one client may take of the front door (server.Limits says why each exists).
    max_header_bytes: int = 64 * 1024  # request line + headers; over it: 431
    max_body_bytes: int = 10 * 1024 * 1024  # over it: 413
    header_timeout: float = 10.0  # first byte of a request to the end of its headers: else 408
    body_timeout: float = 30.0  # silence while a body arrives (408) or an answer is not taken
    client_idle_timeout: float = 5.0  # an idle client connection is closed after this long
    # Stickiness falls back to this cookie when a request has no Authorization header.
    session_cookie: str = "sessionid"
    log_level: str = "INFO"
    # Stage 04, the gateway. auth "on": Bearer tokens are checked against the provider's JWKS,
    # routes' roles and rate limits apply; it needs the three addresses below. "off" is the
    # stage 01-03 facade (a routing-only test table; never the stage's own).
    auth: bool = False
    jwks_url: str = ""
    issuer: str = ""
    audience: str = "shop"
    redis_url: str = ""  # rate-limit counters and the revoked tokens' list
    jwks_cooldown: float = 30.0  # at most one JWKS fetch per this many s for unknown kids

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        host_header = env.get("FACADE_HOST_HEADER", "keep").strip().lower()
        if host_header not in ("keep", "upstream"):
            raise ValueError(
                f"FACADE_HOST_HEADER must be 'keep' or 'upstream', not {host_header!r}"
            )
        margin = int(_positive(env, "FACADE_BUDGET_MARGIN_MS", 2000))
        if margin < MIN_MARGIN_MS:
            raise ValueError(
                f"FACADE_BUDGET_MARGIN_MS must be at least {MIN_MARGIN_MS}, not {margin}: the "
                "callee's own deadline answer must reach the facade before it gives up"
            )
        auth = env.get("GATEWAY_AUTH", "on").strip().lower()
        if auth not in ("on", "off"):
            raise ValueError(f"GATEWAY_AUTH must be 'on' or 'off', not {auth!r}")
        gateway = {
            "jwks_url": env.get("GATEWAY_JWKS_URL", "").strip(),
            "issuer": env.get("GATEWAY_ISSUER", "").strip(),
            "redis_url": (env.get("REDIS_URL") or env.get("GATEWAY_REDIS_URL", "")).strip(),
        }
        missing = [f"GATEWAY_{k.upper()}" for k, v in gateway.items() if not v]
        if auth == "on" and missing:
            # Refuse to start rather than let every token through unchecked.
            raise ValueError(
                f"{', '.join(missing)} not set: the gateway cannot check tokens or count "
                "limits without them (GATEWAY_AUTH=off runs it as a routing-only facade)")
        return cls(
            routes_path=Path(env.get("FACADE_ROUTES") or DEFAULT_ROUTES).resolve(),
            budget_ms=int(_positive(env, "FACADE_BUDGET_MS", 8000)),
            budget_margin_ms=margin,
            reload_interval=_positive(env, "FACADE_RELOAD_INTERVAL", 0.5),
            shadow_max_bytes=int(_positive(env, "FACADE_SHADOW_MAX_BYTES", 1024 * 1024)),
            pool_limit=int(_positive(env, "FACADE_POOL_LIMIT", 100)),
            keepalive_timeout=_positive(env, "FACADE_KEEPALIVE_TIMEOUT", 1.5),
            max_header_bytes=int(_positive(env, "FACADE_MAX_HEADER_BYTES", 64 * 1024)),
            max_body_bytes=int(_positive(env, "FACADE_MAX_BODY_BYTES", 10 * 1024 * 1024)),
            header_timeout=_positive(env, "FACADE_HEADER_TIMEOUT", 10.0),
            body_timeout=_positive(env, "FACADE_BODY_TIMEOUT", 30.0),
            client_idle_timeout=_positive(env, "FACADE_CLIENT_IDLE_TIMEOUT", 5.0),
            host_header=host_header,
            session_cookie=env.get("FACADE_SESSION_COOKIE", "sessionid"),
            log_level=env.get("FACADE_LOG_LEVEL", "INFO").upper(),
            auth=auth == "on",
            audience=env.get("GATEWAY_AUDIENCE", "shop"),
            jwks_cooldown=_positive(env, "GATEWAY_JWKS_COOLDOWN", 30.0),
            **gateway,
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be greater than 0, not {raw!r}")
    return value
