"""Real processes, real sockets: the facade and small aiohttp upstreams.

Nothing is mocked: every test talks HTTP to a facade subprocess (`python -m facade`, as the
stage runs it), which talks HTTP to upstream subprocesses (tests/upstream.py). Every process a
fixture starts is stopped in a `finally`, also when the test fails.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

FACADE_DIR = Path(__file__).resolve().parent.parent
UPSTREAM_SCRIPT = Path(__file__).resolve().parent / "upstream.py"

# JSON the shadow tests compare: the same order as the old and the new side would render it.
SHADOW_FIXTURES = {
    "monolith": {
        "/api/v1/orders/same": {"id": 1, "total": "10.00", "items": [{"sku": "A", "qty": 1}]},
        "/api/v1/orders/ignored": {
            "id": 1,
            "total": "10.00",
            "created_at": "2024-01-01T00:00:00Z",
            "items": [{"sku": "A", "qty": 1, "created_at": "2024-01-01T00:00:00Z"}],
        },
        "/api/v1/orders/differs": {"id": 1, "total": "10.00", "status": "paid"},
    },
    "orders": {
        "/api/v1/orders/same": {"id": 1, "total": "10.00", "items": [{"sku": "A", "qty": 1}]},
        "/api/v1/orders/ignored": {
            "id": 501,
            "total": "10.00",
            "created_at": "2025-06-01T12:00:00Z",
            "items": [{"sku": "A", "qty": 1, "created_at": "2025-06-01T12:00:00Z"}],
        },
        "/api/v1/orders/differs": {"id": 1, "total": "12.00", "status": "paid"},
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Upstream:
    name: str
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=5)


def start_upstream(name: str, fixtures: dict | None = None) -> Upstream:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(UPSTREAM_SCRIPT), "--name", name, "--port", str(port),
         "--fixtures", json.dumps(fixtures or {})],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: proc.poll() is not None or _port_open(port), 10, f"upstream {name}")
        assert proc.poll() is None, f"upstream {name} exited with {proc.returncode}"
    except BaseException:
        stop(proc)
        raise
    return Upstream(name, port, proc)


@pytest.fixture(scope="session")
def upstreams() -> Iterator[dict[str, Upstream]]:
    """The old side ("monolith") and the new side ("orders"), shared by the whole run."""
    started: dict[str, Upstream] = {}
    try:
        for name in ("monolith", "orders"):
            started[name] = start_upstream(name, SHADOW_FIXTURES[name])
        yield started
    finally:
        for upstream in started.values():
            stop(upstream.proc)


@pytest.fixture
def spawn_upstream() -> Iterator[Callable[..., Upstream]]:
    """Start an extra upstream for one test (e.g. to kill it); stopped after the test."""
    started: list[Upstream] = []

    def spawn(name: str, fixtures: dict | None = None) -> Upstream:
        upstream = start_upstream(name, fixtures)
        started.append(upstream)
        return upstream

    try:
        yield spawn
    finally:
        for upstream in started:
            stop(upstream.proc)


def table(upstreams: dict[str, str], routes: str) -> str:
    """A routing table: [upstreams] from a dict, then the [[routes]] text as written."""
    lines = ["[upstreams]"] + [f'{name} = "{url}"' for name, url in upstreams.items()]
    return "\n".join(lines) + "\n\n" + routes


@dataclass
class FacadeProc:
    port: int
    routes_path: Path
    log_path: Path
    proc: subprocess.Popen
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=15, follow_redirects=False)
        return self._client

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def routes(self) -> dict:
        return self.client.get("/-/routes").json()

    def rewrite(self, text: str) -> None:
        """Edit the table in place, like an instructor saving the file in an editor."""
        before = self.routes_path.stat().st_mtime_ns
        self.routes_path.write_text(text)
        if self.routes_path.stat().st_mtime_ns == before:  # coarse clocks: force a new mtime
            os.utime(self.routes_path, ns=(before + 1_000_000, before + 1_000_000))

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample in /-/metrics (0 when the series does not exist yet)."""
        text = self.client.get("/-/metrics").text
        for line in text.splitlines():
            match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
            if not match or match.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(match.group(3))
        return 0.0

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        stop(self.proc)


def start_facade(tmp_path: Path, routes: str, **env: str) -> FacadeProc:
    port = free_port()
    routes_path = tmp_path / f"routes-{port}.toml"
    routes_path.write_text(routes)
    log_path = tmp_path / f"facade-{port}.log"
    environment = {
        **os.environ,
        "FACADE_ROUTES": str(routes_path),
        "FACADE_RELOAD_INTERVAL": "0.1",  # the default 0.5 s works too; tests are impatient
        # The routing tests (stages 01-03) run the facade without the gateway's checks; the
        # gateway's tests (test_gateway*.py) turn them on with a provider and a Redis.
        "GATEWAY_AUTH": "off",
        **env,
    }
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "facade", "--host", "127.0.0.1", "--port", str(port)],
            cwd=FACADE_DIR,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    facade = FacadeProc(port, routes_path, log_path, proc)
    try:
        wait_until(lambda: proc.poll() is not None or _port_open(port), 15, "the facade")
        assert proc.poll() is None, f"the facade exited:\n{facade.log()}"
    except BaseException:
        facade.close()
        raise
    return facade


@pytest.fixture
def facade_factory(tmp_path: Path) -> Iterator[Callable[..., FacadeProc]]:
    """Start a facade with a given table (and env) for one test; stopped after it."""
    started: list[FacadeProc] = []

    def start(routes: str, **env: str) -> FacadeProc:
        facade = start_facade(tmp_path, routes, **env)
        started.append(facade)
        return facade

    try:
        yield start
    finally:
        for facade in started:
            facade.close()
