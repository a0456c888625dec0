"""Start a stage's processes, keep them running, and always stop them all.

Portable on purpose (Linux, macOS, Windows): every child gets its own process group, so a Ctrl-C in
the terminal reaches only us, and we stop the children ourselves: a polite signal to all of them
at once, one grace period for all, then a kill for whoever is left. Used by `workshop up` and by
the test harnesses, so the tests exercise the same start and stop code that attendees run.

Once the stage is healthy, a watcher notices a process that dies, says so in the log and, if the
manifest's `restart` policy asks for it, starts it again on the same port after a growing delay
(restarts off: the harness's default, `up` turns them on). The instructor's controls (`workshop
kill|freeze|thaw|restart`) are methods of the running stage, reached through `workshop.control`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from workshop.stages import Process, Stage

HEALTH_TIMEOUT = float(os.environ.get("WORKSHOP_HEALTH_TIMEOUT", "60"))
STOP_GRACE = 10.0  # for every process together, not each
STABLE_AFTER = 30.0  # a process that dies after running this long starts its backoff over
NAME_WIDTH = 13


def free_port() -> int:
    return distinct_free_ports(1)[0]


def distinct_free_ports(n: int) -> list[int]:
    """`n` different free ports. Asked one at a time, the kernel can hand out the same port twice
    (seen: a stage's monolith-grpc and orders-grpc both given one port; gRPC servers set
    SO_REUSEPORT, so both listened and each got half of the other's calls: UNIMPLEMENTED).
    Holding every socket open until all are chosen makes them distinct."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def port_is_free(port: int) -> bool:
    """Could a stage's server listen on 127.0.0.1:`port` now?

    Asked the way the servers bind: waitress, uvicorn and gRPC all set SO_REUSEADDR, so the
    connections a browser's keep-alives leave in TIME_WAIT after a stop do not keep them from
    listening again, and must not make us refuse a restart. Windows is different: there
    SO_REUSEADDR would even share a port that another program listens on, so a plain bind.
    """
    with socket.socket() as s:
        if os.name != "nt":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class StageFailed(RuntimeError):
    pass


class Cancelled(Exception):
    """A stop was asked for (Ctrl-C, a closed terminal, `workshop down`) before the stage was up."""


class Refused(RuntimeError):
    """An instructor's command that cannot apply now (e.g. thaw a process that is not frozen)."""


def command_line(args: list[str]) -> str:
    """A command as the attendee's shell would want it pasted."""
    return subprocess.list2cmdline(args) if os.name == "nt" else shlex.join(args)


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


def stage_env(stage: Stage, ports: dict[str, int], env: dict[str, str] | None = None) -> dict:
    """The environment every process of a running stage shares."""
    out = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(40),
        **stage.env,
        **(env or {}),
    }
    for name, port in ports.items():
        out[f"PORT_{name.upper()}"] = str(port)
    return out


def process_env(proc: Process, ports: dict[str, int], shared: dict[str, str]) -> dict[str, str]:
    """One process's environment: the stage's, plus what its manifest entry adds."""
    return {**shared, **_expand_env(proc.env, ports, shared)}


class Log:
    """The stage's log: one line at a time from many threads, each prefixed with who said it.

    Writing never raises: once the terminal is closed (SIGHUP) the stage must still stop cleanly,
    and a child whose output nobody drains would block on a full pipe.
    """

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self._lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        text = text if text.endswith("\n") else text + "\n"
        with self._lock, contextlib.suppress(OSError, ValueError):
            self.stream.write(f"{name:>{NAME_WIDTH}} | {text}")
            self.stream.flush()

    def say(self, text: str) -> None:
        self.line("workshop", text)


def _pump(stream: IO[bytes], name: str, log: Log) -> None:
    # One thread per child, like foreman/honcho: every line live, prefixed with the process name.
    for raw in iter(stream.readline, b""):
        log.line(name, raw.decode(errors="replace"))
    stream.close()


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


