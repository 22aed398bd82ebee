"""Student copies: solution cells removed, exercise outputs cleared, and the copies still run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ormkit import cli
from ormkit.notebooks import NOTEBOOK_DIR
from ormkit.student import (
    StudentCopyError,
    student_notebook,
    student_sources,
    write_student_copies,
)


def _cell(source: str, *tags: str, output: str | None = None, count: int | None = None):
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)} if tags else {})
    if output is not None:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
        cell.execution_count = count
    return cell


def _lesson(path: Path) -> Path:
    """A small lesson shaped like the real ones: lesson code, an exercise, its solution."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 · A lesson"),
        _cell("x = 20\nprint(x)", output="20\n", count=1),
        nbformat.v4.new_markdown_cell("**Exercise 1.** Double `x`."),
        _cell("answer = None  # your code here\nprint(answer)", "exercise", output="40\n", count=2),
        _cell("answer = x * 2\nprint(answer)", "solution", output="40\n", count=3),
        _cell("print('done')", output="done\n", count=4),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def lessons(tmp_path: Path) -> Path:
    root = tmp_path / "notebooks"
    _lesson(root / "01_lesson.ipynb")
    _lesson(root / "solutions" / "01_lesson.ipynb")
    _lesson(root / "exercises" / "01_extra.ipynb")
    return root


def test_student_notebook_removes_solutions_and_clears_exercises(lessons: Path) -> None:
    nb = nbformat.read(lessons / "01_lesson.ipynb", as_version=4)
    copy, removed, cleared = student_notebook(nb)
    assert (removed, cleared) == (1, 1)
    sources = [cell.source for cell in copy.cells]
    assert "answer = x * 2\nprint(answer)" not in sources
    exercise = next(c for c in copy.cells if "exercise" in c.metadata.get("tags", []))
    assert exercise.outputs == []
    assert exercise.execution_count is None
    assert exercise.source.startswith("answer = None")
    kept = copy.cells[1]
    assert kept.outputs[0]["text"] == "20\n"  # other cells keep their outputs
    assert len(nb.cells) == 6  # the original is untouched
    nbformat.validate(copy)


def test_write_student_copies_keeps_layout_and_skips_solutions(
    lessons: Path, tmp_path: Path
) -> None:
    out = tmp_path / "student"
    written = write_student_copies(out, root=lessons)
    assert sorted(p.path.relative_to(out).as_posix() for p in written) == [
        "01_lesson.ipynb",
        "exercises/01_extra.ipynb",
    ]
    assert not (out / "solutions").exists()
    nb = nbformat.read(out / "01_lesson.ipynb", as_version=4)
    assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)


def test_refuses_the_lessons_own_folders(lessons: Path) -> None:
    for target in (lessons, lessons / "solutions", lessons / "exercises"):
        with pytest.raises(StudentCopyError, match="where the lessons live"):
            write_student_copies(target, root=lessons, force=True)
    assert len(nbformat.read(lessons / "01_lesson.ipynb", as_version=4).cells) == 6


def test_refuses_a_non_empty_folder_without_force(lessons: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(StudentCopyError, match="--force"):
        write_student_copies(out, root=lessons)
    assert write_student_copies(out, root=lessons, force=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_cli_refuses_notebooks_dir(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["student", str(NOTEBOOK_DIR), "--force"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ormkit student: error: refusing")
    assert err.count("\n") == 1


def test_cli_reports_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "student"
    assert cli.main(["student", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    lessons = student_sources(NOTEBOOK_DIR)
    assert lines[-1] == f"wrote {len(lessons)} student notebook(s) to {out}"
    assert {p.name for p in out.glob("*.ipynb")} == {
        p.name for p in lessons if p.parent == NOTEBOOK_DIR
    }


def _nbval_lax(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ORMKIT_DATA_DIR": str(tmp_path / "data"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    env.pop("ORMKIT_DATABASE_URL", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(folder),
            str(folder),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_student_copies_run_under_nbval_lax(lessons: Path, tmp_path: Path) -> None:
    """The synthetic lesson's copy runs, and so does every real lesson's copy."""
    out = tmp_path / "student"
    write_student_copies(out / "synthetic", root=lessons)
    write_student_copies(out / "real")
    result = _nbval_lax(out, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_force_replaces_a_symlink_instead_of_writing_through_it(
    lessons: Path, tmp_path: Path
) -> None:
    # A link in the output folder that points at a lesson must not get the student copy written
    # into the lesson itself.
    out = tmp_path / "out"
    first = write_student_copies(out, root=lessons)
    target = first[0].path
    original = lessons / target.relative_to(out)
    before = original.read_bytes()
    target.unlink()
    target.symlink_to(original)
    write_student_copies(out, root=lessons, force=True)
    assert original.read_bytes() == before
    assert not target.is_symlink()
    assert not list(out.rglob("*.partial"))


def test_a_subfolder_linked_into_the_lessons_is_refused(lessons: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "exercises").symlink_to(lessons / "exercises", target_is_directory=True)
    before = {p: p.read_bytes() for p in lessons.rglob("*.ipynb")}
    with pytest.raises(StudentCopyError, match="lessons live"):
        write_student_copies(out, root=lessons, force=True)
    assert {p: p.read_bytes() for p in lessons.rglob("*.ipynb")} == before
