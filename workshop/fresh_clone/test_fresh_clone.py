"""From a fresh clone with nothing but python3 to a healthy stage, as an attendee would.

Clones the repo's committed HEAD (uncommitted edits are not in a clone: commit first), runs the
README's run command with the interpreter tox itself was made from, and prints the figures the
README promises: seconds from clone to healthy, and the running stage's resident memory.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from workshop import ROOT

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX process groups")


def base_python() -> str:
    # Not the tox env's interpreter: the plain python3 an attendee has.
    name = "python.exe" if os.name == "nt" else "python3"
    candidate = Path(sys.base_prefix) / ("" if os.name == "nt" else "bin") / name
    return str(candidate if candidate.exists() else sys.executable)


def test_a_fresh_clone_comes_up_with_python3_alone(tmp_path):
    started = time.monotonic()
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"WORKSHOP_NO_VENV", "PYTHONPATH", "VIRTUAL_ENV", "WORKSHOP_VENV"}
    }
    proc = subprocess.Popen(
        [base_python(), "-m", "workshop", "up", "--free-ports"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        out = "".join(lines)
        assert "Press Ctrl-C to stop." in out, out
        healthy_after = time.monotonic() - started
        stage = [p for p in psutil.Process(proc.pid).children(recursive=True)]
        rss = sum(p.memory_info().rss for p in stage)
        assert (clone / ".venv").is_dir(), "the run command did not make its own .venv"
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, rest
        assert not [p for p in stage if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        print(
            f"\nfresh clone -> healthy stage: {healthy_after:.1f} s; "
            f"stage resident memory: {rss / 2**20:.0f} MiB in {len(stage)} process(es)"
        )
        # A second start reuses .venv: no install, just migrate + seed + start.
        again = time.monotonic()
        proc = subprocess.Popen(
            [base_python(), "-m", "workshop", "up", "--free-ports"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for line in proc.stdout:
            assert "installing" not in line, "second run reinstalled"
            if "Press Ctrl-C to stop." in line:
                break
        print(f"second start (warm .venv): {time.monotonic() - again:.1f} s")
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
