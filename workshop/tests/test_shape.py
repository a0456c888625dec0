"""The shape stages 03 and 04 copy: each deployable carries its own README and requirements.

A deployable is a folder stage.toml runs a process from (the monolith, each service, the front
door); 04's Dockerfiles install exactly its requirements.txt, so the stage's file only includes
them, `up` installs the union, and every name is pinned in the one constraints.txt.
"""

import re
import subprocess

import pytest

from workshop import ROOT, bootstrap, stages

NAMES = stages.names()


def requirement_names(path):
    out = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.add(re.split(r"[\[<>=;~! ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return out


def deployables(stage):
    return sorted({stage.path / p.cwd for p in stage.processes})


@pytest.mark.parametrize("name", NAMES)
def test_every_deployable_has_its_own_readme_and_requirements(name):
    stage = stages.load(name)
    for folder in deployables(stage):
        assert folder != stage.path, f"{name}: a process runs from the stage folder itself"
        assert (folder / "README.md").is_file(), f"{folder.relative_to(ROOT)} has no README.md"
        assert requirement_names(folder / "requirements.txt"), f"{folder.relative_to(ROOT)}"


@pytest.mark.parametrize("name", NAMES)
def test_the_stage_requirements_only_include_its_deployables(name):
    stage = stages.load(name)
    lines = [line.strip() for line in (stage.path / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert all(line.startswith("-r ") for line in lines), lines
    included = {(stage.path / line[3:]).resolve() for line in lines}
    for folder in deployables(stage):
        assert (folder / "requirements.txt").resolve() in included, folder


def test_up_installs_the_union_of_every_deployable():
    installed = set(bootstrap._requirement_files("run"))
    for name in NAMES:
        for folder in deployables(stages.load(name)):
            assert (folder / "requirements.txt").resolve() in installed, folder


def test_every_requirement_is_pinned_in_the_one_constraints_file():
    pinned = {line.split("==")[0].strip().lower().replace("_", "-")
              for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    # The files git knows (tracked or new, not ignored): a glob would walk .tox and .venv.
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                              "*requirements*.txt", "workshop/requirements/*.txt"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    files = [ROOT / p for p in tracked if not p.startswith("exercises/")]
    assert len(files) > 5, tracked
    missing = {f"{p.relative_to(ROOT)}: {n}" for p in files for n in requirement_names(p)
               if n not in pinned}
    assert not missing, sorted(missing)
