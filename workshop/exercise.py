"""The exercise loop (list, start, check, hint, solve, reset) and the proof that each one works.

An exercise is a folder `exercises/<stage>/<NN-slug>/` with `exercise.toml`, `README.md`,
`files/` (the starting files, paths relative to the stage) and `tests/` (copied into the working
copy at the place `exercise.toml` names). Its solution is `solutions/<stage>/<NN-slug>/files/`.

`start` copies the pristine stage into `exercises/.work/<stage>--<slug>/` (git-ignored) and lays
the starting files over it, so an attendee can never break the stage itself. `verify` (run by
tox) proves, for every exercise, that its tests fail on the starting files for the right reason
(an assertion, not an import or collection error) and pass with the solution laid over.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from workshop import ROOT
from workshop.stages import tomllib

EXERCISES = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
COPY_IGNORE = shutil.ignore_patterns("var", "__pycache__", ".pytest_cache", ".hypothesis", "*.pyc")


def work_root() -> Path:
    return Path(os.environ.get("WORKSHOP_EXERCISE_WORKDIR") or EXERCISES / ".work")


@dataclass(frozen=True)
class Exercise:
    id: str  # "01-strangler/02-shadow-compare"
    short: str  # "01.2"
    path: Path
    title: str
    stage: str
    minutes: int
    cwd: str  # where the tests run, relative to the stage
    tests_to: str  # where the exercise's tests go, relative to the stage
    env: dict[str, str]
    solution_is_stage: bool  # the solved files are exactly the stage's own files

    @property
    def solution(self) -> Path:
        return SOLUTIONS / self.id

    @property
    def workdir(self) -> Path:
        return work_root() / self.id.replace("/", "--")

    def hints(self) -> list[str]:
        text = (self.path / "README.md").read_text(encoding="utf-8")
        return [h.strip() for h in re.split(r"^### Hint \d+\s*$", text, flags=re.M)[1:]]


def all_exercises() -> list[Exercise]:
    out = []
    for toml in sorted(EXERCISES.glob("[0-9][0-9]-*/[0-9][0-9]-*/exercise.toml")):
        data = tomllib.loads(toml.read_text(encoding="utf-8"))
        stage, slug = toml.parent.parent.name, toml.parent.name
        out.append(
            Exercise(
                id=f"{stage}/{slug}",
                short=f"{stage[:2]}.{int(slug[:2])}",
                path=toml.parent,
                title=data["title"],
                stage=stage,
                minutes=int(data["minutes"]),
                cwd=data["cwd"],
                tests_to=data["tests_to"],
                env=dict(data.get("env", {})),
                solution_is_stage=bool(data.get("solution_is_stage", True)),
            )
        )
    return out


def find(key: str) -> Exercise:
    for ex in all_exercises():
        if key in (ex.id, ex.short, ex.path.name):
            return ex
    raise SystemExit(f"workshop: no exercise {key!r}; `python3 -m workshop exercise list`")


def _overlay(src: Path, dest: Path) -> list[str]:
    laid = []
    for path in sorted(src.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(src)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
            laid.append(rel.as_posix())
    return laid


def prepare(ex: Exercise, dest: Path, solved: bool = False) -> list[str]:
    """A fresh copy of the stage with the starting (or solved) files and the tests laid over."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / ex.stage, dest, ignore=COPY_IGNORE)
    laid = _overlay(ex.path / "files", dest)
    _overlay(ex.path / "tests", dest / ex.tests_to)
    if solved:
        _overlay(ex.solution / "files", dest)
    return laid


def run_tests(ex: Exercise, dest: Path, junit: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-header",
        "-rN",
        str(dest / ex.tests_to),
    ]
    if junit:
        cmd.append(f"--junitxml={junit}")
    env = {**os.environ, **ex.env, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)  # the working copy alone, as on an attendee's laptop
    return subprocess.run(cmd, cwd=dest / ex.cwd, env=env, capture_output=True, text=True)


def _state(ex: Exercise) -> dict:
    path = ex.workdir / ".exercise.json"
    return json.loads(path.read_text()) if path.exists() else {"hints_shown": 0}


def _save_state(ex: Exercise, state: dict) -> None:
    (ex.workdir / ".exercise.json").write_text(json.dumps(state))


# ---------------------------------------------------------------------------- the commands


def cmd_list() -> int:
    for ex in all_exercises():
        status = "started" if ex.workdir.exists() else ""
        print(f"{ex.short:<6} {ex.id:<40} {ex.minutes:>3} min  {ex.title}  {status}".rstrip())
    return 0


def cmd_start(key: str) -> int:
    ex = find(key)
    laid = prepare(ex, ex.workdir)
    _save_state(ex, {"hints_shown": 0})
    print(f"{ex.title} ({ex.minutes} minutes)\n")
    print(f"Your working copy: {ex.workdir}")
    print("Edit there:")
    for rel in laid:
        print(f"  {ex.workdir / rel}")
    print(f"\nInstructions: {ex.path / 'README.md'}")
    print(f"Check your work: python3 -m workshop exercise check {ex.short}")
    return 0


