import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from workshop import ROOT, stages

FAKE_STAGE = Path(__file__).parent / "fake_stage"
# Every process a test starts inherits this variable: after the test, any process still carrying
# its value was left behind, whoever started it (a child, a setup step, a grandchild).
MARK = "WORKSHOP_TEST_RUN"


@pytest.fixture
def run_workshop():
    """Run `python -m workshop ...` the way an attendee does, in a child process."""

    def run(*args, env=None, timeout=60):
        return subprocess.run(
            [sys.executable, "-m", "workshop", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
        )

    return run


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def leftovers(mark: str) -> list[psutil.Process]:
    """Live processes (not zombies) started under `mark`."""
    out = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(MARK) == mark \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except (psutil.Error, OSError):
            pass
    return out


def kill_leftovers(mark: str) -> None:
    for proc in leftovers(mark):
        with contextlib.suppress(psutil.Error):
            proc.kill()


class Up:
    """`python3 -m workshop up ...` in a child process, as an attendee's terminal runs it.

    Its own session (Ctrl-C is a SIGINT to that process group), its own state folder
    (WORKSHOP_RUN_DIR) and throwaway databases, and a mark on every process it starts.
    """

    def __init__(self, tmp: Path, *args: str, env: dict | None = None, free_ports=True):
        self.mark = uuid.uuid4().hex
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "WORKSHOP_NO_VENV": "1",
            "WORKSHOP_RUN_DIR": str(tmp / "run"),
            "DATABASE_URL": f"sqlite:///{(tmp / 'db.sqlite3').as_posix()}",
            "ORDERS_DATABASE_URL": f"sqlite:///{(tmp / 'orders.sqlite3').as_posix()}",
            "EMAIL_FILE_PATH": str(tmp / "mail"),
            MARK: self.mark,
            **(env or {}),
        }
        cmd = [sys.executable, "-m", "workshop", "up", *args]
        own_group = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt"
                     else {"start_new_session": True})
        self.proc = subprocess.Popen(
            cmd + (["--free-ports"] if free_ports else []),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **own_group,
        )
        self.lines: list[str] = []
        self.seen: list[tuple[float, str]] = []  # (time.monotonic() it arrived, line)
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.seen.append((time.monotonic(), line))
            self._queue.put(line)
        self._queue.put(None)

    def when(self, pattern: str, after: float = 0.0) -> float | None:
        """When the first line matching `pattern` arrived after `after` (None: not yet)."""
        return next((t for t, line in list(self.seen) if t >= after and re.search(pattern, line)),
                    None)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 180) -> re.Match:
        """Read the output until a line matches `pattern` (a regex); fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout:.0f} s:\n{self.output}"
                ) from None
            if line is None:
                self._queue.put(None)
                raise AssertionError(f"`up` ended before {pattern!r}:\n{self.output}")
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def ready(self, timeout: float = 240) -> dict[str, str]:
        """Wait until the stage is up; the URLs it printed, by label."""
        self.wait_for(r"Press Ctrl-C to stop\.", timeout)
        return dict(re.findall(r"^  (\S[^\n]*?)\s{2,}(http://\S+)$", self.output, re.M))

    def workshop(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Another `python3 -m workshop` command, as from a second terminal."""
        return subprocess.run(
            [sys.executable, "-m", "workshop", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def signal(self, sig=signal.SIGINT) -> None:
        """What the terminal does on Ctrl-C (SIGINT) or when it closes (SIGHUP)."""
        os.killpg(self.proc.pid, sig)

    def finish(self, timeout: float = 60) -> int:
        """Wait for `up` to exit; reads the rest of its output; its exit code."""
        code = self.proc.wait(timeout)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)
                break
            self.lines.append(line)
        return code

    def left_behind(self) -> list[psutil.Process]:
        return leftovers(self.mark)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            if os.name == "nt":
                self.proc.kill()
            else:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        kill_leftovers(self.mark)


@pytest.fixture
def up(tmp_path):
    """up(*args, env=...) -> Up; everything it started is gone after the test, pass or fail."""
    started: list[Up] = []

    def start(*args, env=None, free_ports=True) -> Up:
        handle = Up(tmp_path / f"up{len(started)}", *args, env=env, free_ports=free_ports)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.cleanup()


@pytest.fixture
def fake_stage(tmp_path):
    """make(**changes) -> a copy of the tiny stand-in stage; changes edit its stage.toml text."""

    def make(replace: dict[str, str] | None = None, name="fake") -> Path:
        path = tmp_path / name
        shutil.copytree(FAKE_STAGE, path)
        manifest = path / "stage.toml"
        text = manifest.read_text()
        for old, new in (replace or {}).items():
            assert old in text, f"{old!r} is not in the fake stage.toml"
            text = text.replace(old, new)
        manifest.write_text(text)
        return path

    return make



@pytest.fixture(scope="session")
def stage_up(tmp_path_factory):
    """stage_up("01-strangler") -> Up: one running stage per session, shared by the tests that
    need a real one; at the end each is stopped as an attendee would and must leave nothing.

    Stage 01 runs with every canary weight at 100 (orders fully on the new service).
    """
    started: dict[str, Up] = {}

    def start(name: str) -> None:
        tmp = tmp_path_factory.mktemp(f"stage-{name}")
        env = {}
        if name == "01-strangler":
            table = (ROOT / name / "facade" / "routes.toml").read_text()
            routes = tmp / "routes.toml"
            routes.write_text(re.sub(r"(?m)^weight\s*=\s*\d+", "weight = 100", table))
            env = {"FACADE_ROUTES": str(routes), "FACADE_RELOAD_INTERVAL": "0.2"}
        started[name] = Up(tmp, name, env=env)

    def get(name: str) -> Up:
        if not started:  # all at once: their start-ups overlap instead of adding up
            for each in stages.names():
                start(each)
        handle = started[name]
        if not hasattr(handle, "urls"):
            handle.urls = handle.ready()
        return handle

    yield get
    problems = []
    for name, handle in started.items():
        try:
            # The latest stage is stopped from "another terminal", the others by Ctrl-C.
            if name == stages.names()[-1] or os.name == "nt":
                down = handle.workshop("down", name)
                if down.returncode != 0:
                    problems.append(f"`down {name}`: {down.stdout}{down.stderr}")
            else:
                handle.signal(signal.SIGINT)
            code = handle.finish(60)
            if code != 0 or "every process stopped" not in handle.output:
                problems.append(f"{name} stopped with {code}:\n{handle.output[-3000:]}")
            if "Traceback" in handle.output:
                problems.append(f"{name}: a traceback in its output:\n{handle.output[-3000:]}")
            left = handle.left_behind()
            if left:
                problems.append(f"{name} left processes behind: {left}")
        finally:
            handle.cleanup()
    assert not problems, "\n".join(problems)
