"""Shared pieces of the lesson checkers: run the learner's answer, compare it with the truth.

Checkers verify behaviour: they execute the learner's statement or coroutine against the kit's
database and compare what happened with what the checker computes itself. Messages say what
differs, never the code. A learner's code that is handed a session runs inside an outer
transaction the checker rolls back (a ``commit()`` in it only releases a savepoint), so checking
never changes the data; a commit the exercise did not ask for is reported as a mistake.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, event
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet, StatementError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from .. import db
from ..models import Base, Post, User
from . import Wrong

COMMITS = "ormkit_checker_commits"


@asynccontextmanager
async def scratch_session(*, allow_commit: bool = False) -> AsyncIterator[AsyncSession]:
    """A session on the kit's database whose changes are always rolled back, even committed ones.

    The session is bound to a connection inside an outer transaction and joins it with
    ``join_transaction_mode="create_savepoint"``: the session's ``commit()`` releases a savepoint,
    and the outer ROLLBACK at the end undoes everything. Unless ``allow_commit``, a block that
    ends normally after the session committed raises :class:`Wrong` (see :func:`refuse_commit`).
    """
    async with db.engine.connect() as conn:
        outer = await conn.begin()
        session = AsyncSession(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        session.info[COMMITS] = 0

        def count_commit(sync_session: Any) -> None:
            sync_session.info[COMMITS] += 1

        event.listen(session.sync_session, "after_commit", count_commit)
        try:
            yield session
            if not allow_commit:
                refuse_commit(session)
        finally:
            try:
                await session.rollback()  # expires the objects, as a plain rollback would
                await session.close()
            finally:
                await outer.rollback()


@contextmanager
def objects_added(session: AsyncSession) -> Iterator[list[object]]:
    """Record the objects ``session.add()``-ed in the block (the identity map forgets them)."""
    added: list[object] = []

    def record(sync_session: Any, instance: object) -> None:
        added.append(instance)

    event.listen(session.sync_session, "transient_to_pending", record)
    try:
        yield added
    finally:
        event.remove(session.sync_session, "transient_to_pending", record)


def refuse_commit(session: AsyncSession) -> None:
    """Raise :class:`Wrong` if the learner's code committed the :func:`scratch_session`."""
    if session.info.get(COMMITS):
        raise Wrong(
            "your function committed the session it was given; leave that decision to the "
            "caller (nothing was kept: the checker rolled it back)."
        )


@dataclass(frozen=True)
class Entity:
    """An ORM object reduced to its readable ``repr`` (class and column values), for comparing."""

    text: str

    def __repr__(self) -> str:
        return self.text


def plain(value: Any) -> Any:
    """A comparable form of a result value: ORM objects become :class:`Entity`."""
    if isinstance(value, Base):
        return Entity(repr(value))
    return value


def show_row(row: tuple[Any, ...]) -> str:
    """A row as the learner would print it; a one-column row as its only value."""
    return repr(row[0]) if len(row) == 1 else repr(row)


def plain_rows(rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [tuple(plain(v) for v in row) for row in rows]


def require_select(answer: Any) -> Select[Any]:
    if not isinstance(answer, Select):
        raise Wrong(f"expected a select(...) statement, got {describe(answer)}.")
    return answer


def require_coroutine_function(answer: Any, signature: str) -> None:
    if not inspect.iscoroutinefunction(answer):
        raise Wrong(
            f"expected a coroutine function (async def {signature}: ...), got {describe(answer)}."
        )


def describe(value: Any) -> str:
    """Name a value's type without a memory address."""
    if value is None:
        return "None"
    if inspect.isclass(value):
        return f"the class {value.__name__}"
    if inspect.isfunction(value):
        return f"the plain function {value.__name__}() (did you forget async?)"
    if inspect.iscoroutine(value):
        value.close()  # silence "coroutine was never awaited": it was the learner's slip
        return "a coroutine object (call the function inside your code with await)"
    name = type(value).__name__
    return f"{'an' if name[0] in 'AEIOU' else 'a'} {name}"


def compare_rows(
    got: Sequence[tuple[Any, ...]],
    expected: Sequence[tuple[Any, ...]],
    *,
    ordered: bool = True,
) -> None:
    """Raise :class:`Wrong` describing how ``got`` differs from ``expected`` (rows of tuples)."""
    if got and expected and len(got[0]) != len(expected[0]):
        raise Wrong(
            f"each row has {len(got[0])} column(s), expected {len(expected[0])}: "
            "check what you select."
        )
    extra = [row for row in got if row not in expected]
    if extra:
        raise Wrong(
            f"{len(extra)} row(s) should not be in the result, e.g. {show_row(extra[0])}: "
            "check your filter."
        )
    if len(got) < len(expected):
        raise Wrong(f"{len(got)} row(s), expected {len(expected)}: some rows are missing.")
    if len(got) > len(expected):
        raise Wrong(f"{len(got)} rows, expected {len(expected)}: some rows appear twice.")
    if sorted(got, key=repr) != sorted(expected, key=repr):
        raise Wrong("the rows are not the expected ones: check your filter and columns.")
    if ordered and list(got) != list(expected):
        raise Wrong("the right rows, but in the wrong order: check your order_by().")


CHECKER_PREFIX = "Checker "  # names and titles of the rows a checker adds (and removes again)


async def delete_checker_rows() -> None:
    """Delete the users and posts a checker stored for real (named ``Checker ...``)."""
    async with db.async_session.begin() as session:
        await session.execute(delete(Post).where(Post.title.startswith(CHECKER_PREFIX)))
        await session.execute(delete(User).where(User.name.startswith(CHECKER_PREFIX)))


def lazy_load_refused(exc: BaseException) -> bool:
    """True if ``exc`` is SQLAlchemy refusing an implicit load (IO outside an await).

    Either MissingGreenlet (a lazy load or an expired attribute read in async code, possibly
    wrapped in a StatementError) or a ``lazy="raise"`` relationship.
    """
    cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    if isinstance(cause, MissingGreenlet):
        return True
    return isinstance(exc, InvalidRequestError) and "lazy='raise'" in str(exc)
