"""Exercises and their checker: ``await check("03.1", your_answer)``.

Each lesson's exercises live in a module of this package named ``lessonNN`` and register
themselves with :func:`exercise`. A checker looks at the learner's answer (a statement, a value,
a DataFrame, the state of the database...) and raises :class:`Wrong` with what is wrong and a
nudge; it never reveals the answer. :func:`check` turns that into a :class:`Verdict`, which a
notebook displays as one line.

Checking is hermetic and thorough: :func:`check` runs the checker once per dataset the exercise
names (the sample data and variations made to catch cheats, :mod:`._datasets`), each time on a
scratch database of the learner's kind with the kit pointed at it (:mod:`._scratch`). The
learner's database is never written; an answer that commits where the exercise does not ask for
it is told so; tasks and connections an answer leaves behind are cleaned up inside the check.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import re
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import PendingRollbackError
from sqlalchemy.orm.exc import DetachedInstanceError

from ._datasets import SAMPLE, Dataset
from ._scratch import (
    fingerprint,
    learner_backup,
    learner_in_memory,
    on_dataset,
    scratch_database,
)

Checker = Callable[[Any], Awaitable[None]]


class Wrong(Exception):  # not "WrongError": reads naturally in checkers, raise Wrong("...")
    """Raised by a checker: the answer is not right yet; the message says what is wrong."""


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    hint: str
    checker: Checker
    # The data the checker runs on, each in a scratch database of its own (see ._datasets).
    datasets: tuple[Dataset, ...] = ()
    # True if the answer is meant to commit (its own sessions): otherwise a commit is a mistake.
    commits: bool = False


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`check`; true when the answer is right.

    ``ok`` and ``message`` (empty when right) are all a grader needs; :attr:`line` is the verdict
    as one line without the hint, and ``datasets`` how many datasets the answer was run on before
    the verdict (all of the exercise's when it is right).
    """

    exercise: Exercise
    ok: bool
    message: str
    datasets: int = 0

    def __bool__(self) -> bool:
        return self.ok

    @property
    def line(self) -> str:
        """The verdict's first line, e.g. for a grading report."""
        return repr(self).splitlines()[0]

    def __repr__(self) -> str:
        if self.ok:
            return f"✅ {self.exercise.id} {self.exercise.title}: correct. {self.message}".rstrip()
        return (
            f"❌ {self.exercise.id} {self.exercise.title}: not yet. {self.message}\n"
            f"   Hint: {self.exercise.hint}"
        )


REGISTRY: dict[str, Exercise] = {}


def exercise(
    id: str,
    title: str,
    *,
    hint: str,
    datasets: Sequence[Dataset] = (SAMPLE,),
    commits: bool = False,
) -> Callable[[Checker], Checker]:
    """Register the decorated coroutine as the checker of exercise ``id``.

    :func:`check` runs it once per dataset of ``datasets``, each loaded into a scratch database
    the kit points at; ``commits=True`` if the answer is asked to commit (else a commit is wrong).
    """
    if not datasets:
        raise ValueError(f"exercise {id!r} needs at least one dataset")

    def register(checker: Checker) -> Checker:
        if id in REGISTRY:
            raise ValueError(f"exercise {id!r} is registered twice")
        REGISTRY[id] = Exercise(id, title, hint, checker, tuple(datasets), commits)
        return checker

    return register


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("lesson"):
            importlib.import_module(f"{__name__}.{info.name}")


def exercises(lesson: str | None = None) -> list[Exercise]:
    """List the registered exercises, optionally those of one lesson (``"03"``)."""
    _load_all()
    found = sorted(REGISTRY.values(), key=lambda e: e.id)
    return [e for e in found if lesson is None or e.id.split(".")[0] == lesson]


