"""Grade the lessons' exercises with nbgrader: student versions, autograding, a gradebook CSV.

An nbgrader course folder holds ``source/``, ``release/``, ``submitted/`` and ``autograded/``
(one folder per assignment, here per lesson: ``03_queries``) and ``gradebook.db``. This module
wires the kit's :func:`ormkit.exercises.check` into it:

- :func:`assign` builds the nbgrader *source* of a lesson from the lesson and its solutions
  notebook (the cells tagged ``exercise`` in the lesson and ``solution`` in the solutions: the tags
  :mod:`ormkit.student` reads, so there is one definition of what a solution is), then runs
  ``nbgrader generate_assignment``. Each exercise cell becomes an answer cell (the solution in the
  source, the lesson's stub in the release) and a locked grade cell, ``await check("03.1",
  answer)``, worth one point; the release is the ``ormkit student`` copy with each exercise cell
  split in two.
- :func:`collect` puts submitted notebooks where nbgrader reads them.
- :func:`autograde` runs ``nbgrader autograde`` once per submission, in fresh kernels, each with its
  own scratch database (``ORMKIT_DATA_DIR``, removed afterwards; ``ORMKIT_DATABASE_URL`` unset), a
  per-cell timeout that interrupts an endless loop, and a timeout for the whole submission. In
  those kernels a ``check`` that is not passed raises, so nbgrader scores the grade cell 0, and
  ``check`` is put back before every cell, so an answer cell cannot redefine it. The kit's own
  files and the other submissions' grades are compared before and after each submission.
- :func:`export` writes the gradebook as CSV, one row per student and exercise, with the points
  and the verdict line (``nbgrader export --exporter ormkit.grading.ExerciseCsvExport``).

Submissions run as the instructor's user: like nbgrader itself, this is isolation for honest
mistakes (a crash, a loop, a commit, a dropped table), not a sandbox for hostile code; grade
untrusted notebooks in a container or as a separate account.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import DATA_DIR_ENV_VAR, ENV_VAR
from .notebooks import KERNEL_DIED_AT_START, KERNEL_START_ATTEMPTS
from .student import EXERCISE_TAG, SOLUTION_TAG

CELL_TIMEOUT = 30  # seconds a cell may run before nbgrader interrupts it (an endless loop)
SUBMISSION_TIMEOUT = 900  # seconds for one submission, all cells; then its processes are killed
POINTS = 1  # per exercise
CHECK_LINE = re.compile(r'^await check\("(?P<id>\d\d\.\d+)", answer\)\s*$')
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}")
_PACKAGE = Path(__file__).resolve().parent

# The grading kernels' start-up file: a check that is not passed raises, and `check` (in the
# notebook's namespace and in the kit) plus the exercise registry are put back before each cell.
_STARTUP = """\
# Written by ormkit.grading for nbgrader's kernels.
from ormkit.grading import install_grading_hooks as _install

