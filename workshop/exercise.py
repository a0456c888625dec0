"""The exercise loop (list, start, check, hint, solve, reset) and the proof that each one works.

An exercise is a folder `exercises/<stage>/<NN-slug>/` with `exercise.toml`, `README.md`,
`files/` (the starting files, paths relative to the stage), `tests/` (copied into the working
copy at the place `exercise.toml` names) and `wrong/<name>/` (plausible wrong solutions, each
with a one-line `NOTE` naming its mistake). Its solution is the stage's own version of the
starting files, unless `solutions/<stage>/<NN-slug>/files/` holds one of its own (an exercise
whose solved state is not the stage's).

`start` copies the pristine stage into `exercises/.work/<stage>--<slug>/` (git-ignored) and lays
the starting files over it, so an attendee can never break the stage itself. `verify` (run by
tox) proves, for every exercise, that its tests fail on the starting files for the right reason
(an assertion, not an import or collection error), pass with the solution laid over, and fail
on every one of its wrong solutions.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
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
    postgres: bool = False  # its race checks need PostgreSQL (SQLite serialises every writer)

    @property
    def solution(self) -> Path:
        """`solutions/<id>/` when the solved files are not the stage's own."""
        return SOLUTIONS / self.id

    def starting_files(self) -> list[str]:
        return _files(self.path / "files")

    def solution_files(self) -> list[tuple[str, Path]]:
        """(path relative to the stage, where the solved version is)."""
        own = self.solution / "files"
        if own.is_dir():
            return [(rel, own / rel) for rel in _files(own)]
        return [(rel, ROOT / self.stage / rel) for rel in self.starting_files()]

    def wrong_solutions(self) -> list[Path]:
        wrong = self.path / "wrong"
        return sorted(p for p in wrong.iterdir() if p.is_dir()) if wrong.is_dir() else []

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
                postgres=bool(data.get("postgres", False)),
            )
        )
    return out


def find(key: str) -> Exercise:
    for ex in all_exercises():
        if key in (ex.id, ex.short, ex.path.name):
            return ex
    raise SystemExit(f"workshop: no exercise {key!r}; `python3 -m workshop exercise list`")


def _files(src: Path) -> list[str]:
    """Files under src (relative, posix), leaving out caches and a wrong solution's NOTE."""
    return [
        path.relative_to(src).as_posix()
        for path in sorted(src.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.name != "NOTE"
    ]


def _overlay(src: Path, dest: Path) -> list[str]:
    laid = _files(src)
    for rel in laid:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dest / rel)
    return laid


def _lay_solution(ex: Exercise, dest: Path) -> list[str]:
    for rel, source in ex.solution_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / rel)
    return [rel for rel, _ in ex.solution_files()]


def prepare(ex: Exercise, dest: Path, solved: bool = False, wrong: Path | None = None) -> list[str]:
    """A fresh copy of the stage with the starting (or solved, or a wrong) files and the tests
    laid over."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / ex.stage, dest, ignore=COPY_IGNORE)
    laid = _overlay(ex.path / "files", dest)
    _overlay(ex.path / "tests", dest / ex.tests_to)
    if solved:
        _lay_solution(ex, dest)
    if wrong is not None:
        _overlay(wrong, dest)
    return laid


LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432"


def postgres_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def database_env(ex: Exercise, name: str) -> dict[str, str]:
    """An exercise whose races only PostgreSQL can show runs on it when one answers (the server
    of WORKSHOP_POSTGRES_URL or of DATABASE_URL, else the local one), in a database of its own
    (`name`). The others run on their working copy's own SQLite file."""
    if not ex.postgres:
        return {}
    given = os.environ.get("WORKSHOP_POSTGRES_URL") or os.environ.get("DATABASE_URL", "")
    if given.startswith("postgres"):
        server = given.rsplit("/", 1)[0] if given.count("/") > 2 else given
    elif postgres_answers():
        server = LOCAL_POSTGRES
    else:
        return {}
    return {"DATABASE_URL": f"{server}/{name}"}


