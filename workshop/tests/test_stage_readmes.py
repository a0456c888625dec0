"""Each stage README's "what changed" block is the real diff, regenerated here."""

import re

import pytest

from workshop import diff, stages

NAMES = stages.names()


@pytest.mark.parametrize(("old", "new"), list(zip(NAMES, NAMES[1:], strict=False)))
def test_what_changed_is_the_real_diff(old, new):
    readme = (stages.load(new).path / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- diff:begin -->\n(.*?)<!-- diff:end -->", readme, re.S)
    assert block, f"{new}/README.md has no <!-- diff:begin --> ... <!-- diff:end --> block"
    assert block.group(1) == diff.summary(old, new), (
        f"{new}/README.md is out of date: run `python3 -m workshop diff {old} {new} --readme`"
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_readme_says_how_to_run_it_and_what_comes_next(name):
    readme = (stages.load(name).path / "README.md").read_text(encoding="utf-8")
    assert f"python3 -m workshop up {name}" in readme
    assert "```mermaid" in readme
    assert "**Next:**" in readme