async def check(exercise_id: str, answer: Any = None) -> Verdict:
    """Check ``answer`` for exercise ``exercise_id``; display the returned verdict.

    Example:
        >>> await check("03.1", select(User.name).where(User.age > 40))
        ❌ 03.1 names and ages of users aged 30 to 45, oldest first: not yet. each row has 1 column(s), expected 2: check what you select.
           Hint: select two columns; between() includes both ends; order_by(User.age.desc()).
    """
    _load_all()
    try:
        ex = REGISTRY[exercise_id]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise KeyError(f"no exercise {exercise_id!r}; known exercises: {known}") from None
    if answer is None or answer is Ellipsis:
        return Verdict(ex, False, "There is no answer yet: replace the ... with your code.")
    try:
        return await _check(ex, answer)
    finally:
        # What the answer left to the garbage collector (a coroutine a failed lazy load never
        # awaited, an abandoned session) is collected now, silently, not in the learner's next
        # cell with a warning about something that cell did not do.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gc.collect()


async def _check(ex: Exercise, answer: Any) -> Verdict:
    # An engine of the answer's own cannot reach an in-memory database: nothing to watch there
    # (and its one connection may be held by a session the learner left open).
    watch = not learner_in_memory()
    before = await fingerprint() if watch else ""
    verdict = Verdict(ex, True, "", len(ex.datasets))
    async with learner_backup() as restore:
        async with scratch_database() as url:
            for number, dataset in enumerate(ex.datasets, 1):
                message = await _run(ex, answer, url, dataset)
                if message is not None:
                    verdict = Verdict(ex, False, message, number)
                    break
        if watch and await fingerprint() != before:
            # Only an engine the answer made itself, on the learner's database, gets here.
            restored = await restore() and await fingerprint() == before
            message = CHANGED_YOURS + (RESTORED if restored else NOT_RESTORED)
            return Verdict(ex, False, message, verdict.datasets)
    return verdict


COMMITTED = (
    "your answer committed changes to the database, which this exercise does not ask for "
    "(nothing was kept: the check ran on a scratch copy of the data)."
)
CHANGED_YOURS = (
    "your answer changed your own database, through an engine of its own that the checker "
    "cannot redirect: use the kit's engine or async_session"
)
RESTORED = " (the checker put your database back as it was)."
NOT_RESTORED = " (await reset() restores the sample data)."


async def _run(ex: Exercise, answer: Any, url: Any, dataset: Dataset) -> str | None:
    """Run the checker on one dataset; the message if the answer is wrong there, else None."""
    async with on_dataset(url, dataset) as run:
        try:
            await ex.checker(answer)
        except Wrong as exc:
            message: str | None = str(exc)
        except Exception as exc:  # an answer that crashes the checker is wrong, not fatal
            message = _explain(exc)
        else:
            message = None
    if run.changed and not ex.commits:
        return COMMITTED
    if message is not None and dataset.name not in ("sample", "yours"):
        message = f"With {dataset.about}: {message}"
    return message


def _explain(exc: BaseException) -> str:
    """A sentence about an exception raised while checking (usually inside the answer)."""
    if isinstance(exc, PendingRollbackError):
        return (
            "your code kept using a session after one of its statements failed "
            "(PendingRollbackError): roll back (or leave the session's block) after an error "
            "before using the session again."
        )
    if isinstance(exc, DetachedInstanceError):
        return (
            "your code read an attribute of an object whose session was already closed "
            "(DetachedInstanceError): read what you need, or load it up front, while the "
            "session is open."
        )
    if lazy_load_refused(exc):
        return (
            "your code read an attribute or relationship that was not loaded, which needs a "
            "query async code cannot run implicitly (MissingGreenlet): load it up front "
            "(selectinload, refresh) or await obj.awaitable_attrs.<name>."
        )
    # Messages such as "Instance <User at 0x7f...>" would differ on every run: mask addresses.
    message = re.sub(r" at 0x[0-9a-fA-F]+", "", str(exc))
    return f"Checking it raised {type(exc).__name__}: {message}"


from ._support import lazy_load_refused  # noqa: E402  (after Wrong, which it imports)

__all__ = ["Dataset", "Exercise", "Verdict", "Wrong", "check", "exercise", "exercises"]
