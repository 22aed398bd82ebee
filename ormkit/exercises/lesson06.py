"""Lesson 06 · Relationships and joins: the exercises' checkers.

The checkers run the learner's statement on the sample data plus rows they add themselves inside
a transaction they roll back, so an answer that hard-codes ids or names is caught.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Post, User
from ..sql import show_sql
from ..teaching import never_awaited
from . import Wrong, exercise
from ._datasets import DUPLICATE_NAMES, POST_COUNTS, SAMPLE, SHIFTED
from ._support import (
    CHECKER_PREFIX,
    compare_rows,
    lazy_load_refused,
    require_select,
    scratch_session,
)


async def _add_checker_rows(session: AsyncSession) -> None:
    """Add a user without posts and one with two posts (the caller rolls them back)."""
    lonely = User(name=f"{CHECKER_PREFIX}Lonely", age=44)
    busy = User(name=f"{CHECKER_PREFIX}Busy", age=33)
    session.add_all([lonely, busy])
    await session.flush()
    session.add_all(
        [Post(user_id=busy.id, title=f"{CHECKER_PREFIX}one"), Post(user_id=busy.id, title="Two")]
    )
    await session.flush()


@exercise(
    "06.1",
    "users without posts",
    hint="Keep every user with an outer join, then keep the rows whose post side is missing "
    "(.is_(None)); order by User.id.",
    datasets=[SAMPLE, SHIFTED],
)
async def _users_without_posts(answer: Any) -> None:
    stmt = require_select(answer)
    async with scratch_session() as session:
        await _add_checker_rows(session)
        has_posts = select(Post.id).where(Post.user_id == User.id).exists()
        expected = (await session.execute(select(User).where(~has_posts).order_by(User.id))).all()
        got = (await session.execute(stmt)).all()
        if got and not isinstance(got[0][0], User):
            raise Wrong("each row should hold a User object: select the User entity, not columns.")
        # read the ids now: the rollback at the end of the block expires every object
        got_ids = [tuple(v.id if isinstance(v, User) else v for v in row) for row in got]
        want_ids = [(row[0].id,) for row in expected]
    writers = {row for row in got_ids if row not in want_ids}
    if writers:
        raise Wrong(f"{len(writers)} of the users returned do have posts.")
    if len(set(got_ids)) < len(want_ids):
        raise Wrong(
            "some users without posts are missing (the checker adds one of its own to the data, "
            "so hard-coded ids or names won't do)."
        )
    if len(got_ids) > len(set(got_ids)):
        raise Wrong("some users appear more than once: one row per user without posts.")
    compare_rows(got_ids, want_ids)


@exercise(
    "06.2",
    "posts per user",
    hint="Select User.name and func.count() of a Post column over an outer join, group by the "
    "user and order by User.id; count(*) counts 1 for a user without posts.",
    datasets=[SAMPLE, DUPLICATE_NAMES, POST_COUNTS],
)
async def _posts_per_user(answer: Any) -> None:
    stmt = require_select(answer)
    async with scratch_session() as session:
        await _add_checker_rows(session)
        n_posts = select(func.count(Post.id)).where(Post.user_id == User.id).scalar_subquery()
        expected = [
            tuple(r)
            for r in (await session.execute(select(User.name, n_posts).order_by(User.id))).all()
        ]
        got = [tuple(r) for r in (await session.execute(stmt)).all()]
    if got and len(got[0]) != 2:
        raise Wrong(f"each row should be (name, number of posts); yours have {len(got[0])} values.")
    if len(got) < len(expected):
        if {row[0] for row in got} >= {row[0] for row in expected}:
            raise Wrong(
                "two users with the same name came out as one row: group by the user's id, "
                "not by a column that several users can share."
            )
        raise Wrong("some users are missing: the ones without posts (an inner join drops them).")
    wrong_counts = [
        (name, count, want)
        for (name, count), (want_name, want) in zip(got, expected, strict=False)
        if name == want_name and count != want
    ]
    if wrong_counts:
        name, count, want = wrong_counts[0]
        raise Wrong(f"{name} has {want} post(s), but your row says {count}.")
    compare_rows(got, expected)


@exercise(
    "06.3",
    "load every user's posts up front",
    hint="Give select(User) a loader option for User.posts (the lesson shows two); order by "
    "User.id.",
    datasets=[SAMPLE, SHIFTED],
)
async def _posts_loaded_up_front(answer: Any) -> None:
    stmt = require_select(answer)
    async with scratch_session() as session:
        with show_sql(echo=False) as log:
            users = (await session.execute(stmt)).unique().scalars().all()
        if not users or not isinstance(users[0], User):
            raise Wrong("the statement should return User objects: select(User)...")
        titles: dict[int, list[str]] = {}
        with never_awaited():  # a failed lazy load leaves the driver's cursor() un-awaited
            try:
                for user in users:
                    titles[user.id] = [post.title for post in user.posts]
            except SQLAlchemyError as exc:
                if not lazy_load_refused(exc):
                    raise
                failed = True
            else:
                failed = False
        if failed:
            raise Wrong(
                "reading user.posts needed another query (MissingGreenlet): the statement did "
                "not load the posts."
            )
        all_ids = (await session.execute(select(User.id).order_by(User.id))).scalars().all()
        compare_rows([(u.id,) for u in users], [(i,) for i in all_ids])
        rows = (await session.execute(select(Post.user_id, Post.title).order_by(Post.id))).all()
        for user in users:
            if titles[user.id] != [title for user_id, title in rows if user_id == user.id]:
                raise Wrong(f"{user.name}'s posts are not all loaded, or not in id order.")
    if log.selects > 2:
        raise Wrong(f"it took {log.selects} SELECTs; two at most (users, then all their posts).")
