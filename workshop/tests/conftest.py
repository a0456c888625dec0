import os
import subprocess
import sys

import pytest

from workshop import ROOT


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
