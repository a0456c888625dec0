"""start / check / hint / solve / reset, run as an attendee runs them: from the `.venv` that the
workshop's own bootstrap makes (the one `up` makes), not from tox's env, in a child process.

The venv is kept between runs (in .tox/, git-ignored): its stamps make a second bootstrap a
no-op, so only the first run pays for the install (uv, when on PATH, makes it quick).
"""

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from workshop import ROOT, bootstrap, doctor, exercise

ATTENDEE_VENV = ROOT / ".tox" / "attendee-venv"


def attendee_env(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORKSHOP_NO_VENV", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}
    env.update(WORKSHOP_VENV=str(ATTENDEE_VENV), WORKSHOP_EXERCISE_WORKDIR=str(workdir))
    # uv installs the pins several times faster than pip; the bootstrap uses it when on PATH.
    uv = shutil.which("uv") or next(
        (str(p) for p in (Path(sys.executable).parent / "uv", ROOT / ".venv" / "bin" / "uv")
         if p.exists()), None)
    if uv:
        env["PATH"] = f"{Path(uv).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def attendee(tmp_path_factory):
    """Run `python3 -m workshop ...` as an attendee does, once `up` has made .venv."""
    workdir = tmp_path_factory.mktemp("exercises")
    env = attendee_env(workdir)
    # What `up` does first: the bootstrap makes .venv with the run requirements.
    made = subprocess.run(
        [sys.executable, "-c", "from workshop import bootstrap; bootstrap.ensure('run')"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr

    def run(*args, timeout=600):
        return subprocess.run([sys.executable, "-m", "workshop", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)

    run.workdir = workdir
    return run


def test_the_loop_from_the_attendee_s_venv(attendee):
    listed = attendee("exercise", "list")  # the first `exercise` command adds pytest & co
    assert listed.returncode == 0 and "01.2" in listed.stdout, listed.stdout + listed.stderr

    started = attendee("exercise", "start", "01.2")
    assert started.returncode == 0, started.stderr
    copy = attendee.workdir / "01-strangler--02-shadow-compare"
    shadow = copy / "facade" / "facade" / "shadow.py"
    assert "TODO" in shadow.read_text()
    # the pristine stage is untouched
    assert "TODO" not in (ROOT / "01-strangler" / "facade" / "facade" / "shadow.py").read_text()

    unsolved = attendee("exercise", "check", "01.2")
    assert unsolved.returncode == 1, unsolved.stdout + unsolved.stderr
    assert " of 13 checks pass" in unsolved.stdout, unsolved.stdout
    assert "✗ test_a_different_status_is_a_mismatch" in unsolved.stdout  # names the failures
    assert "hint" in unsolved.stdout

    hint = attendee("exercise", "hint", "01.2")
    assert hint.returncode == 0 and hint.stdout.startswith("Hint 1 of 3")
    assert attendee("exercise", "hint", "01.2").stdout.startswith("Hint 2 of 3")

    # A second start keeps the attendee's work, unless asked to start over.
    shadow.write_text(shadow.read_text() + "\n# my work\n")
    again = attendee("exercise", "start", "01.2")
    assert again.returncode == 1 and "already started" in again.stderr
    assert "--force" in again.stderr and "# my work" in shadow.read_text()

    # An error that stops the checks from running is shown, not "0 of 0 checks pass".
    shadow.write_text("def compare(:\n")
    broken = attendee("exercise", "check", "01.2")
    assert broken.returncode == 1
    assert "could not run" in broken.stdout and "SyntaxError" in broken.stdout, broken.stdout
    assert "0 of 0" not in broken.stdout

    assert attendee("exercise", "solve", "01.2").returncode == 0
    solved = attendee("exercise", "check", "01.2")
    assert solved.returncode == 0, solved.stdout
    assert "13 of 13 checks pass" in solved.stdout and "Done!" in solved.stdout

    forced = attendee("exercise", "start", "01.2", "--force")
    assert forced.returncode == 0 and "# my work" not in shadow.read_text()
    assert attendee("exercise", "solve", "01.2").returncode == 0
    assert attendee("exercise", "reset", "01.2").returncode == 0
    assert "TODO" in shadow.read_text()
    assert attendee("exercise", "check", "01.2").returncode == 1

    checked = attendee("doctor")
    assert "[  ok] exercise checks" in checked.stdout, checked.stdout


def test_doctor_says_when_exercise_checks_cannot_run(tmp_path, monkeypatch):
    bare = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(bare)  # a .venv without the test runner
    monkeypatch.setattr(bootstrap, "VENV", bare)
    check = doctor.exercise_checks()
    assert check.status == doctor.WARN and "No module named 'pytest'" in check.detail
    assert "exercise list" in check.fix
    monkeypatch.setattr(bootstrap, "VENV", tmp_path / "absent")
    assert doctor.exercise_checks().status == doctor.WARN


def test_every_exercise_says_what_it_guarantees_and_keeps_wrong_solutions():
    exercises = exercise.all_exercises()
    assert len(exercises) >= 9
    for ex in exercises:
        for rel, path in ex.solution_files():
            assert path.exists(), f"{ex.id}: no solution for {rel}"
        assert 10 <= ex.minutes <= 30, ex.id
        readme = (ex.path / "README.md").read_text()
        for part in (
            "**Goal:**",
            "## What the lesson guarantees",
            "## What's provided for you",
            "## Steps",
            "### Hint 1",
            "## Done when",
        ):
            assert part in readme, f"{ex.id}: README lacks {part}"
        wrongs = ex.wrong_solutions()
        assert len(wrongs) >= 3, f"{ex.id}: {len(wrongs)} wrong solutions"
        for wrong in wrongs:
            assert len((wrong / "NOTE").read_text().strip().splitlines()) == 1, wrong


def test_an_unknown_exercise_is_a_clear_error(tmp_path):
    env = {**os.environ, "WORKSHOP_NO_VENV": "1", "WORKSHOP_EXERCISE_WORKDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "workshop", "exercise", "start", "99.9"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "no exercise '99.9'" in result.stderr
