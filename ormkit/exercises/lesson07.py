"""Lesson 07 · DataFrames: the exercises' checkers.

The checkers build the expected DataFrame from the database themselves and compare values,
column names, order and dtypes with the learner's.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, select

from .. import db
from ..frames import read_frame
from ..models import Post, User
from . import Wrong, exercise
from ._datasets import DUPLICATE_NAMES, LEARNER, SAMPLE, SHIFTED
from ._support import describe, require_coroutine_function, require_select


def _compare_frames(got: Any, expected: pd.DataFrame, *, what: str = "DataFrame") -> None:
    """Raise :class:`Wrong` saying how ``got`` differs from ``expected`` (never showing it)."""
    if not isinstance(got, pd.DataFrame):
        raise Wrong(f"expected a pandas DataFrame, got {describe(got)}.")
    if list(got.columns) != list(expected.columns):
        raise Wrong(
            f"the {what}'s columns are {list(got.columns)}, expected {list(expected.columns)}."
        )
    if len(got) != len(expected):
        raise Wrong(f"the {what} has {len(got)} rows, expected {len(expected)}.")
    for column in expected.columns:
        if got[column].dtype.kind != expected[column].dtype.kind:
            raise Wrong(
                f"column {column!r} has dtype {got[column].dtype}, expected "
                f"{expected[column].dtype}."
            )
    got_rows = list(got.itertuples(index=False, name=None))
    want_rows = list(expected.itertuples(index=False, name=None))
    if sorted(got_rows, key=repr) != sorted(want_rows, key=repr):
        raise Wrong(f"the {what}'s values are not the expected ones: check your query.")
    if got_rows != want_rows:
        raise Wrong(f"the right rows, but in the wrong order: check the {what}'s ordering.")
    if list(got.index) != list(range(len(got))):
        raise Wrong("the values are right; number the rows 0, 1, 2, ... (reset_index(drop=True)).")


@exercise(
    "07.1",
    "posts with their authors",
    hint="select() Post.id, Post.title and User.name with .label(...) for the new names, join "
    "the two models, order by Post.id.",
    datasets=[SAMPLE, SHIFTED, DUPLICATE_NAMES],
)
async def _posts_with_authors(answer: Any) -> None:
    stmt = require_select(answer)
    got = await read_frame(stmt)
    rows = (
        await _rows(select(Post.id, Post.title, Post.user_id).order_by(Post.id)),
        dict(await _rows(select(User.id, User.name))),
    )
    posts, names = rows
    expected = pd.DataFrame(
        {
            "post_id": [p[0] for p in posts],
            "title": [p[1] for p in posts],
            "author": [names[p[2]] for p in posts],
        }
    )
    _compare_frames(got, expected, what="read_frame(answer) DataFrame")


@exercise(
    "07.2",
    "users and posts per age decade",
    hint="Give each user a decade (age // 10 * 10), then groupby it and agg a count of users "
    "and a sum of posts; reset_index() makes decade a column.",
    datasets=[LEARNER],  # a DataFrame computed in the notebook from the learner's data
)
async def _per_decade(answer: Any) -> None:
    n_posts = select(func.count(Post.id)).where(Post.user_id == User.id).scalar_subquery()
    totals: dict[int, list[int]] = {}
    for age, count in await _rows(select(User.age, n_posts)):
        decade = age // 10 * 10
        users, posts = totals.setdefault(decade, [0, 0])
        totals[decade] = [users + 1, posts + count]
    decades = sorted(totals)
    expected = pd.DataFrame(
        {
            "decade": decades,
            "users": [totals[d][0] for d in decades],
            "posts": [totals[d][1] for d in decades],
        }
    )
    _compare_frames(answer, expected)


@exercise(
    "07.3",
    "pandas through run_sync",
    hint="Inside async with engine.connect() as conn, await conn.run_sync(...) a function that "
    "calls pd.read_sql(stmt, sync_conn); order by User.id.",
    datasets=[SAMPLE, SHIFTED],
)
async def _read_sql_bridge(answer: Any) -> None:
    require_coroutine_function(answer, "users_frame()")
    got = await answer()
    users = await _rows(select(User.id, User.name, User.age).order_by(User.id))
    expected = pd.DataFrame(users, columns=["id", "name", "age"])
    _compare_frames(got, expected)


async def _rows(stmt: Any) -> list[tuple[Any, ...]]:
    async with db.async_session() as session:
        return [tuple(row) for row in (await session.execute(stmt)).all()]
