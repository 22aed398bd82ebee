"""ormkit.grading: the kit's check() wired into nbgrader, tested for real.

The end-to-end test assigns lesson 03 with nbgrader, collects three submissions (all four
exercises solved with the solutions notebook's code; half of them; one whose answers raise, loop
forever, commit, drop a table, read the checker's code, redefine ``check`` and type in a cheat),
autogrades each in fresh kernels against its own scratch database and exports the gradebook CSV.
The instructor's database (``ORMKIT_DATABASE_URL``, a SQLite file here) must be byte for byte
unchanged afterwards.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ormkit import grading
from ormkit.config import DATA_DIR_ENV_VAR, environ
from ormkit.notebooks import KERNEL_DIED_AT_START, KERNEL_START_ATTEMPTS, NOTEBOOK_DIR, discover
from ormkit.student import student_notebook

LESSON = "03_queries"
CELL_TIMEOUT = 5  # seconds: the endless loop is interrupted after this

pytest.importorskip("nbgrader", reason="the grading extra: pip install -e '.[grading]'")


def test_grade_ids_round_trip() -> None:
    assert grading.grade_id("11.3") == "check-11-3"
    assert grading.exercise_of(grading.grade_id("11.3")) == "11.3"


def test_split_exercise() -> None:
    stub, line, exercise_id = grading.split_exercise(
        'n = 1\nanswer = ...  # your code here\nawait check("04.2", answer)\n'
    )
    assert (stub, line, exercise_id) == (
        "n = 1\nanswer = ...  # your code here",
        'await check("04.2", answer)',
        "04.2",
    )
    with pytest.raises(grading.GradingError, match=r"must end with .*'print\(answer\)'"):
        grading.split_exercise("answer = 1\nprint(answer)")


def test_every_lesson_has_a_source_version() -> None:
    """Each lesson's exercises become an answer cell (the solution) and a 1-point grade cell."""
    lessons = discover(solutions=False)
    assert lessons
    for path in lessons:
        solved = NOTEBOOK_DIR / "solutions" / path.name
        if not solved.is_file():
            continue
        lesson = nbformat.read(path, as_version=4)
        source = grading.source_notebook(lesson, nbformat.read(solved, as_version=4))
        nbformat.validate(source)
        exercise_cells = [c for c in lesson.cells if "exercise" in c.metadata.get("tags", [])]
        graded = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
        answers = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert len(graded) == len(answers) == len(exercise_cells) >= 2, path.name
        assert len(source.cells) == len(lesson.cells) + len(exercise_cells)
        for answer, grade in zip(answers, graded, strict=True):
            assert grade.source.startswith("await check(")
            assert grade.metadata.nbgrader["points"] == 1
            assert grade.metadata.nbgrader["locked"] is True
            assert "..." not in answer.source.split("\n")[-1], path.name  # a real answer


def test_missing_solution_is_a_clear_error() -> None:
    lesson = new_notebook(
        cells=[
            new_code_cell(
                'answer = ...\nawait check("03.1", answer)', metadata={"tags": ["exercise"]}
            )
        ]
    )
    with pytest.raises(grading.GradingError, match=r"exercise 03\.1 has no solution cell"):
        grading.source_notebook(lesson, new_notebook(cells=[new_markdown_cell("# none")]))


async def test_graded_check_raises_on_not_yet() -> None:
    from ormkit.exercises import check

    strict = grading.graded_check(check)
    with pytest.raises(grading.NotPassed, match=r"^❌ 03.1 .*There is no answer yet"):
        await strict("03.1", ...)


