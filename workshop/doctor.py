"""`workshop doctor`: is this laptop ready, and if not, exactly what to do about it.

Standard library only, so it works before anything is installed. Each check speaks the real
protocol (a Redis PING, a PostgreSQL SSLRequest, an AMQP header, Docker's /_ping) rather than just
opening a port, so "reachable" means the right server answers. Fixes are given for the system it
runs on: Debian/Ubuntu, macOS with Homebrew, Windows.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

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


def rabbitmq_answers(url: str) -> bool:
    host, port = _host_port(url, 5672)
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")  # AMQP 0-9-1 protocol header
            # A broker answers Connection.Start: a method frame (type 1) on channel 0.
            return s.recv(3) == b"\x01\x00\x00"
    except OSError:
        return False


def system() -> str:
    """"debian", "macos", "windows" or "linux": whose fix to print."""
    if sys.platform == "darwin":
        return "macos"
    if os.name == "nt":
        return "windows"
    try:
        release = Path("/etc/os-release").read_text(encoding="utf-8").lower()
    except OSError:
        release = ""
    return "debian" if "debian" in release or "ubuntu" in release else "linux"


# How to get each server running, per system (Debian/Ubuntu, macOS with Homebrew, Windows).
FIXES = {
    "postgresql": {
        "debian": "sudo apt-get install -y postgresql && sudo service postgresql start",
        "macos": "brew install postgresql@16 && brew services start postgresql@16",
        "windows": "winget install PostgreSQL.PostgreSQL.16 (it runs as a Windows service)",
        "linux": "install PostgreSQL with your package manager and start its service",
    },
    "redis": {
        "debian": "sudo apt-get install -y redis-server && sudo service redis-server start",
        "macos": "brew install redis && brew services start redis",
        "windows": "winget install Memurai.MemuraiDeveloper (a Redis for Windows; a service)",
        "linux": "install redis with your package manager, or run `redis-server --save ''`",
    },
    "rabbitmq": {
        "debian": "sudo apt-get install -y rabbitmq-server && sudo service rabbitmq-server start",
        "macos": "brew install rabbitmq && brew services start rabbitmq",
        "windows": "winget install Erlang.ErlangOTP, then winget install RabbitMQ.RabbitMQ "
        "(it runs as a Windows service)",
        "linux": "install rabbitmq-server with your package manager and start its service",
    },
}


def how_to_find(port: int) -> str:
    if system() == "windows":
        return f"`netstat -ano | findstr :{port}` shows its PID, `tasklist /FI \"PID eq <pid>\"`"
    return f"`lsof -nP -iTCP:{port} -sTCP:LISTEN` names it"


def port_holder(port: int) -> str | None:
    """Who listens on 127.0.0.1:`port`, as "name (pid N)"; None when this system will not say.

    psutil where it is installed and allowed (macOS asks for root); else the system's own tool.
    """
    import subprocess

    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            for conn in psutil.net_connections("tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                    return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
        except (psutil.Error, OSError):
            pass
    try:
        if system() == "windows":
            out = subprocess.run(["netstat", "-ano", "-p", "TCP"], capture_output=True,
                                 text=True, timeout=10).stdout
            for line in out.splitlines():
                parts = line.split()
                if len(parts) >= 5 and parts[1].endswith(f":{port}") and parts[3] == "LISTENING":
                    pid = parts[4]
                    task = subprocess.run(["tasklist", "/FI", f"PID eq {pid}", "/FO", "CSV",
                                           "/NH"], capture_output=True, text=True,
                                          timeout=10).stdout.split(",")[0].strip('"')
                    return f"{task or '?'} (pid {pid})"
            return None
        out = subprocess.run(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"],
                             capture_output=True, text=True, timeout=10).stdout
        fields = dict((line[0], line[1:]) for line in out.splitlines() if line[:1] in ("p", "c"))
        if "p" in fields:
            return f"{fields.get('c', '?')} (pid {fields['p']})"
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def _port_taken(port: int) -> bool:
    from workshop.supervisor import port_is_free

    return not port_is_free(port)


def _busy_ports_fix(stage, busy: list[int]) -> str:
    from workshop import control

    handle = control.read(stage)
    if handle is not None and handle.answers():
        return (f"{stage.name} is running (its `up` is pid {handle.state['pid']}): "
                f"`python3 -m workshop down {stage.name}` stops it")
    holders = []
    for port in busy:
        holder = port_holder(port)
        holders.append(f"port {port} is held by {holder}" if holder
                       else f"port {port}: {how_to_find(port)}")
    return "; ".join(holders) + ". Stop it, or run `up --free-ports`"


def checks(
    redis_url: str, database_url: str, rabbitmq_url: str = "amqp://127.0.0.1:5672//"
) -> list[Check]:
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
        name for name in ("run", "exercise", "test")
        if (bootstrap.VENV / f".workshop-{name}.sha256").exists()
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

    out.append(exercise_checks())

    try:
        from workshop import stages

        all_stages = [stages.load(name) for name in stages.names()]
    except (ImportError, SystemExit):  # Python 3.10 before .venv exists has no TOML reader
        all_stages = []
    for stage in all_stages:
        busy = [p for p in stage.processes if _port_taken(p.port)]
        if busy:
            out.append(
                Check(
                    f"ports {stage.name}",
                    WARN,
                    f"in use: {', '.join(f'{p.name}:{p.port}' for p in busy)}",
                    _busy_ports_fix(stage, [p.port for p in busy]),
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
                f"{FIXES['redis'][system()]}; or set REDIS_URL. Stages that need Redis "
                "fall back to an embedded one when you run them",
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
                f"stages run on SQLite without it; for the PostgreSQL tests: "
                f"{FIXES['postgresql'][system()]}; or set DATABASE_URL",
            )
        )
    if rabbitmq_answers(rabbitmq_url):
        out.append(Check("rabbitmq", OK, f"answers at {rabbitmq_url}"))
    else:
        out.append(
            Check(
                "rabbitmq",
                WARN,
                f"not reachable at {rabbitmq_url}; used by: {needed_by('rabbitmq')}",
                f"{FIXES['rabbitmq'][system()]}; or set RABBITMQ_URL",
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


# What `exercise check` runs in .venv: if one of these does not import, no check can run.
EXERCISE_MODULES = ("pytest", "pytest_django", "pytest_timeout", "hypothesis", "httpx",
                    "aiohttp", "django")


def exercise_checks() -> Check:
    """Can `exercise check` run the checks from .venv? Asked of its interpreter, not guessed."""
    python = bootstrap.venv_python()
    if not python.exists():
        return Check("exercise checks", WARN, f"no {bootstrap.VENV} yet",
                     "nothing to do: `python3 -m workshop exercise list` (or `up`) makes it, and "
                     "any `exercise` command installs the test runner into it")
    try:
        result = subprocess.run(
            [str(python), "-c", f"import {', '.join(EXERCISE_MODULES)}"],
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("exercise checks", FAIL, f"{python} does not run: {exc}",
                     f"delete {bootstrap.VENV} and run `python3 -m workshop exercise list`")
    if result.returncode == 0:
        return Check("exercise checks", OK, f"can run: {python} has pytest and the stages' "
                     "test packages")
    missing = (result.stderr.strip().splitlines() or ["?"])[-1]
    return Check("exercise checks", WARN, f"cannot run yet from {bootstrap.VENV}: {missing}",
                 "`python3 -m workshop exercise list` installs the test runner into it")


def run() -> int:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    database_url = os.environ.get("DATABASE_URL", "postgres://127.0.0.1:5432/postgres")
    if database_url.startswith("sqlite"):
        database_url = "postgres://127.0.0.1:5432/postgres"
    rabbitmq_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
    results = checks(redis_url, database_url, rabbitmq_url)
    width = max(len(c.name) for c in results)
    for c in results:
        print(f"[{c.status:>4}] {c.name:<{width}}  {c.detail}")
        if c.fix:
            print(f"{'':>7} {'':<{width}}  fix: {c.fix}")
    failed = [c for c in results if c.status == FAIL]
    print("\nready." if not failed else f"\n{len(failed)} problem(s) to fix first.")
    return 1 if failed else 0
