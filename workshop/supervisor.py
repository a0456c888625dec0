"""Start a stage's processes, wait until each is healthy, and always stop them all.

Portable on purpose (Linux, macOS, Windows): every child gets its own process group, so a Ctrl-C in
the terminal reaches only us, and we stop the children in order: a polite signal first, a kill after
a grace period. Used by `workshop up` and by the test harnesses, so the tests exercise the same
start and stop code that attendees run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from workshop.stages import Process, Stage

HEALTH_TIMEOUT = float(os.environ.get("WORKSHOP_HEALTH_TIMEOUT", "60"))
STOP_GRACE = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class StageFailed(RuntimeError):
    pass


@dataclass
class RunningStage:
    stage: Stage
    ports: dict[str, int]
    env: dict[str, str]
    children: dict[str, subprocess.Popen] = field(default_factory=dict)

    def url(self, process: str, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[process]}{path}"

    @property
    def front_door_url(self) -> str:
        return self.url(self.stage.front_door, "")

    def named_urls(self) -> dict[str, str]:
        """The manifest's `urls` ("web:/admin/") resolved to real addresses."""
        out = {}
        for label, target in self.stage.urls.items():
            process, path = target.split(":", 1)
            out[label] = self.url(process, path)
        return out

    def dead(self) -> list[str]:
        return [name for name, p in self.children.items() if p.poll() is not None]


def _expand(args: list[str], ports: dict[str, int], port: int | None = None) -> list[str]:
    return [a.format(python=sys.executable, port=port, ports=ports) for a in args]


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""  # an unset variable expands to "", which settings read as "use the default"


def _expand_env(
    env: dict[str, str], ports: dict[str, int], outer: dict[str, str] | None = None
) -> dict[str, str]:
    # Lets a manifest say where a neighbour listens ("http://127.0.0.1:{ports[orders]}"), which
    # stays right when the harness picks free ports: discovery by name, not by a fixed number.
    # {env[NAME]} passes on a variable of the stage's environment under another name: with a
    # database per service, each process gets its own DATABASE_URL.
    blank = _Blank(outer or {})
    return {key: value.format(ports=ports, env=blank) for key, value in env.items()}


def _pump(stream: IO[bytes], name: str, sink: IO[str]) -> None:
    # One thread per child: prefix each line with the process name, like foreman/honcho.
    for raw in iter(stream.readline, b""):
        sink.write(f"{name:>13} | {raw.decode(errors='replace')}")
        sink.flush()


def _spawn(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    kwargs: dict = {}
    if os.name == "nt":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def stop(proc: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """Stop a child and everything it started: polite first, then forceful."""
    if proc.poll() is not None:
        return
    if os.name == "nt":
        proc.send_signal(signal.CTRL_BREAK_EVENT)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        if os.name == "nt":
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError):
        return False


def _grpc_healthy(port: int) -> bool:
    """The standard grpc.health.v1 check, asked of the whole server ("")."""
    try:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
    except ImportError:  # a stage's gRPC needs are not installed here: is the port open?
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        return False
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=1
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def _wait_healthy(run: RunningStage, proc: Process, log_hint: str) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    if proc.health == "grpc":
        url = f"grpc://127.0.0.1:{run.ports[proc.name]} (grpc.health.v1)"
        healthy = functools.partial(_grpc_healthy, run.ports[proc.name])
    else:
        url = run.url(proc.name, proc.health)
        healthy = functools.partial(_healthy, url)
    while time.monotonic() < deadline:
        if run.children[proc.name].poll() is not None:
            raise StageFailed(
                f"{proc.name} exited with code {run.children[proc.name].returncode} "
                f"before it was healthy{log_hint}"
            )
        if healthy():
            return
        time.sleep(0.1)
    raise StageFailed(
        f"{proc.name} was not healthy at {url} within {HEALTH_TIMEOUT:.0f} s{log_hint}"
    )


@contextlib.contextmanager
def running(
    stage: Stage,
    *,
    free_ports: bool = False,
    env: dict[str, str] | None = None,
    log: IO[str] | None = None,
    log_path: Path | None = None,
) -> Iterator[RunningStage]:
    """Run `stage` for the duration of the block; every child is stopped on the way out."""
    ports = {p.name: (free_port() if free_ports else p.port) for p in stage.processes}
    taken = [f"{name} ({port})" for name, port in ports.items() if not port_is_free(port)]
    if taken:
        raise StageFailed(
            f"port already in use: {', '.join(taken)}; stop what listens there "
            "(`python3 -m workshop doctor` names it) and try again"
        )
    child_env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(40),
        **stage.env,
        **(env or {}),
    }
    for name, port in ports.items():
        child_env[f"PORT_{name.upper()}"] = str(port)
    sink = log or sys.stdout
    log_hint = f"; see {log_path}" if log_path else ""
    run = RunningStage(stage=stage, ports=ports, env=child_env)
    pumps = []
    try:
        for proc in stage.processes:
            for step in proc.setup:
                result = subprocess.run(
                    _expand(step, ports),
                    cwd=stage.path / proc.cwd,
                    env={**child_env, **_expand_env(proc.env, ports, child_env)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                sink.write(result.stdout.decode(errors="replace"))
                if result.returncode:
                    raise StageFailed(f"{proc.name}: setup step {' '.join(step)} failed{log_hint}")
        for proc in stage.processes:
            child = _spawn(
                _expand(proc.command, ports, ports[proc.name]),
                stage.path / proc.cwd,
                {**child_env, **_expand_env(proc.env, ports, child_env)},
            )
            run.children[proc.name] = child
            pump = threading.Thread(target=_pump, args=(child.stdout, proc.name, sink), daemon=True)
            pump.start()
            pumps.append(pump)
        for proc in stage.processes:
            _wait_healthy(run, proc, log_hint)
        yield run
    finally:
        for child in reversed(list(run.children.values())):
            stop(child)
        for pump in pumps:
            pump.join(timeout=2)