def test_verdicts_read_the_grade_cells(tmp_path: Path) -> None:
    def cell(meta: dict[str, Any], outputs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"cell_type": "code", "metadata": {"nbgrader": meta}, "outputs": outputs}

    error = {"output_type": "error", "ename": "RuntimeError", "evalue": "boom", "traceback": []}
    not_passed = {
        "output_type": "error",
        "ename": "NotPassed",
        "evalue": "❌ 03.2 x: not yet. wrong\n   Hint: h",
        "traceback": [],
    }
    correct = {"output_type": "execute_result", "data": {"text/plain": "✅ 03.1 x: correct."}}
    nb = {
        "cells": [
            cell({"solution": True}, []),
            cell({"grade": True, "grade_id": "check-03-1"}, [correct]),
            cell({"solution": True}, [error]),
            cell({"grade": True, "grade_id": "check-03-2"}, [not_passed]),
        ]
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert grading.verdicts(path) == {
        "check-03-1": "✅ 03.1 x: correct.",
        "check-03-2": "the answer cell raised RuntimeError: boom; ❌ 03.2 x: not yet. wrong",
    }


def test_collect_refuses_a_student_id_that_is_not_a_folder_name(tmp_path: Path) -> None:
    (tmp_path / "release" / LESSON).mkdir(parents=True)
    (tmp_path / "release" / LESSON / f"{LESSON}.ipynb").write_text("{}")
    with pytest.raises(grading.GradingError, match=r"student id '\.\./x'"):
        grading.collect(tmp_path, LESSON, {"../x": tmp_path / "nb.ipynb"})
    assert not (tmp_path / "submitted").exists()


def test_a_submission_is_graded_again_when_its_kernel_died_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel died before it ran anything (another process took one of its ports): grade again.
    # Any other failure is the submission's own, and stands.
    (tmp_path / "submitted" / "alice" / "03_queries").mkdir(parents=True)
    (tmp_path / "submitted" / "bob" / "03_queries").mkdir(parents=True)
    died = f"[AutogradeApp | ERROR] RuntimeError: {KERNEL_DIED_AT_START}"
    outputs = {"alice": [died, died, "graded"], "bob": ["ZeroDivisionError", "graded"]}
    databases: list[str] = []

    def nbgrader(course: Path, args: list[str], *, env: dict[str, str], timeout: float) -> Any:
        student = args[args.index("--student") + 1]
        databases.append(env[DATA_DIR_ENV_VAR])
        out = outputs[student].pop(0)
        return subprocess.CompletedProcess(args, 0 if out == "graded" else 1, out, "")

    monkeypatch.setattr(grading, "_nbgrader", nbgrader)
    graded = grading.autograde(tmp_path, "03_queries")
    assert [(g.student, g.ok) for g in graded] == [("alice", True), ("bob", False)]
    assert outputs == {"alice": [], "bob": ["graded"]}
    assert len(set(databases)) == len(databases) == 4  # a fresh scratch database each time

    outputs["alice"] = [died] * KERNEL_START_ATTEMPTS
    (graded,) = grading.autograde(tmp_path, "03_queries", students=["alice"])
    assert not graded.ok and KERNEL_DIED_AT_START in graded.message
    assert outputs["alice"] == []


def test_command_line_errors_are_one_line(tmp_path: Path) -> None:
    for args, message in [
        (["assign", "99"], "no single lesson matches '99'; lessons: 00_start_here, "),
        (["collect", LESSON, "alice"], "give each submission as STUDENT=PATH, not 'alice'"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "ormkit.grading", "--course", str(tmp_path), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1
        assert done.stderr.startswith(f"ormkit.grading: {message}"), done.stderr
        assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# End to end, with nbgrader


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def instructor_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The instructor's own database: the sample data in a SQLite file grading must not touch."""
    folder = tmp_path_factory.mktemp("instructor")
    db = folder / "instructor.db"
    url = f"sqlite+aiosqlite:///{db}"
    code = "import asyncio, ormkit\nasync def main():\n    await ormkit.reset()\n"
    code += "    await ormkit.kit.engine.dispose()\nasyncio.run(main())\n"
    with environ({"ORMKIT_DATABASE_URL": url}):
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return db


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("course")
    grading.init_course(folder, cell_timeout=CELL_TIMEOUT)
    return folder


@pytest.fixture(scope="module")
def release(course: Path) -> Path:
    return grading.assign(course, "03")


def test_student_version_is_the_ormkit_student_copy(release: Path) -> None:
    """nbgrader's release, each answer + grade cell pair joined, is `ormkit student`'s copy."""
    released = nbformat.read(release, as_version=4)
    copy, _, _ = student_notebook(nbformat.read(NOTEBOOK_DIR / f"{LESSON}.ipynb", as_version=4))
    joined = []
    cells = iter(released.cells)
    for cell in cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            grade = next(cells)
            assert grade.metadata.nbgrader["grade"] is True
            joined.append(cell.source + "\n" + grade.source)
        else:
            joined.append(cell.source)
    assert joined == [cell.source for cell in copy.cells]
    answers = [c for c in released.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert [c.source for c in answers] == ["answer = ...  # your code here"] * 4
    assert all(c.outputs == [] for c in released.cells if "exercise" in c.metadata.get("tags", []))


def _submission(release: Path, answers: dict[str, str], target: Path) -> Path:
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        exercise = cell.metadata.get("ormkit", {}).get("exercise")
        if cell.metadata.get("nbgrader", {}).get("solution") and exercise in answers:
            cell.source = answers[exercise]
    nbformat.write(nb, target)
    return target


def _solutions() -> dict[str, str]:
    solved = nbformat.read(NOTEBOOK_DIR / "solutions" / f"{LESSON}.ipynb", as_version=4)
    return grading.solutions(solved)


MALLORY = {
    # a crash
    "03.1": 'raise RuntimeError("boom")\nanswer = select(User)',
    # an endless loop, interrupted after CELL_TIMEOUT seconds
    "03.2": "while True:\n    pass",
    # a commit of her own (and the right answer): only her scratch database sees the row
    "03.3": (
        "async with async_session() as session:\n"
        '    session.add(User(name="Mallory", age=30))\n'
        "    await session.commit()\n\n"
        "{solution}"
    ),
    # DDL, reading the checker's code, redefining check, and a typed-in answer the checker refuses
    "03.4": (
        "import inspect\n"
        "import ormkit.exercises.lesson03 as checkers\n"
        "from sqlalchemy import text\n\n"
        "checker_code = inspect.getsource(checkers)\n"
        "async with engine.begin() as conn:\n"
        '    await conn.execute(text("CREATE TABLE mallory (id INTEGER)"))\n\n'
        "async def check(*args, **kwargs):\n"
        '    return "✅ correct"\n\n'
        "answer = select(User).where(User.id.in_([4, 6, 8, 10, 13])).order_by(User.id)"
    ),
}

EXPECTED_POINTS = {
    "alice": {"03.1": 1, "03.2": 1, "03.3": 1, "03.4": 1},
    "bob": {"03.1": 1, "03.2": 1, "03.3": 0, "03.4": 0},
    "mallory": {"03.1": 0, "03.2": 0, "03.3": 1, "03.4": 0},
}


def test_end_to_end_gradebook(
    course: Path, release: Path, instructor_db: Path, tmp_path: Path
) -> None:
    solution = _solutions()
    assert sorted(solution) == ["03.1", "03.2", "03.3", "03.4"]
    mallory = {k: v.replace("{solution}", solution["03.3"]) for k, v in MALLORY.items()}
    submissions = {
        "alice": _submission(release, solution, tmp_path / "alice.ipynb"),
        "bob": _submission(
            release, {k: solution[k] for k in ("03.1", "03.2")}, tmp_path / "bob.ipynb"
        ),
        "mallory": _submission(release, mallory, tmp_path / "mallory.ipynb"),
    }
    grading.collect(course, LESSON, submissions)
    before = _sha256(instructor_db)
    started = time.perf_counter()
    with environ({"ORMKIT_DATABASE_URL": f"sqlite+aiosqlite:///{instructor_db}"}):
        # Mallory first: nothing she does may reach the submissions graded after her.
        graded = grading.autograde(course, LESSON, students=["mallory", "alice", "bob"])
    seconds = time.perf_counter() - started
    assert [(g.student, g.ok) for g in graded] == [
        ("mallory", True),
        ("alice", True),
        ("bob", True),
    ]
    csv_path = tmp_path / "grades.csv"
    rows = grading.export(course, csv_path, assignment=LESSON)
    print(f"autograded 3 submissions in {seconds:.1f}s\n{csv_path.read_text()}")

    with csv_path.open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == grading.CSV_COLUMNS
    points = {
        student: {r["exercise"]: int(r["points"]) for r in table if r["student"] == student}
        for student in EXPECTED_POINTS
    }
    assert points == EXPECTED_POINTS
    assert len(table) == 12
    assert {r["max_points"] for r in table} == {"1"}
    assert [r.verdict for r in rows] == [r["verdict"] for r in table]
    verdict = {(r["student"], r["exercise"]): r["verdict"] for r in table}
    assert verdict["alice", "03.4"].startswith("✅ 03.4 users older than the average age")
    assert verdict["bob", "03.3"].startswith("❌ 03.3 ")
    assert "There is no answer yet" in verdict["bob", "03.3"]
    assert verdict["mallory", "03.1"].startswith("the answer cell raised RuntimeError: boom; ")
    assert verdict["mallory", "03.2"].startswith(
        "the answer cell ran past the time limit and was interrupted; "
    )
    assert verdict["mallory", "03.3"].startswith("✅ 03.3 ")
    assert verdict["mallory", "03.4"].startswith("❌ 03.4 ")
    assert "don't type it in" in verdict["mallory", "03.4"]

    # The instructor's database is untouched, and no scratch database is left behind.
    assert _sha256(instructor_db) == before
    assert not list(Path(course).rglob("*.db-wal"))
    counts = asyncio.run(_counts(instructor_db))
    assert counts == {"users": 13, "posts": 16}


async def _counts(db: Path) -> dict[str, int]:
    from ormkit import kit
    from ormkit.db import row_counts

    async with kit.using(f"sqlite+aiosqlite:///{db}") as engine:
        return dict(await row_counts(engine) or {})
