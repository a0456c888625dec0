"""Docs cannot rot: every command the docs show is run here, as written, or by a named test.

- `python3 -m workshop ...` is parsed by the real command line (a misspelt option or stage fails),
  then run: at once when it needs nothing running (doctor, stages, diff, exercise list), against
  the stage started by its README's own `up` command when it does (ps, kill, freeze, thaw,
  restart, manage, load), in README order. `test -e` names tox envs that must exist.
- `python ...` (a maintainer's script) must be a command a tox env runs, from the same folder.
- `ACCEPTANCE_BASE_URL=... pytest acceptance` is run against the running stage (its health
  checks); the port it shows must be the front door's port in that stage's stage.toml.
- A stage README's expected output is compared with what `up` printed.
Anything else fails: add it to a test.
"""

import argparse
import configparser
import importlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workshop import ROOT, cli, exercise, stages, supervisor

# Commands that run until stopped, or stop the shared stage, and the test that runs each.
NAMED = {
    "test": ("workshop/tests/test_docs.py", "test_ci_runs_the_readme_test_command"),
    "down": ("workshop/tests/test_up.py",
             "test_another_terminal_controls_the_stage_by_process_name"),
    "up": ("workshop/tests/test_every_system.py", "test_up_serves_every_url_it_prints"),
}
NEEDS_A_RUNNING_STAGE = {"ps", "kill", "freeze", "thaw", "restart", "manage", "load"}


