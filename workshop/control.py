"""The instructor's remote control: `workshop ps|kill|freeze|thaw|restart|down` reach `up`.

`up` serves a tiny HTTP endpoint on 127.0.0.1 (a free port) that only answers a random token, and
writes its address and token to a state file in the stage's `var/` folder. The commands read
that file and ask `up`, which owns the processes: no PIDs to look up, and the same on Linux,
macOS and Windows. Standard library only: the commands work before any install.
"""

from __future__ import annotations

import contextlib
import hmac
import http.server
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workshop import stages

STATE_FILE = "workshop-up.json"
ACTIONS = ("kill", "freeze", "thaw", "restart")


def run_dir(stage: stages.Stage) -> Path:
    """Where a running stage keeps its state: its `var/` (WORKSHOP_RUN_DIR moves it, for tests)."""
    base = os.environ.get("WORKSHOP_RUN_DIR")
    return Path(base) / stage.name if base else stage.path / "var"


def state_path(stage: stages.Stage) -> Path:
    return run_dir(stage) / STATE_FILE


class Unreachable(RuntimeError):
    pass


@dataclass
class Handle:
    """A stage that `up` runs somewhere on this machine, as its state file describes it."""

    stage: stages.Stage
    state: dict

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 90) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.state["url"] + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.state['token']}",
                     "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise RuntimeError(detail) from None
        except (urllib.error.URLError, OSError) as exc:
            raise Unreachable(str(exc)) from None

    def answers(self) -> bool:
        try:
            self.call("GET", "/v1/ping", timeout=3)
        except (Unreachable, RuntimeError):
            return False
        return True

    def forget(self) -> None:
        """Remove the state file, if it is still this run's: the stage is fully stopped."""
        path = state_path(self.stage)
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text(encoding="utf-8")).get("token") == self.state["token"]:
                path.unlink()

    def leftovers(self) -> list:
        """Processes of this run still alive although its `up` is gone (it was killed itself)."""
        try:
            import psutil
        except ImportError:
            return []
        out = []
        for entry in self.state.get("children", {}).values():
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(entry["pid"])
                # The same process, not a newer one that reuses its PID.
                if abs(p.create_time() - entry["created"]) < 1 and p.is_running():
                    out.append(p)
        return out


def read(stage: stages.Stage) -> Handle | None:
    try:
        state = json.loads(state_path(stage).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Handle(stage, state)


def recorded() -> list[Handle]:
    """Every stage with a state file: running, or left behind by an `up` that was killed."""
    base = os.environ.get("WORKSHOP_RUN_DIR")
    if base:
        paths = sorted(Path(base).glob(f"*/{STATE_FILE}"))
    else:
        paths = [state_path(stages.load(name)) for name in stages.names()]
    out = []
    for path in paths:
        with contextlib.suppress(OSError, ValueError, KeyError, SystemExit):
            state = json.loads(path.read_text(encoding="utf-8"))
            out.append(Handle(stages.load(state["path"]), state))
    return out


def running_stages() -> list[Handle]:
    """Every stage whose `up` answers on this machine (from this clone)."""
    return [h for h in recorded() if h.answers()]


def _write_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    # Owner-only: the token lets anyone who reads it stop the stage.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


def _children(run) -> dict:
    out = {}
    for name, popen in run.children.items():
        entry = {"pid": popen.pid, "created": None}
        with contextlib.suppress(Exception):
            import psutil

            entry["created"] = psutil.Process(popen.pid).create_time()
        out[name] = entry
    return out


@contextlib.contextmanager
def serving(run, stop: threading.Event) -> Iterator[Handle]:
    """Answer the instructor's commands for `run` until the block ends; `down` sets `stop`."""
    from workshop.supervisor import Refused, StageFailed

    token = secrets.token_urlsafe(32)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            given = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return self._answer(403, {"error": "wrong or missing token"})
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            path = self.path.rstrip("/")
            try:
                if path == "/v1/ping":
                    return self._answer(200, {"stage": run.stage.name})
                if path == "/v1/ps":
                    return self._answer(200, {"stage": run.stage.name, "pid": os.getpid(),
                                              "phase": run.phase, "processes": run.status()})
                if path == "/v1/down" and self.command == "POST":
                    stop.set()
                    return self._answer(200, {"message": f"stopping {run.stage.name}"})
                action = path.removeprefix("/v1/")
                if action in ACTIONS and self.command == "POST":
                    process = body.get("process", "")
                    if action == "kill":
                        message = run.kill(process, stay_down=bool(body.get("stay_down")))
                    elif action == "freeze":
                        message = run.freeze(process)
                    elif action == "thaw":
                        message = run.thaw(process)
                    else:
                        message = run.restart_process(process)
                    return self._answer(200, {"message": message})
                return self._answer(404, {"error": f"no such command: {self.command} {path}"})
            except KeyError as exc:
                return self._answer(404, {"error": exc.args[0]})
            except Refused as exc:
                return self._answer(409, {"error": str(exc)})
            except StageFailed as exc:
                return self._answer(502, {"error": str(exc)})
            except Exception as exc:  # the instructor sees why, `up` keeps running
                return self._answer(500, {"error": f"{type(exc).__name__}: {exc}"})

        do_GET = do_POST = _handle  # noqa: N815 (http.server's naming)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="control", daemon=True)
    thread.start()
    path = state_path(run.stage)
    state = {
        "stage": run.stage.name,
        "path": str(run.stage.path),
        "pid": os.getpid(),
        "url": f"http://127.0.0.1:{server.server_address[1]}",
        "token": token,
        "ports": run.ports,
        "started": time.time(),
        "children": _children(run),
    }
    lock = threading.Lock()

    def refresh(_run) -> None:  # a restarted process has a new PID: `down` may need it
        with lock, contextlib.suppress(OSError):  # a reader holding the file (Windows)
            state["children"] = _children(run)
            _write_state(path, state)

    _write_state(path, state)
    run.on_spawn = refresh
    try:
        yield Handle(run.stage, state)
    finally:
        # The state file stays until the caller has stopped every process (Handle.forget):
        # `workshop down` waits for it to go.
        run.on_spawn = None
        server.shutdown()
        server.server_close()
