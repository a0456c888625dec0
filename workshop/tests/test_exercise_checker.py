"""The exercise checker must catch the ways an exercise rots."""

import textwrap

import pytest

from workshop import exercise

REAL = "def add(a, b):\n    return a + b\n"
WRONGS = {
    "subtracts": ("Subtracts instead of adding.", "def add(a, b):\n    return a - b\n"),
    "constant": ("Answers the expected value for the one case it saw.",
                 "def add(a, b):\n    return 5\n"),
    "strings": ("Joins the digits as text.", "def add(a, b):\n    return int(f'{a}{b}')\n"),
}


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """A tiny repo: one stage with calc.py, and a way to add exercises to it."""
    (tmp_path / "99-fake").mkdir()
    (tmp_path / "99-fake" / "calc.py").write_text(REAL)
    monkeypatch.setattr(exercise, "ROOT", tmp_path)
    monkeypatch.setattr(exercise, "SOLUTIONS", tmp_path / "solutions")

    def make(slug, starting, solution=None, wrongs=WRONGS):
        path = tmp_path / "exercises" / "99-fake" / slug
        (path / "files").mkdir(parents=True)
        (path / "tests").mkdir()
        (path / "files" / "calc.py").write_text(textwrap.dedent(starting))
        (path / "tests" / "test_calc.py").write_text(
            "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
            "def test_add_more():\n    assert add(20, 22) == 42\n"
        )
        for name, (note, text) in wrongs.items():
            (path / "wrong" / name).mkdir(parents=True)
            (path / "wrong" / name / "NOTE").write_text(note + "\n")
            (path / "wrong" / name / "calc.py").write_text(text)
        if solution is not None:  # a solution of its own, not the stage's file
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
        )

    return make


def test_a_sound_exercise_passes(fake_repo):
    ex = fake_repo("01-good", "def add(a, b):\n    return 0  # TODO\n")
    assert exercise.verify([ex], jobs=2) == []
    assert exercise.verify_one(ex, ex.path.parent / "tmp") == []


def test_the_solution_is_the_stage_s_own_file(fake_repo):
    ex = fake_repo("01-good", "def add(a, b):\n    return 0  # TODO\n")
    [(rel, path)] = ex.solution_files()
    assert rel == "calc.py" and path == exercise.ROOT / "99-fake" / "calc.py"


def test_an_exercise_that_passes_unsolved_is_caught(fake_repo):
    ex = fake_repo("02-nothing-to-do", REAL)
    [problem] = exercise.verify([ex])
    assert "PASS on the starting files" in problem


def test_a_solution_that_fails_is_caught(fake_repo):
    ex = fake_repo("03-rotten", "def add(a, b):\n    return 0\n", "def add(a, b):\n    return 1\n")
    problems = exercise.verify([ex])
    assert any("FAIL (or skip) with the solution" in p for p in problems)


def test_a_solution_that_copies_the_stage_is_noise(fake_repo):
    ex = fake_repo("03-copy", "def add(a, b):\n    return 0\n", REAL)
    [problem] = exercise.verify([ex])
    assert "equals the stage's own file: remove it" in problem


def test_failing_for_the_wrong_reason_is_caught(fake_repo):
    ex = fake_repo("04-broken", "import no_such_module\n")
    [problem] = exercise.verify([ex])
    assert "for the wrong reason" in problem


def test_an_accepted_wrong_solution_is_caught(fake_repo):
    wrongs = {**WRONGS, "slow-but-right": ("Not wrong at all.", REAL)}
    ex = fake_repo("05-lenient", "def add(a, b):\n    return 0\n", wrongs=wrongs)
    [problem] = exercise.verify([ex])
    assert "ACCEPT the wrong solution wrong/slow-but-right (Not wrong at all.)" in problem


def test_fewer_than_three_wrong_solutions_is_caught(fake_repo):
    ex = fake_repo("06-few", "def add(a, b):\n    return 0\n",
                   wrongs={"subtracts": WRONGS["subtracts"]})
    [problem] = exercise.verify([ex])
    assert "keeps 1 wrong solution(s)" in problem