def shipped_docs():
    """The READMEs and docs/ git tracks: what a clone gets (work in progress is not checked)."""
    listed = subprocess.run(["git", "ls-files", "*README.md", "docs/*.md"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        return [ROOT / line for line in sorted(listed.stdout.split())]
    return sorted(p for p in ROOT.glob("**/README.md") if ".tox" not in p.parts)


def doc_commands():
    """(doc, command, inline): console blocks line by line; `python3 -m workshop ...` in text."""
    out = []
    for doc in shipped_docs():
        rel = doc.relative_to(ROOT).as_posix()
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:console|sh|bash|shell)\n(.*?)```", text, re.S):
            for line in block.splitlines():
                command = line.split("#", 1)[0].strip().removeprefix("$ ")
                if command:
                    out.append((rel, command, False))
        for command in re.findall(r"`(python3 -m workshop[^`]*)`", text):
            out.append((rel, command.strip(), True))
    return out


def stage_of(doc: str) -> str:
    """The stage a doc is about: its folder's, else the latest (what a bare `up` starts)."""
    top = doc.split("/", 1)[0]
    return top if top in stages.names() else stages.names()[-1]


def tox_ini() -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    return ini


def tox_envs() -> dict[str, configparser.SectionProxy]:
    """Every env name tox.ini defines (generative names expanded), with its section."""
    ini = tox_ini()
    names = {}
    for section in ini.sections():
        if not section.startswith("testenv:"):
            continue
        name = section.split(":", 1)[1]
        # tox's generative names: "monolith{,-postgres}" is monolith and monolith-postgres
        match = re.fullmatch(r"(.*)\{(.*)\}(.*)", name)
        options = match.group(2).split(",") if match else [""]
        for option in options:
            names[(match.group(1) + option + match.group(3)) if match else name] = ini[section]
    return names


def _parse(command: str):
    words = shlex.split(command)
    assert words[:3] == ["python3", "-m", "workshop"], command
    args, extra = cli.parser().parse_known_args(words[3:])
    assert not extra or args.command == "test", f"`{command}`: unknown arguments {extra}"
    args.tox_args = extra
    return args, words[3:]


def _is_usage(command: str) -> bool:
    return bool(re.search(r"[<\[|]", command))


def _named_test_exists(path: str, name: str) -> None:
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert callable(getattr(module, name, None)), f"{path} has no test {name}"


def check_without_a_stage(doc: str, command: str) -> None:
    """Everything except what needs a running stage (checked in test_..._against_the_stage)."""
    if _is_usage(command):  # `python3 -m workshop restart <process>`: the verb must exist
        verb = shlex.split(re.split(r"[<\[|]", command)[0])[3:4]
        verbs = [name for action in cli.parser()._actions
                 if isinstance(action, argparse._SubParsersAction) for name in action.choices]
        assert not verb or verb[0] in verbs, f"{doc}: `{command}`: no command {verb[0]!r}"
        return
    assert "&&" not in command, f"{doc}: `{command}`: one command a line, no `cd ... &&`"
    words = shlex.split(command)
    env_vars = [w for w in words if re.fullmatch(r"[A-Z_]+=\S*", w)]
    words = words[len(env_vars):]
    if words[:3] == ["python3", "-m", "workshop"]:
        args, argv = _parse(command)
        if args.command in ("doctor", "stages") or (args.command == "diff" and not args.readme) \
                or (args.command == "exercise" and args.action == "list"):
            result = subprocess.run([sys.executable, "-m", "workshop", *argv], cwd=ROOT,
                                    capture_output=True, text=True, timeout=120,
                                    env={**os.environ, "WORKSHOP_NO_VENV": "1"})
            assert result.returncode == 0, f"`{command}` failed:\n{result.stdout}{result.stderr}"
        elif args.command == "exercise":
            ids = {e.short for e in exercise.all_exercises()} | {
                e.id for e in exercise.all_exercises()}
            assert args.id in ids, f"{doc}: `{command}`: no exercise {args.id!r}"
            loop = (ROOT / "workshop/tests/test_exercise_loop.py").read_text()
            assert f'"{args.action}"' in loop, f"`exercise {args.action}` is not run by a test"
        elif args.command == "test":
            envs = args.tox_args[args.tox_args.index("-e") + 1].split(",") \
                if "-e" in args.tox_args else []
            for env in envs:
                assert env in tox_envs(), f"{doc}: `{command}`: no tox env {env!r}"
            if not envs:
                _named_test_exists(*NAMED["test"])
        elif args.command == "up":
            stages.load(args.stage)  # a misspelt stage fails here; the test below starts it
            _named_test_exists(*NAMED["up"])
        elif args.command == "down":
            _named_test_exists(*NAMED["down"])
        else:
            assert args.command in NEEDS_A_RUNNING_STAGE, f"{doc}: `{command}` is run by no test"
    elif env_vars and words[:1] == ["pytest"]:
        assert doc == "acceptance/README.md", f"{doc}: `{command}` is run by no test"
    elif words[:1] == ["python"] and len(words) > 1:
        # A maintainer's script: a tox env runs this very command, from the doc's folder.
        folder = (ROOT / doc).parent
        if not (folder / words[1]).exists():  # shown as run from the repo's root
            folder = ROOT
        for env in tox_envs().values():
            cwd = Path(env.get("change_dir", "{toxinidir}").replace("{toxinidir}", str(ROOT)))
            for line in env.get("commands", "").splitlines():
                ran = shlex.split(line.split(":", 1)[-1] if re.match(r"\s*!?\w+:", line)
                                  else line)
                ran = [w.replace("{toxinidir}", str(ROOT)) for w in ran]
                if ran[:1] != ["python"] or len(ran) < 2:
                    continue
                script = (cwd / ran[1]).resolve()
                if script == (folder / words[1]).resolve() and ran[2:2 + len(words) - 2] == \
                        words[2:]:
                    return
        pytest.fail(f"{doc}: `{command}` is run by no tox env from {folder.relative_to(ROOT)}")
    else:
        pytest.fail(f"{doc} shows `{command}` but no test runs it: add it to a test")


def test_the_docs_show_commands():
    assert len(doc_commands()) >= 20


@pytest.mark.parametrize(("doc", "command", "inline"), doc_commands())
def test_every_command_in_the_docs_works_or_names_its_test(doc, command, inline):
    check_without_a_stage(doc, command)


def test_ci_runs_the_readme_test_command():
    """`python3 -m workshop test` (the README's) is exactly what .ci/run runs."""
    lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert "python3 -m workshop test" in lines


def _stage_commands():
    """Per stage: the docs' commands that need it running, in the docs' order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for doc, command, _ in doc_commands():
        if _is_usage(command) or not command.startswith("python3 -m workshop"):
            continue
        args, _ = _parse(command)
        if args.command not in NEEDS_A_RUNNING_STAGE:
            continue
        named = getattr(args, "stage", None)
        stage = stages.load(named).name if named else stage_of(doc)
        out.setdefault(stage, []).append((doc, command))
    return out


@pytest.mark.parametrize("stage", sorted(_stage_commands()))
def test_the_commands_that_need_a_running_stage_work_against_it(stage_up, stage):
    handle = stage_up(stage)
    try:
        for doc, command in _stage_commands()[stage]:
            args, argv = _parse(command)
            if args.command == "load":
                _run_until_it_reports(handle, argv, doc)
                continue
            result = handle.workshop(*argv, timeout=300)
            assert result.returncode == 0, f"{doc}: `{command}`:\n{result.stdout}{result.stderr}"
        # What the docs break, they also mend: the stage is whole again.
        assert supervisor.wait_for(lambda: _all_running(handle), 120), \
            handle.workshop("ps").stdout
    finally:  # whatever happened, the next test gets the whole stage
        for line in handle.workshop("ps").stdout.splitlines()[2:]:
            if line.split()[3] in ("down", "frozen"):
                handle.workshop("restart", line.split()[0])


def _all_running(handle) -> bool:
    ps = handle.workshop("ps")
    return ps.returncode == 0 and all(
        line.split()[3:5] == ["running", "ok"] for line in ps.stdout.splitlines()[2:])


def _run_until_it_reports(handle, argv, doc):
    """`workshop load` runs until Ctrl-C: two reports, then the Ctrl-C, as the demo does."""
    proc = subprocess.Popen([sys.executable, "-m", "workshop", *argv], cwd=ROOT, env=handle.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        reports = []
        for line in proc.stdout:
            if re.search(r"(monolith|orders) \d{3}:\s+\d+", line):
                reports.append(line)
                if len(reports) == 2:
                    break
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert len(reports) == 2, f"{doc}: `load` reported nothing:\n{rest}"
        assert proc.returncode == 0 and "Traceback" not in rest, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_acceptance_readme_command_points_at_the_front_door_and_passes(stage_up):
    [command] = [c for d, c, _ in doc_commands()
                 if d == "acceptance/README.md" and c.startswith("ACCEPTANCE_BASE_URL=")]
    words = shlex.split(command)
    url = words[0].split("=", 1)[1]
    stage = stages.load(None)  # "started with `python3 -m workshop up`": the latest
    assert url == f"http://127.0.0.1:{stage.process(stage.front_door).port}", (
        f"acceptance/README.md: {url} is not {stage.name}'s front door (stage.toml)")
    handle = stage_up(stage.name)
    running = handle.urls["storefront"].rstrip("/")
    started = time.monotonic()
    # The README's command on its health checks: the whole suite is what the acceptance-* envs
    # run through the harness; here it proves the command reaches a stage that `up` started.
    result = subprocess.run([sys.executable, "-m", *words[1:], "-k", "health", "-q",
                             "-p", "no:cacheprovider"],
                            cwd=ROOT, env={**os.environ, "ACCEPTANCE_BASE_URL": running},
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    print(f"\n`{command}` against the running {stage.name}: "
          f"{result.stdout.strip().splitlines()[-1]} ({time.monotonic() - started:.0f} s)")


@pytest.mark.parametrize("name", stages.names())
def test_the_expected_output_in_a_stage_readme_is_what_up_prints(stage_up, name):
    readme = (ROOT / name / "README.md").read_text(encoding="utf-8")
    block = re.search(r"Expected output[^\n]*\n(?:[^\n]*\n)?```text\n(.*?)```", readme, re.S)
    assert block, f"{name}/README.md shows no expected output of `up`"
    handle = stage_up(name)
    stage = stages.load(name)
    ports = handle.workshop("ps").stdout
    actual = {p.port: int(re.search(rf"^{re.escape(p.name)}\s+\S+\s+(\d+)", ports, re.M)[1])
              for p in stage.processes}

    def normal(line: str) -> str:
        line = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{actual.get(int(m[1]), m[1])}",
                      line)
        line = re.sub(r"up in [\d.]+ s", "up in N s", line)
        return re.sub(r"\s+", " ", line).strip()

    printed = [normal(line) for line in handle.output.splitlines()]
    position = 0
    for expected in filter(None, map(normal, block.group(1).splitlines())):
        assert expected in printed[position:], (
            f"{name}/README.md expects `{expected}`, which `up` did not print (in this order):\n"
            + "\n".join(printed))
        position = printed.index(expected, position) + 1