def run_tests(ex: Exercise, dest: Path, junit: Path | None = None, first_failure=False,
              db_name: str | None = None, extra_env: dict | None = None
              ) -> subprocess.CompletedProcess:
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
    if first_failure:
        cmd.append("-x")
    if junit:
        cmd.append(f"--junitxml={junit}")
    db_name = db_name or "exercise_" + re.sub(r"\W", "_", ex.short)
    env = {**os.environ, **ex.env, **database_env(ex, db_name), **(extra_env or {}),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)  # the working copy alone, as on an attendee's laptop
    if not ex.postgres:
        env.pop("DATABASE_URL", None)  # the working copy's own SQLite file, never a shared one
    return subprocess.run(cmd, cwd=dest / ex.cwd, env=env, capture_output=True, text=True)


def why_not_run(result: subprocess.CompletedProcess, outcome: dict) -> str | None:
    """What stopped the checks from running at all (a missing package, a syntax error, a
    collection error), or None when they ran."""
    if result.returncode in (0, 1) and outcome["tests"]:
        return None
    text = (result.stdout + "\n" + result.stderr).strip()
    return "\n".join(text.splitlines()[-30:]) or f"pytest exited with {result.returncode}"


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


def cmd_start(key: str, force: bool = False) -> int:
    ex = find(key)
    if ex.workdir.exists() and not force:
        print(
            f"{ex.short} is already started: your work is in {ex.workdir}\n"
            f"Carry on there (`python3 -m workshop exercise check {ex.short}`), or start again "
            f"from the starting files, losing your changes:\n"
            f"  python3 -m workshop exercise start {ex.short} --force",
            file=sys.stderr,
        )
        return 1
    laid = prepare(ex, ex.workdir)
    _save_state(ex, {"hints_shown": 0})
    print(f"{ex.title} ({ex.minutes} minutes)\n")
    print(f"Your working copy: {ex.workdir}")
    print("Edit there:")
    for rel in laid:
        print(f"  {ex.workdir / rel}")
    print(f"\nInstructions: {ex.path / 'README.md'}")
    print(f"Check your work: python3 -m workshop exercise check {ex.short}")
    if ex.postgres and not database_env(ex, "x"):
        print(
            "\nNo PostgreSQL answers at 127.0.0.1:5432 (nor in DATABASE_URL): the race checks "
            "will be skipped, since SQLite cannot show races. `python3 -m workshop doctor` says "
            "how to start one."
        )
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
        stopped = why_not_run(result, outcome)
        if stopped is not None:
            worst = 1
            print(f"{ex.short} {ex.title}: the checks could not run (pytest exit "
                  f"{result.returncode}):\n")
            print(stopped)
            print("\n  Fix what this says (a syntax error in your file? a missing package: "
                  "`python3 -m workshop doctor`), then check again.")
            continue
        passed = outcome["tests"] - outcome["failures"] - outcome["errors"] - outcome["skipped"]
        print(f"{ex.short} {ex.title}: {passed} of {outcome['tests']} checks pass"
              + (f" ({outcome['skipped']} skipped)" if outcome["skipped"] else ""))
        for name in outcome["failed"]:
            print(f"  ✗ {name}")
        for name, why in outcome["skipped_why"]:
            print(f"  - skipped {name}: {why}")
        if result.returncode == 0:
            print(f"  Done! Compare with the solution: "
                  f"{', '.join(str(path) for _, path in ex.solution_files())}")
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
    laid = _lay_solution(ex, ex.workdir)
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
    out = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "failed": [],
           "skipped_why": []}
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
            skipped = case.find("skipped")
            if skipped is not None:
                out["skipped_why"].append((case.get("name"), skipped.get("message", "")))
    return out


def _tail(result: subprocess.CompletedProcess, lines: int) -> str:
    return "\n".join((result.stdout + result.stderr).splitlines()[-lines:])


def _fails_rightly(result: subprocess.CompletedProcess, outcome: dict) -> bool:
    """Failed on an assertion: exit 1, a failure, no import/collection/fixture error."""
    return result.returncode == 1 and bool(outcome["failures"]) and not outcome["errors"]


