"""Each stage README: its "what changed" block is the real diff, with the lesson written above."""

import re

import pytest

from workshop import diff, stages

NAMES = stages.names()
PAIRS = list(zip(NAMES, NAMES[1:], strict=False))


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_what_changed_is_the_real_diff(old, new):
    readme = (stages.load(new).path / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- diff:begin -->\n(.*?)<!-- diff:end -->", readme, re.S)
    assert block, f"{new}/README.md has no <!-- diff:begin --> ... <!-- diff:end --> block"
    assert block.group(1) == diff.summary(old, new, short=True), (
        f"{new}/README.md is out of date: run `python3 -m workshop diff {old} {new} --readme`"
    )


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_the_lesson_in_five_files_names_files_the_diff_shows(old, new):
    readme = (stages.load(new).path / "README.md").read_text(encoding="utf-8")
    lesson = re.search(r"\*\*The lesson in five files\*\*(.*?)<!-- diff:begin -->", readme, re.S)
    assert lesson, f"{new}/README.md: no **The lesson in five files** above the diff block"
    files = re.findall(r"^\d\. `([^`]+)`", lesson.group(1), re.M)
    assert len(files) == 5, files
    shown = {c.rel: c for c in diff.compare(old, new)}
    for rel in files:
        assert rel in shown and shown[rel].status != "removed" and not shown[rel].generated, (
            f"{new}/README.md's lesson names `{rel}`, which is not a hand-written change")


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_readme_says_how_to_run_it_and_what_comes_next(name):
    readme = (stages.load(name).path / "README.md").read_text(encoding="utf-8")
    assert f"python3 -m workshop up {name}" in readme
    assert "```mermaid" in readme
    assert "## Talk topics shown here" in readme
    assert "Expected output" in readme
    nxt = re.search(r"\*\*Next:\*\*(.*)", readme)
    assert nxt, f"{name}/README.md has no **Next:**"
    later = NAMES[NAMES.index(name) + 1:]
    if later:  # the next stage exists: link it, never call it "coming"
        assert f"../{later[0]}/README.md" in nxt.group(1) and "coming" not in nxt.group(1)
