"""Docs cannot rot: every command a README shows is run by a test or a tox env."""

import configparser
import re
import subprocess

import pytest

from workshop import ROOT

# Commands that take over the terminal are run by a named test instead of here.
RUN_ELSEWHERE = {
    "python3 -m workshop up": (
        "workshop/fresh_clone/test_fresh_clone.py",
        "test_a_fresh_clone_comes_up_with_python3_alone",
    ),
    "python3 -m workshop up 00-monolith": (
        "workshop/tests/test_up.py",
        "test_up_serves_every_url_it_prints",
    ),
    "python3 -m workshop up --free-ports": (
        "workshop/tests/test_up.py",
        "test_up_serves_every_url_it_prints",
    ),
    "python3 -m workshop test": (".ci/run", "python3 -m workshop test"),
    "python3 -m workshop up 01-strangler": (
        "01-strangler/tests/e2e/test_strangler.py",
        "supervisor.running(",
    ),
    "python3 -m workshop load 01-strangler": (
        "01-strangler/tests/e2e/test_strangler.py",
        "test_the_demo_load_loop_shows_who_answered",
    ),
    "python bench/facade.py --quick": ("tox.ini", "bench/facade.py --quick"),
    "python bench/grpc_vs_rest.py --quick": ("tox.ini", "bench/grpc_vs_rest.py --quick"),
    "python3 -m workshop up 02-extract-orders": ("tox.ini", "ACCEPTANCE_STAGE = 02-extract-orders"),
    "python protos/build.py --check": ("tox.ini", "python protos/build.py --check"),
    "python protos/build.py --breaking": ("tox.ini", "python protos/build.py --breaking"),
    'kill -STOP $(pgrep -f "serve_grpc --port 50052")': (
        "02-extract-orders/tests/e2e/test_demo.py", 'frozen(stage, "orders-grpc")'),
    'kill -CONT $(pgrep -f "serve_grpc --port 50052")': (
        "02-extract-orders/tests/e2e/test_demo.py", "signal.SIGCONT"),
    'kill -STOP $(pgrep -f "serve_grpc --port 50051")': (
        "02-extract-orders/tests/e2e/test_demo.py", 'frozen(stage, "monolith-grpc")'),
    'kill -CONT $(pgrep -f "serve_grpc --port 50051")': (
        "02-extract-orders/tests/e2e/test_demo.py", "signal.SIGCONT"),
    "cd 02-extract-orders/services/orders && python manage.py release_stranded": (
        "02-extract-orders/tests/e2e/test_demo.py", '"manage.py", "release_stranded"'),
    "python manage.py copy_orders_from_monolith": (
        "02-extract-orders/stage.toml", '"copy_orders_from_monolith"'),
}


def shipped_readmes():
    """The READMEs git tracks: what a clone gets (work in progress is not checked yet)."""
    listed = subprocess.run(
        ["git", "ls-files", "*README.md"], cwd=ROOT, capture_output=True, text=True
    )
    if listed.returncode == 0 and listed.stdout.strip():
        return [ROOT / line for line in sorted(listed.stdout.split())]
    return sorted(p for p in ROOT.glob("**/README.md") if ".tox" not in p.parts)


def readme_commands():
    out = []
    for readme in shipped_readmes():
        text = readme.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:console|sh|bash|shell)\n(.*?)```", text, re.S):
            for line in block.splitlines():
                command = line.split("#", 1)[0].strip().removeprefix("$ ")
                if command:
                    out.append((readme.relative_to(ROOT).as_posix(), command))
        # inline mentions of the workshop command count too
        for command in re.findall(r"`(python3 -m workshop[^`<\[]*)`", text):
            out.append((readme.relative_to(ROOT).as_posix(), command.strip()))
    return out


def tox_envs():
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    names = set()
    for section in ini.sections():
        if not section.startswith("testenv:"):
            continue
        name = section.split(":", 1)[1]
        # tox's generative names: "monolith{,-postgres}" is monolith and monolith-postgres
        match = re.fullmatch(r"(.*)\{(.*)\}(.*)", name)
        if match:
            head, options, tail = match.groups()
            names.update(head + option + tail for option in options.split(","))
        else:
            names.add(name)
    return names


def test_the_readmes_show_commands():
    assert len(readme_commands()) >= 5


@pytest.mark.parametrize(("readme", "command"), readme_commands())
def test_every_readme_command_is_run_somewhere(readme, command, run_workshop):
    words = command.split()
    if words[:3] == ["python3", "-m", "workshop"] and words[3:4] in (
        ["doctor"],
        ["stages"],
        ["diff"],
    ):
        result = run_workshop(*words[3:])
        assert result.returncode == 0, result.stdout + result.stderr
    elif words[:4] == ["python3", "-m", "workshop", "test"] and "-e" in words:
        for env in words[words.index("-e") + 1].split(","):
            assert env in tox_envs(), f"{readme}: no tox env {env!r}"
    elif words[:4] == ["python3", "-m", "workshop", "exercise"] and len(words) > 4:
        loop = (ROOT / "workshop/tests/test_exercise_loop.py").read_text()
        assert f'"{words[4]}"' in loop, f"`exercise {words[4]}` is not run by test_exercise_loop"
    elif command in RUN_ELSEWHERE:
        path, needle = RUN_ELSEWHERE[command]
        assert needle in (ROOT / path).read_text(), f"{command} is not run by {path}"
    elif words[0] in ("pytest", "tox") or "ACCEPTANCE_BASE_URL=" in words[0]:
        assert words[0] != "tox" or set(words[2:3]) <= tox_envs() | {""}, command
    else:
        pytest.fail(f"{readme} shows `{command}` but no test runs it: add it to a test")
