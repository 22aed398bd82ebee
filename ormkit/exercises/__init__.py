"""Exercises and their checker: ``await check("03.1", your_answer)``.

Each lesson's exercises live in a module of this package named ``lessonNN`` and register
themselves with :func:`exercise`. A checker looks at the learner's answer (a statement, a value,
a DataFrame, the state of the database...) and raises :class:`Wrong` with what is wrong and a
nudge; it never reveals the answer. :func:`check` turns that into a :class:`Verdict`, which a
notebook displays as one line.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Checker = Callable[[Any], Awaitable[None]]


class Wrong(Exception):  # not "WrongError": reads naturally in checkers, raise Wrong("...")
    """Raised by a checker: the answer is not right yet; the message says what is wrong."""


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    hint: str
    checker: Checker


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`check`; true when the answer is right."""

    exercise: Exercise
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        if self.ok:
            return f"✅ {self.exercise.id} {self.exercise.title}: correct. {self.message}".rstrip()
        return (
            f"❌ {self.exercise.id} {self.exercise.title}: not yet. {self.message}\n"
            f"   Hint: {self.exercise.hint}"
        )


REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, title: str, *, hint: str) -> Callable[[Checker], Checker]:
    """Register the decorated coroutine as the checker of exercise ``id``."""

    def register(checker: Checker) -> Checker:
        if id in REGISTRY:
            raise ValueError(f"exercise {id!r} is registered twice")
        REGISTRY[id] = Exercise(id, title, hint, checker)
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
        await ex.checker(answer)
    except Wrong as exc:
        return Verdict(ex, False, str(exc))
    except Exception as exc:  # an answer that crashes the checker is wrong, not fatal
        # Messages such as "Instance <User at 0x7f...>" would differ on every run: mask addresses.
        message = re.sub(r" at 0x[0-9a-fA-F]+", "", str(exc))
        return Verdict(ex, False, f"Checking it raised {type(exc).__name__}: {message}")
    return Verdict(ex, True, "")


__all__ = ["Exercise", "Verdict", "Wrong", "check", "exercise", "exercises"]
