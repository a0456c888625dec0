"""`workshop doctor`: is this laptop ready, and if not, exactly what to do about it.

Standard library only, so it works before anything is installed. Each check speaks the real
protocol (a Redis PING, a PostgreSQL SSLRequest, Docker's /_ping) rather than just opening a port,
so "reachable" means the right server answers.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import urllib.parse
from dataclasses import dataclass

from workshop import MIN_PYTHON, bootstrap

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


def redis_answers(url: str) -> bool:
    host, port = _host_port(url, 6379)
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def postgres_answers(url: str) -> bool:
    host, port = _host_port(url, 5432)
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(struct.pack("!ii", 8, 80877103))  # SSLRequest: any PostgreSQL answers S or N
            return s.recv(1) in (b"S", b"N")
    except OSError:
        return False


def docker_answers() -> bool:
    """A daemon, not just the client: `which docker` says nothing about whether one runs."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            if not hasattr(socket, "AF_UNIX"):
                return False
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(1)
            s.connect(host[len("unix://") :])
        elif host.startswith("tcp://"):
            s = socket.create_connection(_host_port(host, 2375), timeout=1)
        else:  # npipe on Windows: no cheap stdlib probe; say no rather than guess
            return False
        with s:
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b"OK" in s.recv(256)
    except OSError:
        return False


def _port_holder(port: int) -> bool:
    from workshop.supervisor import port_is_free

    return not port_is_free(port)


def checks(redis_url: str, database_url: str) -> list[Check]:
    out = []
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info >= MIN_PYTHON:
        out.append(Check("python", OK, f"Python {version}"))
    else:
        out.append(
            Check(
                "python",
                FAIL,
                f"Python {version} is too old",
                f"install Python {'.'.join(map(str, MIN_PYTHON))} or newer",
            )
        )

    installed = [
        name for name in ("run", "test") if (bootstrap.VENV / f".workshop-{name}.sha256").exists()
    ]
    if installed:
        out.append(Check("dependencies", OK, f"{bootstrap.VENV} has: {', '.join(installed)}"))
    else:
        out.append(
            Check(
                "dependencies",
                WARN,
                "not installed yet",
                "nothing to do: `python3 -m workshop up` installs them on first use",
            )
        )

    try:
        from workshop import stages

        all_stages = [stages.load(name) for name in stages.names()]
    except (ImportError, SystemExit):  # Python 3.10 before .venv exists has no TOML reader
        all_stages = []
    for stage in all_stages:
        busy = [f"{p.name}:{p.port}" for p in stage.processes if _port_holder(p.port)]
        if busy:
            out.append(
                Check(
                    f"ports {stage.name}",
                    WARN,
                    f"in use: {', '.join(busy)}",
                    "stop whatever listens there (a stage still running?) before `up`",
                )
            )
        else:
            ports = ", ".join(str(p.port) for p in stage.processes)
            out.append(Check(f"ports {stage.name}", OK, f"free: {ports}"))

    def needed_by(service: str) -> str:
        users = [f"{s.name} ({s.services[service]})" for s in all_stages if service in s.services]
        return "; ".join(users) or "no stage present"

    if redis_answers(redis_url):
        out.append(Check("redis", OK, f"answers at {redis_url}"))
    else:
        out.append(
            Check(
                "redis",
                WARN,
                f"not reachable at {redis_url}; used by: {needed_by('redis')}",
                "start it (`redis-server --port 6379 --save ''`), or set REDIS_URL; "
                "stages that need Redis fall back to an embedded one when you run them",
            )
        )
    if postgres_answers(database_url):
        out.append(Check("postgresql", OK, f"answers at {database_url}"))
    else:
        out.append(
            Check(
                "postgresql",
                WARN,
                f"not reachable at {database_url}; used by: {needed_by('postgresql')}",
                "stages run on SQLite without it; for the PostgreSQL tests start one "
                "(e.g. `pg_ctlcluster 15 main start`) or set DATABASE_URL",
            )
        )
    if docker_answers():
        out.append(Check("docker", OK, "a Docker daemon answers: tests may use testcontainers"))
    else:
        out.append(
            Check(
                "docker",
                OK,
                "no Docker daemon: tests use the local servers "
                "(REDIS_URL, DATABASE_URL); Docker is optional",
            )
        )
    return out


def run() -> int:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    database_url = os.environ.get("DATABASE_URL", "postgres://127.0.0.1:5432/postgres")
    if database_url.startswith("sqlite"):
        database_url = "postgres://127.0.0.1:5432/postgres"
    results = checks(redis_url, database_url)
    width = max(len(c.name) for c in results)
    for c in results:
        print(f"[{c.status:>4}] {c.name:<{width}}  {c.detail}")
        if c.fix:
            print(f"{'':>7} {'':<{width}}  fix: {c.fix}")
    failed = [c for c in results if c.status == FAIL]
    print("\nready." if not failed else f"\n{len(failed)} problem(s) to fix first.")
    return 1 if failed else 0
