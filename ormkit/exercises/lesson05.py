"""Lesson 05 · Updates and deletes: the exercises' checkers (run in a transaction rolled back)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Delete, Update, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Post, User
from . import Wrong, exercise
from ._datasets import AGE_BOUNDS, MORE_SQL, SAMPLE, SHIFTED
from ._support import (
    Entity,
    describe,
    plain_rows,
    refuse_commit,
    require_coroutine_function,
    scratch_session,
)


async def _ages(session: AsyncSession) -> dict[int, int]:
    rows = (await session.execute(select(User.id, User.age).order_by(User.id))).all()
    return {user_id: age for user_id, age in rows}


@exercise(
    "05.1",
    "one UPDATE: everyone over 60 gets a year older",
    hint="update(User).where(...).values(age=...) can use the column itself: User.age + 1.",
    datasets=[SAMPLE, AGE_BOUNDS],
)
async def _older(answer: Any) -> None:
    if not isinstance(answer, Update):
        raise Wrong(f"expected an update(User)... statement, got {describe(answer)}.")
    async with scratch_session() as session:
        before = await _ages(session)
        await session.execute(answer)
        after = await _ages(session)
    expected = {i: age + 1 if age > 60 else age for i, age in before.items()}
    changed = sorted(i for i in after if after[i] != before.get(i))
    wrong = sorted(i for i in expected if after.get(i) != expected[i])
    if not changed:
        raise Wrong("no age changed: check the values() and the where().")
    if wrong:
        raise Wrong(
            f"after your UPDATE the users with ids {wrong} have the wrong age "
            f"(it changed the ages of ids {changed})."
        )


@exercise(
    "05.2",
    "delete the posts that mention SQL and return what was deleted",
    hint="delete(Post) filters with where() like a select; contains() is LIKE '%...%'; the "
    "statement has a method that adds RETURNING.",
    datasets=[SAMPLE, MORE_SQL],
)
async def _delete_returning(answer: Any) -> None:
    if not isinstance(answer, Delete):
        raise Wrong(f"expected a delete(Post)... statement, got {describe(answer)}.")
    async with scratch_session() as session:
        stmt = select(Post.id, Post.title).where(Post.title.contains("SQL")).order_by(Post.id)
        expected = sorted((tuple(row) for row in (await session.execute(stmt)).all()), key=repr)
        all_before = (await session.execute(select(Post.id))).scalars().all()
        if not answer.exported_columns:  # the columns of its RETURNING clause, if any
            raise Wrong("the statement has no RETURNING: it would not say what it deleted.")
        result = await session.execute(answer)
        got = sorted(plain_rows(result.all()), key=repr)
        left = (await session.execute(select(Post.id))).scalars().all()
    if got and any(isinstance(value, Entity) for value in got[0]):
        raise Wrong(
            "RETURNING gives whole Post objects; return the two columns asked for, the id and "
            "the title."
        )
    if got and len(got[0]) != 2:
        raise Wrong(f"RETURNING gives {len(got[0])} column(s), expected the id and the title.")
    if len(all_before) - len(left) != len(expected):
        raise Wrong(f"it deleted {len(all_before) - len(left)} posts, expected {len(expected)}.")
    if got != expected:
        raise Wrong("the deleted posts are right, but RETURNING does not give their id and title.")


@exercise(
    "05.3",
    "a birthday: change one user through the ORM",
    hint="session.get(User, user_id) returns the object or None; change its attribute and "
    "flush, the unit of work writes the UPDATE.",
    datasets=[SAMPLE, SHIFTED],
)
async def _birthday(answer: Any) -> None:
    require_coroutine_function(answer, "birthday(session, user_id) -> int | None")
    async with scratch_session() as session:
        before = await _ages(session)
        uid = sorted(before)[len(before) // 2]  # not the first user: an id from the data
        new_age = await answer(session, uid)
        refuse_commit(session)
        if new_age != before[uid] + 1:
            raise Wrong(
                f"for user {uid} (age {before[uid]}) it returned {new_age!r}, expected the new age."
            )
        with session.no_autoflush:  # the checker's own SELECT must not send the change for it
            sent = await _ages(session)
        if sent[uid] != before[uid] + 1:
            raise Wrong(
                f"the database still has user {uid}'s old age: the change was not sent (flush it)."
            )
        try:
            missing = await answer(session, max(before) + 1000)
        except Exception as exc:  # crashing on a missing user is the mistake itself
            raise Wrong(
                f"for a user id that does not exist it raised {type(exc).__name__}; it should "
                "return None."
            ) from None
        refuse_commit(session)
        if missing is not None:
            raise Wrong(
                f"for a user id that does not exist it returned {missing!r}, expected None."
            )
        after = await _ages(session)
    others = [i for i in before if i != uid and after.get(i) != before[i]]
    if others:
        raise Wrong(f"it also changed the ages of users {others}.")