# In verify, checks that would skip without PostgreSQL fail instead (as on CI).
VERIFY_ENV = {"EXERCISE_NEEDS_POSTGRES": "1"}


def _verify_run(ex: Exercise, tmp: Path, name: str, solved=False, wrong=None):
    dest = tmp / name
    prepare(ex, dest, solved=solved, wrong=wrong)
    junit = tmp / f"{name}.xml"
    # A run that must fail may stop at its first failure: that is all it has to show.
    result = run_tests(ex, dest, junit, first_failure=not solved,
                       db_name=f"exv_{ex.short.replace('.', '_')}_{name.replace('-', '_')}"[:60],
                       extra_env=VERIFY_ENV)
    outcome = read_junit(junit)
    shutil.rmtree(dest, ignore_errors=True)
    return result, outcome


def _static_problems(ex: Exercise) -> list[str]:
    problems = []
    if len(ex.wrong_solutions()) < 3:
        problems.append(f"{ex.id}: keeps {len(ex.wrong_solutions())} wrong solution(s) in "
                        "wrong/; at least 3 are needed")
    for wrong in ex.wrong_solutions():
        note = wrong / "NOTE"
        if not note.exists() or len(note.read_text(encoding="utf-8").strip().splitlines()) != 1:
            problems.append(f"{ex.id}: wrong/{wrong.name}/NOTE must say its mistake in one line")
        if not _files(wrong):
            problems.append(f"{ex.id}: wrong/{wrong.name} holds no file")
    for rel, path in ex.solution_files():
        if not path.exists():
            problems.append(f"{ex.id}: its solution has no {rel}")
    if ex.solution.is_dir():
        for rel, path in ex.solution_files():
            stage_file = ROOT / ex.stage / rel
            if stage_file.exists() and stage_file.read_bytes() == path.read_bytes():
                problems.append(f"{ex.id}: solutions/.../{rel} equals the stage's own file: "
                                "remove it (the stage's file is the solution)")
    return problems


def _runs(ex: Exercise, tmp: Path) -> list:
    """The pytest runs that prove one exercise, each a callable returning its problems."""

    def start():
        result, outcome = _verify_run(ex, tmp, "start")
        if result.returncode == 0:
            return [f"{ex.id}: its tests PASS on the starting files (nothing to do?)"]
        if not _fails_rightly(result, outcome):
            return [
                f"{ex.id}: its tests fail on the starting files for the wrong reason (exit "
                f"{result.returncode}, {outcome['errors']} error(s), {outcome['failures']} "
                f"failure(s)): an import, collection or fixture error, not an assertion\n"
                + _tail(result, 15)
            ]
        return []

    def solved():
        result, outcome = _verify_run(ex, tmp, "solved", solved=True)
        if result.returncode != 0 or outcome["skipped"]:
            return [f"{ex.id}: its tests FAIL (or skip) with the solution\n" + _tail(result, 20)]
        return []

    def rejects(wrong: Path):
        result, outcome = _verify_run(ex, tmp, f"wrong-{wrong.name}", wrong=wrong)
        if result.returncode == 0:
            note = (wrong / "NOTE").read_text(encoding="utf-8").strip() if (
                wrong / "NOTE").exists() else ""
            return [f"{ex.id}: its tests ACCEPT the wrong solution wrong/{wrong.name} ({note})"]
        if not _fails_rightly(result, outcome):
            return [f"{ex.id}: wrong/{wrong.name} fails for the wrong reason (exit "
                    f"{result.returncode}, {outcome['errors']} error(s)): it should fail an "
                    "assertion\n" + _tail(result, 15)]
        return []

    return [("start", start), ("solved", solved)] + [
        (f"wrong/{w.name}", lambda w=w: rejects(w)) for w in ex.wrong_solutions()]


