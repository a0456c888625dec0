"""`workshop up` brings a stage up, and Ctrl-C leaves no process behind.

This drives the real command in a child process, as an attendee's terminal would: the process gets
its own session, and Ctrl-C is a SIGINT to that whole process group.
"""

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from workshop import ROOT

pytestmark = pytest.mark.skipif(
    os.name == "nt",
    reason="POSIX signals; Windows CI runs `up` via "
    "the acceptance harness, which uses the same supervisor",
)


def _start_up(tmp_path, *args):
    env = {
        **os.environ,
        "WORKSHOP_NO_VENV": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "ORDERS_DATABASE_URL": f"sqlite:///{tmp_path}/orders.sqlite3",  # stage 02 on
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "workshop", "up", *args, "--free-ports"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _read_until_ready(proc, timeout=90):
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C to stop." in line:
            return "".join(lines)
    proc.kill()
    raise AssertionError("the stage never said it was up:\n" + "".join(lines))


# 02: five processes, two of them gRPC servers, each must stop on the same Ctrl-C.
@pytest.mark.parametrize("stage", ["00-monolith", "02-extract-orders"])
def test_up_serves_every_url_it_prints_and_ctrl_c_stops_every_process(tmp_path, stage):
    proc = _start_up(tmp_path, stage)
    try:
        out = _read_until_ready(proc)
        urls = dict(re.findall(r"^  (\S[^\n]*?)\s{2,}(http://\S+)$", out, re.M))
        assert {"storefront", "API docs", "admin"} <= set(urls), out
        assert "admin / workshop-admin" in out
        for label, url in urls.items():
            resp = httpx.get(url, follow_redirects=True, timeout=10)
            assert resp.status_code == 200, (label, url, resp.status_code)
        assert "swagger" in httpx.get(urls["API docs"]).text.lower()

        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "up started no process"
        port = int(urls["storefront"].rsplit(":", 1)[1].split("/")[0])

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, rest
        assert "every process stopped" in rest
        alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"left behind: {alive}"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_process_that_dies_takes_the_stage_down_cleanly(tmp_path):
    proc = _start_up(tmp_path, "00")
    try:
        _read_until_ready(proc)
        children = psutil.Process(proc.pid).children(recursive=True)
        children[0].kill()
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 1
        assert "exited; stopping the stage" in rest
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_ctrl_c_during_start_up_also_stops_cleanly(tmp_path):
    """An attendee who presses Ctrl-C while the stage is still migrating or starting."""
    proc = _start_up(tmp_path, "00")
    try:
        first = proc.stdout.readline()
        assert "starting 00-monolith" in first
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, rest
        assert "every process stopped" in rest
        assert "Traceback" not in rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