def _terminate(proc: subprocess.Popen) -> None:
    """The polite signal, to the child's whole process group."""
    if proc.poll() is not None:
        return
    if os.name == "nt":
        _resume(proc)  # a suspended process cannot run its Ctrl-Break handler
        with contextlib.suppress(OSError):
            proc.send_signal(signal.CTRL_BREAK_EVENT)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
        os.killpg(proc.pid, signal.SIGCONT)  # a frozen process handles SIGTERM once it runs


def _kill(proc: subprocess.Popen) -> None:
    """The forceful end, for the child and everything it started (kill -9, TerminateProcess)."""
    if proc.poll() is not None:
        return
    if os.name == "nt":
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _tree(proc: subprocess.Popen) -> list:
    import psutil  # installed with the workshop's run requirements; only freeze/thaw need it

    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _suspend(proc: subprocess.Popen) -> None:
    # psutil: SIGSTOP on Linux and macOS, NtSuspendProcess on Windows.
    import psutil

    tree = _tree(proc)
    for p in tree:
        with contextlib.suppress(psutil.Error):
            p.suspend()
    if os.name != "nt":  # a signal lands asynchronously: return once it has
        for p in tree:
            with contextlib.suppress(psutil.Error):
                wait_for(lambda p=p: p.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE),
                         timeout=5)


def _resume(proc: subprocess.Popen) -> None:
    try:
        tree = _tree(proc)
    except ImportError:
        return
    for p in tree:
        with contextlib.suppress(Exception):
            p.resume()


def stop_all(procs: list[subprocess.Popen], grace: float = STOP_GRACE) -> None:
    """Stop children and everything they started: all asked at once, one grace, then killed."""
    alive = [p for p in procs if p.poll() is None]
    for proc in alive:
        _terminate(proc)
    deadline = time.monotonic() + grace
    for proc in alive:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    for proc in alive:
        if proc.poll() is None:
            _kill(proc)
            proc.wait()


