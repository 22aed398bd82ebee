"""Lesson 03 · Queries: the exercises' checkers (they run your statement and compare rows)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql import Select

from ..models import Post, User
from . import Wrong, exercise
from ._datasets import BOUNDS_AND_TIES, MORE_USERS, POST_COUNTS, SAMPLE, SHIFTED
from ._support import compare_rows, plain_rows, require_select, scratch_session


async def _rows(stmt: Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    async with scratch_session() as session:
        return plain_rows((await session.execute(stmt)).all())


async def _compare(
    answer: Any, expected: Select[*tuple[Any, ...]], *, ordered: bool = True
) -> None:
    stmt = require_select(answer)
    compare_rows(await _rows(stmt), await _rows(expected), ordered=ordered)


@exercise(
    "03.1",
    "names and ages of users aged 30 to 45, oldest first",
    hint="select two columns; between() includes both ends; order_by(User.age.desc()).",
    datasets=[SAMPLE, BOUNDS_AND_TIES, SHIFTED],
)
async def _between(answer: Any) -> None:
    expected = (
        select(User.name, User.age)
        .where(User.age >= 30, User.age <= 45)
        .order_by(User.age.desc(), User.name)
    )
    await _compare(answer, expected)


@exercise(
    "03.2",
    "the second page of users by name, five per page",
    hint="sort by name first; a page is limit() rows after skipping offset() rows.",
    datasets=[SAMPLE, MORE_USERS],
)
async def _page(answer: Any) -> None:
    expected = select(User).order_by(User.name, User.id).limit(5).offset(5)
    await _compare(answer, expected)


@exercise(
    "03.3",
    "post counts per user, only users with two posts or more",
    hint="select Post.user_id and func.count(); group_by() the user, filter groups with "
    "having(), order by user id.",
    datasets=[SAMPLE, POST_COUNTS],
)
async def _having(answer: Any) -> None:
    count = func.count(Post.id)
    expected = (
        select(Post.user_id, count).group_by(Post.user_id).having(count >= 2).order_by(Post.user_id)
    )
    await _compare(answer, expected)


@exercise(
    "03.4",
    "users older than the average age (a subquery)",
    hint="select(func.avg(User.age)).scalar_subquery() is a value you can compare User.age with.",
    datasets=[SAMPLE, SHIFTED],
)
async def _subquery(answer: Any) -> None:
    average = select(func.avg(User.age)).scalar_subquery()
    expected = select(User).where(User.age > average).order_by(User.id)
    stmt = require_select(answer)
    await _compare(stmt, expected)
    # The same statement must stay right when the data changes (a hard-coded average would not).
    async with scratch_session() as session:
        session.add_all([User(name="Methuselah", age=150), User(name="Noah", age=149)])
        await session.flush()
        got = plain_rows((await session.execute(stmt)).all())
        want = plain_rows((await session.execute(expected)).all())
    if got != want:
        raise Wrong(
            "with two very old users added, your statement returned different rows than "
            "it should: compute the average in the query, don't type it in."
        )