_install(get_ipython())
del _install
"""


class GradingError(Exception):
    """The course cannot be prepared or graded as asked; the message says why."""


class NotPassed(AssertionError):
    """Raised in a grading kernel by a ``check`` whose verdict is "not yet" (scores 0)."""


def _tags(cell: dict[str, Any]) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def grade_id(exercise_id: str) -> str:
    """nbgrader's id of an exercise's grade cell (letters, digits, ``-`` and ``_`` only).

    Example:
        >>> grade_id("03.1"), exercise_of("check-03-1")
        ('check-03-1', '03.1')
    """
    return "check-" + exercise_id.replace(".", "-")


def exercise_of(cell_grade_id: str) -> str:
    """The exercise id (``03.1``) of a grade cell id made by :func:`grade_id`."""
    return cell_grade_id.removeprefix("check-").replace("-", ".", 1)


def split_exercise(source: str) -> tuple[str, str, str]:
    """Split an exercise cell into ``(stub, check line, exercise id)``.

    The check line is the cell's last line, ``await check("NN.k", answer)``.
    """
    lines = source.rstrip("\n").split("\n")
    match = CHECK_LINE.match(lines[-1])
    if match is None:
        raise GradingError(
            f'an exercise cell must end with `await check("NN.k", answer)`; this one ends with '
            f"{lines[-1]!r}"
        )
    return "\n".join(lines[:-1]).rstrip("\n"), lines[-1], match.group("id")


def solutions(nb: Any) -> dict[str, str]:
    """The code of each solution cell (tagged ``solution``) without its check line, by id."""
    found = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and SOLUTION_TAG in _tags(cell):
            code, _, exercise_id = split_exercise(cell.source)
            found[exercise_id] = code
    return found


def source_notebook(lesson: Any, solved: Any, *, points: int = POINTS) -> Any:
    """Return nbgrader's source version of ``lesson``, with the answers from ``solved``.

    Each code cell tagged ``exercise`` becomes two cells: an answer cell (nbgrader ``solution``;
    its source is the worked solution, its stub the lesson's code above the check line) and a
    locked, autograded grade cell holding the check line. Every other cell is kept as it is.
    """
    from nbformat.v4 import new_code_cell

    answers = solutions(solved)
    result = copy.deepcopy(lesson)
    cells = []
    for cell in result.cells:
        if cell.cell_type != "code" or EXERCISE_TAG not in _tags(cell):
            cells.append(cell)
            continue
        stub, check_line, exercise_id = split_exercise(cell.source)
        if exercise_id not in answers:
            raise GradingError(f"exercise {exercise_id} has no solution cell in the solutions")
        base = {"schema_version": 3, "task": False}
        answer = new_code_cell(
            answers[exercise_id],
            metadata={
                "tags": [EXERCISE_TAG],
                "ormkit": {"exercise": exercise_id, "stub": stub},
                "nbgrader": {
                    **base,
                    "grade": False,
                    "solution": True,
                    "locked": False,
                    "grade_id": "answer-" + exercise_id.replace(".", "-"),
                },
            },
        )
        grade = new_code_cell(
            check_line,
            metadata={
                "tags": [EXERCISE_TAG],
                "ormkit": {"exercise": exercise_id},
                "nbgrader": {
                    **base,
                    "grade": True,
                    "solution": False,
                    "locked": True,
                    "points": points,
                    "grade_id": grade_id(exercise_id),
                },
            },
        )
        cells += [answer, grade]
    result.cells = cells
    for cell in result.cells:
        cell.pop("id", None)
    result.nbformat_minor = 4  # no cell ids: nbgrader copies cells around
    return result


def _lesson_paths(lesson: str | Path, lessons: Path | None) -> tuple[Path, Path]:
    from .notebooks import NOTEBOOK_DIR

    base = lessons if lessons is not None else NOTEBOOK_DIR
    name = Path(lesson).name
    if not name.endswith(".ipynb"):
        matches = sorted(base.glob(f"{name}*.ipynb"))
        if len(matches) != 1:
            known = ", ".join(p.stem for p in sorted(base.glob("[0-9][0-9]_*.ipynb")))
            raise GradingError(f"no single lesson matches {lesson!r}; lessons: {known}")
        name = matches[0].name
    path, solved = base / name, base / "solutions" / name
    for needed in (path, solved):
        if not needed.is_file():
            raise GradingError(f"{needed} does not exist")
    return path, solved


def init_course(course: Path, *, cell_timeout: int = CELL_TIMEOUT) -> Path:
    """Create (or update) the nbgrader course folder ``course`` and its ``nbgrader_config.py``."""
    course.mkdir(parents=True, exist_ok=True)
    config = course / "nbgrader_config.py"
    config.write_text(
        f"""\
# Written by ormkit.grading (python -m ormkit.grading init); safe to extend.
c = get_config()  # noqa: F821
c.CourseDirectory.root = {str(course.resolve())!r}
# The student version keeps the lesson's outputs (as `ormkit student` does) and takes each
# exercise's stub from the lesson.
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "ormkit.grading.LessonStubs",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Execute.timeout = {int(cell_timeout)}  # seconds per cell; an endless loop is interrupted
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True
c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
c.ExportApp.plugin_class = "ormkit.grading.ExerciseCsvExport"
""",
        encoding="utf-8",
    )
    return config


def _nbgrader(
    course: Path,
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nbgrader", *args]
    env = dict(os.environ if env is None else env)
    # nbgrader runs `alembic` (its gradebook's migrations) from PATH: this Python's scripts first.
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    process = subprocess.Popen(
        command,
        cwd=course,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its kernels too: one process group to stop
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        out, _ = process.communicate()
        raise
    finally:
        _kill_group(process)  # a kernel or a child left behind by a submission
    return subprocess.CompletedProcess(command, process.returncode, out, "")


def _kill_group(process: subprocess.Popen[str]) -> None:
    killpg = getattr(os, "killpg", None)
    if killpg is None:  # Windows
        if process.poll() is None:
            process.kill()
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        killpg(process.pid, signal.SIGKILL)


def assign(course: Path, lesson: str | Path, *, lessons: Path | None = None) -> Path:
    """Write the nbgrader source of ``lesson`` and generate its student version; return it.

    ``lesson`` is a lesson's number or name (``"03"``, ``"03_queries"``); the student version is
    ``COURSE/release/03_queries/03_queries.ipynb``.
    """
    import nbformat

    lesson_path, solved_path = _lesson_paths(lesson, lessons)
    if not (course / "nbgrader_config.py").is_file():
        init_course(course)
    nb = source_notebook(
        nbformat.read(lesson_path, as_version=4), nbformat.read(solved_path, as_version=4)
    )
    assignment = lesson_path.stem
    source = course / "source" / assignment / lesson_path.name
    source.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, source)
    done = _nbgrader(course, ["generate_assignment", assignment, "--force"])
    release = course / "release" / assignment / lesson_path.name
    if done.returncode != 0 or not release.is_file():
        raise GradingError(f"nbgrader generate_assignment {assignment} failed:\n{done.stdout}")
    return release


def collect(course: Path, assignment: str, submissions: dict[str, Path]) -> list[Path]:
    """Copy each student's notebook (``{student: path}``) to ``submitted/`` for nbgrader."""
    released = sorted((course / "release" / assignment).glob("*.ipynb"))
    if len(released) != 1:
        raise GradingError(f"{assignment} has not been assigned yet (run assign first)")
    name = released[0].name
    written = []
    for student, path in submissions.items():
        if not STUDENT_ID.fullmatch(student):
            raise GradingError(
                f"student id {student!r}: use letters, digits and _ . @ + - (it names a folder)"
            )
        if not path.is_file():
            raise GradingError(f"{student}: {path} does not exist")
        target = course / "submitted" / student / assignment / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    return written


@dataclass(frozen=True)
class Graded:
    """One submission autograded: how it went."""

    student: str
    ok: bool
    message: str = ""


def _kit_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _grades(course: Path, assignment: str) -> dict[tuple[str, str], float | None]:
    rows = {}
    for row in _gradebook_rows(course, assignment):
        rows[(row.student, row.grade_id)] = row.score
    return rows


def _startup_dir(folder: Path) -> Path:
    startup = folder / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-ormkit-grading.py").write_text(_STARTUP, encoding="utf-8")
    return folder


def autograde(
    course: Path,
    assignment: str,
    *,
    students: Sequence[str] | None = None,
    submission_timeout: float = SUBMISSION_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> list[Graded]:
    """Autograde each submitted notebook of ``assignment``, one nbgrader run per student."""
    submitted = course / "submitted"
    found = (
        sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir())
        if (submitted.is_dir())
        else []
    )
    chosen = list(students) if students is not None else found
    missing = sorted(set(chosen) - set(found))
    if missing:
        raise GradingError(f"no submission of {assignment} from {', '.join(missing)}")
    results = []
    kit = _kit_digest()
    for student in chosen:
        if progress:
            progress(student)
        before = {k: v for k, v in _grades(course, assignment).items() if k[0] != student}
        try:
            done = _autograde_one(course, assignment, student, submission_timeout)
        except subprocess.TimeoutExpired:
            results.append(Graded(student, False, f"stopped after {submission_timeout:g}s"))
            continue
        if _kit_digest() != kit:
            raise GradingError(
                f"grading {student}'s submission changed the kit's files in {_PACKAGE}: restore "
                "them (git checkout, or reinstall ormkit) before grading anything else"
            )
        after = {k: v for k, v in _grades(course, assignment).items() if k[0] != student}
        if after != before:
            raise GradingError(
                f"grading {student}'s submission changed other students' grades in the "
                "gradebook: grade again from a clean course folder"
            )
        ok = done.returncode == 0
        results.append(Graded(student, ok, "" if ok else done.stdout[-2000:]))
    return results


def _autograde_one(
    course: Path, assignment: str, student: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``nbgrader autograde`` of one submission, on a scratch database of its own.

    Run again (up to ``KERNEL_START_ATTEMPTS`` times) when a kernel died before it answered,
    which happens when another process took one of the ports it was told to bind
    (:func:`ormkit.notebooks.start_kernel`): none of the submission had run.
    """
    for _ in range(KERNEL_START_ATTEMPTS):
        with tempfile.TemporaryDirectory(prefix="ormkit-grade-") as tmp:
            env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
            env[DATA_DIR_ENV_VAR] = str(Path(tmp) / "data")  # this submission's database
            env["IPYTHONDIR"] = str(_startup_dir(Path(tmp) / "ipython"))
            env.pop("JUPYTERHUB_USER", None)
            args = ["autograde", assignment, "--student", student, "--force"]
            done = _nbgrader(course, args, env=env, timeout=timeout)
        if done.returncode == 0 or KERNEL_DIED_AT_START not in done.stdout:
            break
    return done


@dataclass(frozen=True)
class Row:
    """One line of the gradebook: a student's points for one exercise, and the verdict."""

    student: str
    assignment: str
    exercise: str
    points: float
    max_points: float
    verdict: str
    grade_id: str = ""
    score: float | None = None


def _gradebook_rows(course: Path, assignment: str | None = None) -> list[Row]:
    from nbgrader.api import Gradebook

    db = course / "gradebook.db"
    if not db.is_file():
        return []
    rows = []
    with Gradebook(f"sqlite:///{db}") as gb:
        for a in gb.assignments:
            if assignment is not None and a.name != assignment:
                continue
            for submission in a.submissions:
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        if not grade.auto_score and grade.auto_score != 0:
                            score = None
                        else:
                            score = grade.score
                        rows.append(
                            Row(
                                student=submission.student.id,
                                assignment=a.name,
                                exercise=exercise_of(grade.name),
                                points=float(grade.score or 0),
                                max_points=float(grade.max_score),
                                verdict="",
                                grade_id=grade.name,
                                score=score,
                            )
                        )
    return rows


def _output_text(output: dict[str, Any]) -> str:
    if output.get("output_type") == "error":
        value = str(output.get("evalue", ""))
        if output.get("ename") == NotPassed.__name__:
            return value
        return f"{output.get('ename')}: {value}".rstrip(": ")
    data = output.get("data", {})
    text = data.get("text/plain") or output.get("text") or ""
    return "".join(text) if isinstance(text, list) else str(text)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def verdicts(notebook: Path) -> dict[str, str]:
    """The verdict line of each exercise in an autograded notebook, by grade cell id.

    A grade cell's own output is the check's verdict; when it is not passed and the answer cell
    above it raised (a crash, an interrupted endless loop), that error comes first.
    """
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    found = {}
    previous_error = ""
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if meta.get("solution"):
            names = {e.get("ename") for e in errors}
            if names & {"KeyboardInterrupt", "CellTimeoutError"}:
                previous_error = "the answer cell ran past the time limit and was interrupted"
            elif errors:
                previous_error = f"the answer cell raised {_first_line(_output_text(errors[0]))}"
            else:
                previous_error = ""
            continue
        if meta.get("grade") and meta.get("grade_id"):
            outputs = errors or [
                o for o in cell.get("outputs", []) if o.get("output_type") == "execute_result"
            ]
            line = _first_line(_output_text(outputs[0])) if outputs else "(no output)"
            if errors and previous_error:
                line = f"{previous_error}; {line}"
            found[meta["grade_id"]] = line
            previous_error = ""
    return found


def gradebook(course: Path, assignment: str | None = None) -> list[Row]:
    """Every graded exercise of every student (of ``assignment``), sorted, with its verdict."""
    rows = []
    for row in _gradebook_rows(course, assignment):
        autograded = course / "autograded" / row.student / row.assignment
        lines: dict[str, str] = {}
        for path in sorted(autograded.glob("*.ipynb")):
            lines.update(verdicts(path))
        rows.append(
            Row(
                row.student,
                row.assignment,
                row.exercise,
                row.points,
                row.max_points,
                lines.get(row.grade_id, "(not graded)"),
                row.grade_id,
                row.score,
            )
        )
    return sorted(rows, key=lambda r: (r.assignment, r.student, r.exercise))


CSV_COLUMNS = ["student", "assignment", "exercise", "points", "max_points", "verdict"]


def write_csv(rows: Sequence[Row], to: Path) -> None:
    """Write ``rows`` as the gradebook CSV (``CSV_COLUMNS``), complete or not at all."""
    partial = to.with_name(to.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row.student,
                    row.assignment,
                    row.exercise,
                    f"{row.points:g}",
                    f"{row.max_points:g}",
                    row.verdict,
                ]
            )
    partial.replace(to)


def export(course: Path, to: Path, *, assignment: str | None = None) -> list[Row]:
    """Write the gradebook CSV with ``nbgrader export`` (through :class:`ExerciseCsvExport`)."""
    args = ["export", "--to", str(to.resolve())]
    if assignment:
        args += ["--assignment", json.dumps([assignment])]
    done = _nbgrader(course, args)
    if done.returncode != 0 or not to.is_file():
        raise GradingError(f"nbgrader export failed:\n{done.stdout}")
    return gradebook(course, assignment)


def _export_plugin_base() -> type:
    try:
        from nbgrader.plugins import ExportPlugin
    except ImportError:  # the grading extra is not installed: the rest still imports
        return object
    return ExportPlugin  # type: ignore[no-any-return]


class ExerciseCsvExport(_export_plugin_base()):  # type: ignore[misc]
    """nbgrader exporter: one CSV row per student and exercise, with the verdict line."""

    def export(self, gradebook_: Any) -> None:  # nbgrader's ExportPlugin interface
        root = Path(self.parent.coursedir.root)
        chosen: list[str | None] = [str(a) for a in self.assignment] or [None]
        rows = [row for name in chosen for row in gradebook(root, name)]
        if self.student:
            rows = [row for row in rows if row.student in {str(s) for s in self.student}]
        write_csv(rows, Path(self.to or "grades.csv"))


def _clear_solutions_base() -> type:
    try:
        from nbgrader.preprocessors import ClearSolutions
    except ImportError:
        return object
    return ClearSolutions  # type: ignore[no-any-return]


class LessonStubs(_clear_solutions_base()):  # type: ignore[misc]
    """nbgrader's ClearSolutions, with each answer cell's stub taken from the lesson."""

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        stub = cell.get("metadata", {}).get("ormkit", {}).get("stub")
        if stub is not None and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = stub
            return cell, resources
        return super().preprocess_cell(cell, resources, index)  # type: ignore[no-any-return]


def graded_check(
    check: Callable[[str, Any], Awaitable[Any]],
) -> Callable[..., Awaitable[Any]]:
    """Wrap ``check`` so that a verdict that is not passed raises :class:`NotPassed`."""

    async def check_or_fail(exercise_id: str, answer: Any = None) -> Any:
        verdict = await check(exercise_id, answer)
        if not verdict:
            raise NotPassed(repr(verdict))
        return verdict

    check_or_fail.__doc__ = check.__doc__
    check_or_fail.__wrapped__ = check  # type: ignore[attr-defined]
    return check_or_fail


def install_grading_hooks(shell: Any) -> None:
    """In a grading kernel: failing checks raise, and ``check`` is restored before every cell."""
    import ormkit
    import ormkit.exercises as exercises

    exercises.exercises()  # load every lesson's checkers now, before any learner code runs
    original = exercises.check
    strict = graded_check(original)
    registry = dict(exercises.REGISTRY)

    def restore(*_: Any) -> None:
        exercises.check = strict  # type: ignore[assignment]
        ormkit.check = strict
        exercises.REGISTRY.clear()
        exercises.REGISTRY.update(registry)
        if "check" in shell.user_ns:
            shell.user_ns["check"] = strict

    restore()
    shell.events.register("pre_run_cell", restore)


@contextlib.contextmanager
def _stdout_progress() -> Iterator[Callable[[str], None]]:
    yield lambda student: print(f"grading {student} ...", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ormkit.grading``: init, assign, collect, autograde, export."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ormkit.grading",
        description="Grade the lessons' exercises with nbgrader.",
    )
    parser.add_argument("--course", type=Path, default=Path("course"), help="course folder")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("assign", help="write a lesson's source and student version")
    p.add_argument("lesson", help="a lesson, e.g. 03 or 03_queries")
    p = sub.add_parser("collect", help="add submitted notebooks: STUDENT=PATH ...")
    p.add_argument("assignment")
    p.add_argument("submissions", nargs="+", metavar="STUDENT=PATH")
    p = sub.add_parser("autograde", help="grade the submissions, each in fresh kernels")
    p.add_argument("assignment")
    p.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
    p = sub.add_parser("export", help="write the gradebook CSV")
    p.add_argument("--to", type=Path, default=Path("grades.csv"))
    p.add_argument("--assignment")
    args = parser.parse_args(argv)
    course: Path = args.course
    try:
        if args.command == "assign":
            print(assign(course, args.lesson))
        elif args.command == "collect":
            bad = [item for item in args.submissions if "=" not in item]
            if bad:
                raise GradingError(f"give each submission as STUDENT=PATH, not {bad[0]!r}")
            pairs = dict(item.split("=", 1) for item in args.submissions)
            for path in collect(course, args.assignment, {k: Path(v) for k, v in pairs.items()}):
                print(path)
        elif args.command == "autograde":
            init_course(course, cell_timeout=args.timeout)
            with _stdout_progress() as progress:
                graded = autograde(course, args.assignment, progress=progress)
            for g in graded:
                print(f"{g.student}: {'graded' if g.ok else 'FAILED ' + g.message}")
        else:
            for row in export(course, args.to, assignment=args.assignment):
                print(
                    f"{row.student:12} {row.exercise:6} {row.points:g}/{row.max_points:g}  "
                    f"{row.verdict}"
                )
    except GradingError as exc:
        print(f"ormkit.grading: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