def verify_one(ex: Exercise, tmp: Path) -> list[str]:
    """Problems with one exercise; empty when it fails unsolved (rightly), passes solved and
    rejects every wrong solution."""
    if ex.postgres and not database_env(ex, "x"):
        return [f"{ex.id}: its race checks need PostgreSQL (start one at 127.0.0.1:5432 or set "
                "DATABASE_URL=postgres://...)"]
    problems = _static_problems(ex)
    for _, run in _runs(ex, tmp):
        problems += run()
    return problems


def verify(exercises: list[Exercise] | None = None, jobs: int | None = None) -> list[str]:
    """Every run is a pytest in a child process on a copy of its own (and a database of its
    own), so they run side by side, `jobs` at a time (WORKSHOP_VERIFY_JOBS, default 4: the runs
    mostly wait on their servers, child processes and databases, so even a 2-core box gains
    from more than 2), the runs of the slowest exercises first."""
    exercises = exercises if exercises is not None else all_exercises()
    jobs = jobs or int(os.environ.get("WORKSHOP_VERIFY_JOBS", "4"))
    started = time.monotonic()
    _compile_installed_packages()
    problems: list[str] = []
    tasks = []
    with contextlib.ExitStack() as stack:
        # Setup the runs may share (a migrated, seeded database to copy): see the exercises'
        # tests/prepared.py.
        cache = stack.enter_context(tempfile.TemporaryDirectory(prefix="verify-cache-"))
        stack.enter_context(_patched(VERIFY_ENV, WORKSHOP_EXERCISE_CACHE=cache))
        for ex in sorted(exercises, key=lambda ex: -_weight(ex)):
            if ex.postgres and not database_env(ex, "x"):
                problems.append(f"{ex.id}: its race checks need PostgreSQL (start one at "
                                "127.0.0.1:5432 or set DATABASE_URL=postgres://...)")
                continue
            problems += _static_problems(ex)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="verify-")))
            tasks += [(ex, name, run) for name, run in _runs(ex, tmp)]

        def one(task):
            ex, name, run = task
            t0 = time.monotonic()
            found = run()
            print(f"{'ok  ' if not found else 'FAIL'} {ex.id} {name} "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
            return found

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for found in pool.map(one, tasks):
                problems += found
    print(f"verify: {len(tasks)} runs in {time.monotonic() - started:.0f} s, {jobs} at a time",
          flush=True)
    return problems


def _compile_installed_packages() -> None:
    """Compile the environment's packages once. The runs do not write bytecode (they must not
    leave stale caches in a working copy), and an installer that did not compile (uv, by
    default) would otherwise leave each of them compiling Django and friends anew: seconds of
    CPU per run, dozens of runs."""
    import compileall
    import sysconfig

    if _compiled:
        return
    for path in {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}:
        compileall.compile_dir(path, quiet=2)  # in this process: no pool re-importing __main__
    _compiled.append(True)


_compiled: list[bool] = []  # once per process


@contextlib.contextmanager
def _patched(mapping: dict, **values):
    saved = dict(mapping)
    mapping.update(values)
    try:
        yield
    finally:
        mapping.clear()
        mapping.update(saved)


def _weight(ex: Exercise) -> int:
    """How slow its runs are, roughly (stage 02's start real servers)."""
    return int(ex.stage[:2]) * 10 + ex.minutes


def main(args) -> int:
    action = args.action
    if action == "list":
        return cmd_list()
    if action == "check":
        return cmd_check(args.id)
    if action == "verify":
        chosen = [find(args.id)] if args.id else None
        problems = verify(chosen)
        count = len(chosen) if chosen else len(all_exercises())
        print("\n\n".join(problems) if problems else f"{count} exercise(s) proven: each fails "
              "unsolved, passes solved, and rejects its wrong solutions")
        return 1 if problems else 0
    if args.id is None:
        raise SystemExit(f"workshop: `exercise {action}` needs an exercise id")
    if action == "hint":
        return cmd_hint(args.id, args.number)
    if action == "start":
        return cmd_start(args.id, force=getattr(args, "force", False))
    return {"solve": cmd_solve, "reset": cmd_reset}[action](args.id)
