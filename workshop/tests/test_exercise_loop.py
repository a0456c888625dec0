"""start / check / hint / solve / reset, run as an attendee runs them, in a child process."""

import os
import subprocess
import sys

from workshop import ROOT, exercise


def run(workdir, *args):
    env = {**os.environ, "WORKSHOP_NO_VENV": "1", "WORKSHOP_EXERCISE_WORKDIR": str(workdir)}
    return subprocess.run(
        [sys.executable, "-m", "workshop", "exercise", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_there_are_at_least_six_exercises_each_with_its_solution():
    exercises = exercise.all_exercises()
    assert len(exercises) >= 6
    for ex in exercises:
        assert (ex.solution / "files").is_dir(), ex.id
        assert 10 <= ex.minutes <= 30, ex.id
        readme = (ex.path / "README.md").read_text()
        for part in (
            "**Goal:**",
            "## What's provided for you",
            "## Steps",
            "### Hint 1",
            "## Done when",
        ):
            assert part in readme, f"{ex.id}: README lacks {part}"


def test_list_start_check_hint_solve_reset(tmp_path):
    listed = run(tmp_path, "list")
    assert listed.returncode == 0 and "01.2" in listed.stdout

    started = run(tmp_path, "start", "01.2")
    assert started.returncode == 0, started.stderr
    copy = tmp_path / "01-strangler--02-shadow-compare"
    assert (copy / "facade" / "facade" / "shadow.py").exists()
    assert "TODO" in (copy / "facade" / "facade" / "shadow.py").read_text()
    # the pristine stage is untouched
    assert "TODO" not in (ROOT / "01-strangler" / "facade" / "facade" / "shadow.py").read_text()

    unsolved = run(tmp_path, "check", "01.2")
    assert unsolved.returncode == 1
    assert "checks pass" in unsolved.stdout and "hint" in unsolved.stdout

    hint = run(tmp_path, "hint", "01.2")
    assert hint.returncode == 0 and hint.stdout.startswith("Hint 1 of 3")
    assert run(tmp_path, "hint", "01.2").stdout.startswith("Hint 2 of 3")

    assert run(tmp_path, "solve", "01.2").returncode == 0
    solved = run(tmp_path, "check", "01.2")
    assert solved.returncode == 0, solved.stdout
    assert "Done!" in solved.stdout

    assert run(tmp_path, "reset", "01.2").returncode == 0
    assert run(tmp_path, "check", "01.2").returncode == 1


def test_an_unknown_exercise_is_a_clear_error(tmp_path):
    result = run(tmp_path, "start", "99.9")
    assert result.returncode != 0 and "no exercise '99.9'" in result.stderr
