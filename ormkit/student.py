"""Student copies of the lessons: solutions removed, exercise outputs cleared (``ormkit student``).

A lesson marks its cells with tags (Cell → Property Inspector → Cell Tags in JupyterLab):

- ``solution``: the cell is dropped from the student copy;
- ``exercise``: the cell stays, but its outputs and execution count are cleared, so the copy does
  not give away what the answer prints.

Everything else is copied unchanged, so the copies still open and run (``tests/test_student.py``
runs them under ``pytest --nbval-lax``). The worked solutions in ``notebooks/solutions/`` are
never copied. :mod:`ormkit.grading` reads the same two tags (and these constants) to build the
nbgrader version of a lesson, whose student copy is this one with each exercise cell split into
an answer cell and a grade cell (``tests/test_grading.py`` compares them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
SUBFOLDERS = ("exercises",)  # copied beside the lessons; ``solutions/`` never is


class StudentCopyError(Exception):
    """The student copies cannot be written where asked; the message says why."""


@dataclass
class Written:
    """One student notebook written: where, and what was removed or cleared."""

    path: Path
    removed: int
    cleared: int


def _tags(cell: dict[str, Any]) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def student_notebook(nb: Any) -> tuple[Any, int, int]:
    """Return ``(copy, removed, cleared)``: ``nb`` without solution cells, exercise outputs cleared.

    Example:
        >>> from nbformat.v4 import new_code_cell, new_notebook
        >>> nb = new_notebook(cells=[
        ...     new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        ...     new_code_cell("answer", metadata={"tags": ["exercise"]}, execution_count=1),
        ... ])
        >>> copy, removed, cleared = student_notebook(nb)
        >>> removed, cleared, [cell.source for cell in copy.cells]
        (1, 1, ['answer'])
    """
    import copy as _copy

    result = _copy.deepcopy(nb)
    kept = []
    removed = cleared = 0
    for cell in result.cells:
        tags = _tags(cell)
        if SOLUTION_TAG in tags:
            removed += 1
            continue
        if EXERCISE_TAG in tags and cell.cell_type == "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                cleared += 1
            cell.outputs = []
            cell.execution_count = None
            cell.get("metadata", {}).pop("execution", None)
        kept.append(cell)
    result.cells = kept
    return result, removed, cleared


def student_sources(root: Path) -> list[Path]:
    """Return the notebooks to copy: the lessons, then any in ``exercises/``; never solutions."""
    from .notebooks import discover

    found = discover(root, solutions=False)
    for folder in SUBFOLDERS:
        found += sorted((root / folder).glob("*.ipynb"))
    return found


def _check_target(out_dir: Path, root: Path, *, force: bool) -> None:
    target = out_dir.resolve()
    lessons = root.resolve()
    protected = [lessons, *(lessons / name for name in (*SUBFOLDERS, "solutions"))]
    if target in protected:
        raise StudentCopyError(
            f"refusing to write student copies into {out_dir}: that is where the lessons live "
            "and the copies would replace them; choose another folder (e.g. notebooks/student)"
        )
    if target.exists() and not target.is_dir():
        raise StudentCopyError(f"{out_dir} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise StudentCopyError(
            f"{out_dir} is not empty; choose an empty folder or add --force to overwrite"
        )


def write_student_copies(
    out_dir: Path, *, root: Path | None = None, force: bool = False
) -> list[Written]:
    """Write a student copy of every lesson under ``out_dir`` (same relative layout).

    Raises :class:`StudentCopyError` for the lessons' own folder, or a non-empty folder
    without ``force``.
    """
    import nbformat

    from .notebooks import NOTEBOOK_DIR

    base = root if root is not None else NOTEBOOK_DIR
    _check_target(out_dir, base, force=force)
    sources = student_sources(base)
    if not sources:
        raise StudentCopyError(f"no lessons found in {base}")
    written = []
    for source in sources:
        nb = nbformat.read(source, as_version=4)
        copy, removed, cleared = student_notebook(nb)
        nbformat.validate(copy)
        target = out_dir / source.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        _check_target(target.parent, base, force=True)  # a linked subfolder into the lessons
        # Write beside, then rename: a symlink already at ``target`` is replaced, never followed
        # (it could point at a lesson), and an interrupted run leaves no half-written notebook.
        partial = target.with_name(target.name + ".partial")
        nbformat.write(copy, partial)
        os.replace(partial, target)
        written.append(Written(target, removed, cleared))
    return written