def stop(proc: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """Stop one child: polite first, then forceful."""
    stop_all([proc], grace)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """While we stop the stage, a second Ctrl-C (or the terminal closing) cannot cut it short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"):
        if hasattr(signal, name):
            sig = getattr(signal, name)
            with contextlib.suppress(ValueError, OSError):
                held[sig] = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in held.items():
            if handler is not None:
                signal.signal(sig, handler)


def _healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _grpc_healthy(port: int, timeout: float = 1.0) -> bool:
    """The standard grpc.health.v1 check, asked of the whole server ("")."""
    try:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
    except ImportError:  # a stage's gRPC needs are not installed here: is the port open?
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout):
            return True
        return False
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def _redis_healthy(port: int, timeout: float = 1.0) -> bool:
    """A Redis answers PING with +PONG (the protocol by hand: no client library needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed ({signal.Signals(-code).name})"
        return f"was killed (signal {-code})"
    return f"exited with code {code}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


@dataclass
class _Slot:
    """One process of the running stage, across its restarts."""

    proc: Process
    popen: subprocess.Popen | None = None
    # starting | running | frozen | restarting (waiting out a backoff) | down | stopping
    state: str = "starting"
    restarts: int = 0
    started: float = 0.0
    deaths_in_a_row: int = 0
    due: float | None = None  # when an automatic restart is due
    stay_down: bool = False  # `workshop kill --stay-down`: no automatic restart this time


class RunningStage:
    def __init__(
        self, stage: Stage, ports: dict[str, int], env: dict[str, str], log: Log, log_hint: str
    ):
        self.stage = stage
        self.ports = ports
        self.env = env
        self.log = log
        self.log_hint = log_hint
        self.restart = False
        self.phase = "starting"  # starting | up | stopping
        self.slots = {p.name: _Slot(p) for p in stage.processes}
        self.on_spawn: Callable[[RunningStage], None] | None = None  # e.g. `up`'s state file
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None
        self._threads: list[threading.Thread] = []

    # -- what callers read ----------------------------------------------------------------------
    @property
    def children(self) -> dict[str, subprocess.Popen]:
        """Each process's current OS process (a restart replaces it)."""
        return {name: s.popen for name, s in self.slots.items() if s.popen is not None}

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

    def healthy(self, name: str, timeout: float = 1.0) -> bool:
        proc = self.slots[name].proc
        if proc.health == "grpc":
            return _grpc_healthy(self.ports[name], timeout)
        if proc.health == "redis":
            return _redis_healthy(self.ports[name], timeout)
        return _healthy(self.url(name, proc.health), timeout)

    def status(self) -> list[dict]:
        """What `workshop ps` shows: one entry per process, health asked of all at once."""
        now = time.monotonic()
        with self._lock:
            rows = [
                {
                    "process": name,
                    "pid": s.popen.pid if s.popen is not None and s.popen.poll() is None else None,
                    "port": self.ports[name],
                    "state": s.state,
                    "restart": s.proc.restart,
                    "restarts": s.restarts,
                    "up": _duration(now - s.started) if s.state in ("running", "frozen") else "",
                }
                for name, s in self.slots.items()
            ]
        probes = {}
        for row in rows:
            if row["state"] == "running":
                probe = threading.Thread(
                    target=lambda r=row: r.update(health="ok" if self.healthy(r["process"], 0.5)
                                                  else "no answer"),
                    daemon=True,
                )
                probe.start()
                probes[row["process"]] = probe
            else:
                row["health"] = "-"
        for probe in probes.values():
            probe.join(2)
        return rows

    # -- start-up ---------------------------------------------------------------------------------
    def _slot(self, name: str) -> _Slot:
        if name not in self.slots:
            raise KeyError(
                f"{self.stage.name} has no process {name!r}; its processes: "
                f"{', '.join(self.slots)}"
            )
        return self.slots[name]

    def _start(self, slot: _Slot) -> None:
        with self._lock:
            if self._closing.is_set():
                raise Refused("the stage is stopping")
            proc = slot.proc
            slot.popen = _spawn(
                _expand(proc.command, self.ports, self.ports[proc.name]),
                self.stage.path / proc.cwd,
                process_env(proc, self.ports, self.env),
            )
            slot.started = time.monotonic()
            slot.state = "starting"
            pump = threading.Thread(
                target=_pump, args=(slot.popen.stdout, proc.name, self.log), daemon=True
            )
            pump.start()
            self._threads.append(pump)
        if self.on_spawn:
            self.on_spawn(self)

    def _setup(self, cancel: threading.Event | None) -> None:
        for proc in self.stage.processes:
            for step in proc.setup:
                cmd = _expand(step, self.ports)
                child = _spawn(
                    cmd, self.stage.path / proc.cwd, process_env(proc, self.ports, self.env)
                )
                pump = threading.Thread(
                    target=_pump, args=(child.stdout, proc.name, self.log), daemon=True
                )
                pump.start()
                try:
                    while child.poll() is None:
                        if cancel is not None and cancel.is_set():
                            raise Cancelled
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            child.wait(0.1)
                finally:
                    stop(child, grace=5)
                    pump.join(5)
                # A Ctrl-C that lands while a child starts can reach it before it has left our
                # process group: its death is then part of the stop, not a failure.
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                if child.returncode:
                    raise StageFailed(
                        f"{proc.name}: setup step failed with exit code {child.returncode}: "
                        f"{command_line(cmd)} (in {self.stage.path / proc.cwd}){self.log_hint}"
                    )

    def _wait_healthy(self, slot: _Slot, cancel: threading.Event | None = None) -> float:
        """Seconds until `slot`'s process answered its health check; raises if it never does."""
        proc, popen = slot.proc, slot.popen
        assert popen is not None
        if proc.health == "grpc":
            where = f"grpc://127.0.0.1:{self.ports[proc.name]} (grpc.health.v1)"
        elif proc.health == "redis":
            where = f"redis://127.0.0.1:{self.ports[proc.name]} (PING)"
        else:
            where = self.url(proc.name, proc.health)
        started = time.monotonic()
        deadline = started + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            if self._closing.is_set():
                raise Refused("the stage is stopping")
            if popen.poll() is not None:
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                raise StageFailed(
                    f"{proc.name} {_describe_exit(popen.returncode)} before it was healthy"
                    f"{self.log_hint}"
                )
            if self.healthy(proc.name):
                return time.monotonic() - started
            time.sleep(0.1)
        raise StageFailed(
            f"{proc.name} was not healthy at {where} within {HEALTH_TIMEOUT:.0f} s{self.log_hint}"
        )

    def _start_all(self, cancel: threading.Event | None) -> None:
        self._setup(cancel)
        for slot in self.slots.values():
            self._start(slot)
        for slot in self.slots.values():
            self._wait_healthy(slot, cancel)
            slot.state = "running"

    # -- after start-up: deaths, restarts and the instructor's controls ---------------------------
    def watch(self, restart: bool) -> None:
        self.restart = restart
        self._watcher = threading.Thread(target=self._watch, name="watcher", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._closing.wait(0.1):
            due = []
            with self._lock:
                for slot in self.slots.values():
                    if (
                        slot.state in ("starting", "running", "frozen")
                        and slot.popen is not None
                        and slot.popen.poll() is not None
                    ):
                        self._died(slot)
                    elif slot.state == "restarting" and time.monotonic() >= (slot.due or 0):
                        slot.due = None
                        due.append(slot)
            for slot in due:
                # Its own thread: waiting for one process's health must not blind the watcher.
                threading.Thread(target=self._respawn_quietly, args=(slot,), daemon=True).start()

    def _died(self, slot: _Slot) -> None:
        name, code = slot.proc.name, slot.popen.returncode
        ran = time.monotonic() - slot.started
        how = f"{name} {_describe_exit(code)} after {ran:.1f} s"
        again = f"`python3 -m workshop restart {name}` starts it again"
        if slot.stay_down:
            slot.state, slot.stay_down = "down", False
            self.log.say(f"{how}; it stays down (killed with --stay-down): {again}")
        elif not self.restart:
            slot.state = "down"
            self.log.say(f"{how}; it stays down (restarts are off here)")
        elif slot.proc.restart == "no":
            slot.state = "down"
            self.log.say(f'{how}; it stays down (restart = "no" in stage.toml): {again}')
        elif code == 0:
            slot.state = "down"
            self.log.say(f'{how}; a clean exit stays down (restart = "on-failure"): {again}')
        else:
            slot.deaths_in_a_row = 1 if ran >= STABLE_AFTER else slot.deaths_in_a_row + 1
            first, cap = slot.proc.restart_backoff
            delay = min(cap, first * 2 ** (slot.deaths_in_a_row - 1))
            slot.state, slot.due = "restarting", time.monotonic() + delay
            self.log.say(
                f'{how}; restart = "on-failure": starting it again in {delay:.1f} s '
                f"(death {slot.deaths_in_a_row} in a row)"
            )

    def _respawn(self, slot: _Slot, why: str) -> float:
        """Start `slot` again on its own port; returns seconds until it was healthy."""
        name = slot.proc.name
        with self._lock:
            slot.restarts += 1
            self._start(slot)
            pid = slot.popen.pid
        self.log.say(f"{name} started again{why} on port {self.ports[name]} (pid {pid}, "
                     f"restart {slot.restarts})")
        try:
            took = self._wait_healthy(slot)
        except StageFailed as exc:
            if slot.popen.poll() is None:  # a death is the watcher's to report (and to retry)
                self.log.say(str(exc))
            raise
        with self._lock:
            if slot.state == "starting":
                slot.state = "running"
        self.log.say(f"{name} is healthy again after {took:.1f} s")
        return took

    def _respawn_quietly(self, slot: _Slot) -> None:
        with contextlib.suppress(StageFailed, Refused):  # already in the log; policy applies
            self._respawn(slot, "")

    def kill(self, name: str, stay_down: bool = False) -> str:
        """What a crash looks like: the process tree killed outright, no clean shutdown."""
        with self._lock:
            slot = self._slot(name)
            if slot.state not in ("starting", "running", "frozen") or slot.popen.poll() is not None:
                raise Refused(f"{name} is not running (it is {slot.state})")
            slot.stay_down = stay_down
            pid = slot.popen.pid
            self.log.say(f"killing {name} (pid {pid}), as asked by `workshop kill`")
            _kill(slot.popen)
        slot.popen.wait(10)
        return f"killed {name} (pid {pid})"

    def freeze(self, name: str) -> str:
        """Stopped, not dead: it keeps its port and answers nothing (SIGSTOP on POSIX)."""
        with self._lock:
            slot = self._slot(name)
            if slot.state != "running":
                raise Refused(f"{name} is {slot.state}: only a running process can be frozen")
            _suspend(slot.popen)
            slot.state = "frozen"
        self.log.say(f"{name} frozen: it holds port {self.ports[name]} and answers nothing "
                     f"(`python3 -m workshop thaw {name}`)")
        return f"froze {name} (pid {slot.popen.pid})"

    def thaw(self, name: str) -> str:
        with self._lock:
            slot = self._slot(name)
            if slot.state != "frozen":
                raise Refused(f"{name} is {slot.state}, not frozen")
            _resume(slot.popen)
            slot.state = "running"
        self.log.say(f"{name} thawed")
        return f"thawed {name} (pid {slot.popen.pid})"

    def restart_process(self, name: str) -> str:
        """Stop `name` if it runs (frozen or not), start it on the same port, wait until healthy."""
        with self._lock:
            slot = self._slot(name)
            if slot.state == "stopping":
                raise Refused(f"{name} is already being restarted")
            old, slot.state, slot.due, slot.stay_down = slot.popen, "stopping", None, False
        self.log.say(f"restarting {name}, as asked by `workshop restart`")
        if old is not None:
            stop(old)
        slot.deaths_in_a_row = 0
        took = self._respawn(slot, " (workshop restart)")
        return f"{name} is back on port {self.ports[name]} (pid {slot.popen.pid}), " \
               f"healthy after {took:.1f} s"

    @contextlib.contextmanager
    def started(self, restart: bool = False, cancel: threading.Event | None = None):
        """Set up, start and wait for every process; stop them all when the block ends."""
        try:
            self._start_all(cancel)
            self.phase = "up"
            self.watch(restart)
            yield self
        finally:
            self.phase = "stopping"
            with _signals_held():
                self.close()

    def close(self) -> None:
        """Stop the watcher, then every process, all at once."""
        with self._lock:
            self._closing.set()
            for slot in self.slots.values():
                slot.state = "stopping"
            popens = [s.popen for s in self.slots.values() if s.popen is not None]
        if self._watcher is not None:
            self._watcher.join(5)
        stop_all(popens)
        for thread in self._threads:
            thread.join(timeout=2)


def prepare(
    stage: Stage,
    *,
    free_ports: bool = False,
    env: dict[str, str] | None = None,
    log: IO[str] | None = None,
    log_path: Path | None = None,
) -> RunningStage:
    """A stage ready to start: its ports chosen and checked, nothing started yet."""
    if free_ports:
        chosen = distinct_free_ports(len(stage.processes))
    else:
        chosen = [p.port for p in stage.processes]
    ports = {p.name: port for p, port in zip(stage.processes, chosen, strict=True)}
    taken = [f"{name} ({port})" for name, port in ports.items() if not port_is_free(port)]
    if taken:
        raise StageFailed(
            f"port already in use: {', '.join(taken)}; `python3 -m workshop doctor` names what "
            "holds it, `python3 -m workshop down` stops a stage started in another terminal, "
            "`up --free-ports` takes other ports"
        )
    log_hint = f"; see {log_path}" if log_path else ""
    return RunningStage(stage, ports, stage_env(stage, ports, env), Log(log or sys.stdout),
                        log_hint)


@contextlib.contextmanager
def running(
    stage: Stage,
    *,
    free_ports: bool = False,
    env: dict[str, str] | None = None,
    log: IO[str] | None = None,
    log_path: Path | None = None,
    restart: bool = False,
    cancel: threading.Event | None = None,
) -> Iterator[RunningStage]:
    """Run `stage` for the duration of the block; every child is stopped on the way out.

    restart: apply each process's `restart` policy from stage.toml when it dies (`up` does);
    off, a death is logged and the process stays down, which is what most tests want.
    cancel: an event that, once set, stops a start-up still in progress (raises Cancelled).
    """
    run = prepare(stage, free_ports=free_ports, env=env, log=log, log_path=log_path)
    with run.started(restart=restart, cancel=cancel):
        yield run


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` passes: wait on a condition, not a clock."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
