"""The exercise checker must catch the three ways an exercise rots."""

import textwrap

import pytest

from workshop import exercise


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """A tiny repo: one stage with calc.py, and a way to add exercises to it."""
    (tmp_path / "99-fake").mkdir()
    (tmp_path / "99-fake" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    monkeypatch.setattr(exercise, "ROOT", tmp_path)
    monkeypatch.setattr(exercise, "SOLUTIONS", tmp_path / "solutions")

    def make(slug, starting, solution):
        path = tmp_path / "exercises" / "99-fake" / slug
        (path / "files").mkdir(parents=True)
        (path / "tests").mkdir()
        (path / "files" / "calc.py").write_text(textwrap.dedent(starting))
        (path / "tests" / "test_calc.py").write_text(
            "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
        )
        solved = tmp_path / "solutions" / "99-fake" / slug / "files"
        solved.mkdir(parents=True)
        (solved / "calc.py").write_text(textwrap.dedent(solution))
        return exercise.Exercise(
            id=f"99-fake/{slug}",
            short="99.1",
            path=path,
            title=slug,
            stage="99-fake",
            minutes=5,
            cwd=".",
            tests_to="tests_ex",
            env={},
            solution_is_stage=True,
        )

    return make


REAL = "def add(a, b):\n    return a + b\n"


def test_a_sound_exercise_passes(fake_repo):
    ex = fake_repo("01-good", "def add(a, b):\n    return 0  # TODO\n", REAL)
    assert exercise.verify([ex]) == []


def test_an_exercise_that_passes_unsolved_is_caught(fake_repo):
    ex = fake_repo("02-nothing-to-do", REAL, REAL)
    [problem] = exercise.verify([ex])
    assert "PASS on the starting files" in problem


def test_a_solution_that_fails_is_caught(fake_repo):
    ex = fake_repo(
        "03-rotten", "def add(a, b):\n    return 0\n", "def add(a, b):\n    return a - b\n"
    )
    problems = exercise.verify([ex])
    assert any("FAIL with the solution" in p for p in problems)
    assert any("differs from 99-fake/calc.py" in p for p in problems)


def test_failing_for_the_wrong_reason_is_caught(fake_repo):
    ex = fake_repo("04-broken", "import no_such_module\n", REAL)
    [problem] = exercise.verify([ex])
    assert "for the wrong reason" in problem