def cmd_check(key: str | None) -> int:
    started = [ex for ex in all_exercises() if ex.workdir.exists()]
    if key is None:
        if not started:
            print("No exercise started: `python3 -m workshop exercise start <id>`")
            return 1
        targets = started
    else:
        targets = [find(key)]
    worst = 0
    for ex in targets:
        if not ex.workdir.exists():
            print(f"{ex.short} is not started: python3 -m workshop exercise start {ex.short}")
            worst = 1
            continue
        with tempfile.TemporaryDirectory() as tmp:
            result = run_tests(ex, ex.workdir, Path(tmp) / "junit.xml")
            outcome = read_junit(Path(tmp) / "junit.xml")
        passed = outcome["tests"] - outcome["failures"] - outcome["errors"] - outcome["skipped"]
        print(f"{ex.short} {ex.title}: {passed} of {outcome['tests']} checks pass")
        for name in outcome["failed"]:
            print(f"  ✗ {name}")
        if result.returncode == 0:
            print(f"  Done! Compare with the solution: {ex.solution / 'files'}")
        else:
            worst = 1
            nxt = _state(ex)["hints_shown"] + 1
            print(
                "  Next: read the failures below, then the README's steps; stuck? "
                f"`python3 -m workshop exercise hint {ex.short}` (hint {nxt})"
            )
            print("\n".join(result.stdout.splitlines()[-25:]))
    return worst


def cmd_hint(key: str, number: int | None) -> int:
    ex = find(key)
    hints = ex.hints()
    state = _state(ex) if ex.workdir.exists() else {"hints_shown": 0}
    n = number or min(state["hints_shown"] + 1, len(hints))
    if not hints or not 1 <= n <= len(hints):
        print(f"{ex.short} has {len(hints)} hint(s)")
        return 1
    print(f"Hint {n} of {len(hints)}:\n\n{hints[n - 1]}")
    if ex.workdir.exists():
        _save_state(ex, {**state, "hints_shown": max(state["hints_shown"], n)})
    return 0


def cmd_solve(key: str) -> int:
    ex = find(key)
    if not ex.workdir.exists():
        prepare(ex, ex.workdir)
        _save_state(ex, {"hints_shown": 0})
    laid = _overlay(ex.solution / "files", ex.workdir)
    print(f"Laid the solution over {ex.workdir}: {', '.join(laid)}")
    print(f"`python3 -m workshop exercise check {ex.short}` should pass now.")
    return 0


def cmd_reset(key: str) -> int:
    ex = find(key)
    prepare(ex, ex.workdir)
    _save_state(ex, {"hints_shown": 0})
    print(f"{ex.workdir} is back to the starting files.")
    return 0


# ------------------------------------------------------------------------------ the proof


def read_junit(path: Path) -> dict:
    out = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "failed": []}
    if not path.exists():
        return out
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    for suite in suites:
        for key in ("tests", "failures", "errors", "skipped"):
            out[key] += int(suite.get(key, 0))
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                out["failed"].append(case.get("name"))
    return out


def verify_one(ex: Exercise, tmp: Path) -> list[str]:
    """Problems with one exercise; empty when it fails unsolved (rightly) and passes solved."""
    problems = []
    start = tmp / "start"
    prepare(ex, start)
    result = run_tests(ex, start, tmp / "start.xml")
    outcome = read_junit(tmp / "start.xml")
    if result.returncode == 0:
        problems.append(f"{ex.id}: its tests PASS on the starting files (nothing to do?)")
    elif result.returncode != 1 or outcome["errors"] or not outcome["failures"]:
        problems.append(
            f"{ex.id}: its tests fail on the starting files for the wrong reason (exit "
            f"{result.returncode}, {outcome['errors']} error(s), {outcome['failures']} "
            f"failure(s)): an import, collection or fixture error, not an assertion\n"
            + "\n".join(result.stdout.splitlines()[-15:])
        )
    solved = tmp / "solved"
    prepare(ex, solved, solved=True)
    result = run_tests(ex, solved)
    if result.returncode != 0:
        problems.append(
            f"{ex.id}: its tests FAIL with the solution\n"
            + "\n".join(result.stdout.splitlines()[-20:])
        )
    if ex.solution_is_stage:
        for path in sorted((ex.solution / "files").rglob("*")):
            if path.is_file():
                rel = path.relative_to(ex.solution / "files")
                stage_file = ROOT / ex.stage / rel
                if not stage_file.exists() or stage_file.read_bytes() != path.read_bytes():
                    problems.append(f"{ex.id}: solution {rel} differs from {ex.stage}/{rel}")
    return problems


def verify(exercises: list[Exercise] | None = None) -> list[str]:
    problems = []
    for ex in exercises if exercises is not None else all_exercises():
        with tempfile.TemporaryDirectory(prefix="verify-") as tmp:
            found = verify_one(ex, Path(tmp))
        print(f"{'ok  ' if not found else 'FAIL'} {ex.id}", flush=True)
        problems += found
    return problems


def main(args) -> int:
    action = args.action
    if action == "list":
        return cmd_list()
    if action == "check":
        return cmd_check(args.id)
    if action == "verify":
        problems = verify()
        print("\n\n".join(problems) if problems else f"{len(all_exercises())} exercises proven")
        return 1 if problems else 0
    if args.id is None:
        raise SystemExit(f"workshop: `exercise {action}` needs an exercise id")
    if action == "hint":
        return cmd_hint(args.id, args.number)
    return {"start": cmd_start, "solve": cmd_solve, "reset": cmd_reset}[action](args.id)
