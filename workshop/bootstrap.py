"""First-use setup: make `.venv`, install what a command needs, then re-run the command inside it.

Standard library only: this is what runs on a fresh clone with nothing but python3.
A stamp per requirement set (a hash of the requirement files and the constraints) means a second
run installs nothing, and a changed pin reinstalls on the next run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

from workshop import MIN_PYTHON, ROOT

VENV = Path(os.environ.get("WORKSHOP_VENV", ROOT / ".venv"))
REQUIREMENTS = ROOT / "workshop" / "requirements"
CONSTRAINTS = ROOT / "constraints.txt"


def venv_python(venv_dir: Path | None = None) -> Path:
    venv_dir = venv_dir or VENV
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def in_workshop_venv() -> bool:
    # WORKSHOP_NO_VENV lets tox (which already built an env with the right packages) skip .venv.
    if os.environ.get("WORKSHOP_NO_VENV"):
        return True
    return Path(sys.prefix).resolve() == VENV.resolve()


def _requirement_files(name: str) -> list[Path]:
    """The set's file and every file it pulls in with -r, so editing any of them reinstalls."""
    seen: list[Path] = []
    todo = [REQUIREMENTS / f"{name}.txt"]
    while todo:
        path = todo.pop().resolve()
        if path in seen:
            continue
        seen.append(path)
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("-r"):
                todo.append(path.parent / line[2:].strip())
    return seen


def _stamp(name: str) -> str:
    digest = hashlib.sha256()
    for path in [CONSTRAINTS, *_requirement_files(name)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure(name: str) -> bool:
    """Make .venv hold requirement set `name`; returns True when it had to install."""
    stamp_file = VENV / f".workshop-{name}.sha256"
    wanted = _stamp(name)
    if stamp_file.exists() and stamp_file.read_text() == wanted and venv_python().exists():
        return False
    if not venv_python().exists():
        print(f"workshop: creating the virtual environment in {VENV} (first run only)", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"workshop: installing the {name!r} requirements (pinned by constraints.txt)", flush=True)
    # uv, when the machine has it, installs the same pins several times faster than pip.
    uv = shutil.which("uv")
    if uv:
        installer = [uv, "pip", "install", "--compile-bytecode", "--python", str(venv_python())]
    else:
        installer = [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run(
        [*installer, "-q", "-r", str(REQUIREMENTS / f"{name}.txt"), "-c", str(CONSTRAINTS)],
        check=True,
    )
    stamp_file.write_text(wanted)
    return True


def reexec_in_venv(requirement_set: str, argv: list[str]) -> int:
    """Install if needed, then run `python -m workshop argv...` with the venv's interpreter."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(
            f"workshop: Python {'.'.join(map(str, MIN_PYTHON))}+ is needed, "
            f"this is {sys.version.split()[0]}"
        )
    ensure(requirement_set)
    cmd = [str(venv_python()), "-m", "workshop", *argv]
    if os.name != "nt":
        # Replace this process: Ctrl-C and signals reach the real command with no middleman.
        os.chdir(ROOT)
        os.execv(cmd[0], cmd)
    # Windows has no real exec: wait for the child, and let it alone handle Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return subprocess.call(cmd, cwd=ROOT)
