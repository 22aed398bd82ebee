"""Lesson 09 · Transactions: the exercises' checkers.

The checkers call the learner's coroutine with good and bad input and then look at what the
database kept; they delete the rows they caused afterwards.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from .. import db
from ..models import Post, User
from . import Wrong, exercise
from ._datasets import LEARNER, SAMPLE, SHIFTED
from ._support import (
    CHECKER_PREFIX,
    delete_checker_rows,
    describe,
    require_coroutine_function,
)


async def _titles_of(name: str) -> list[str] | None:
    async with db.async_session() as session:
        user_ids = (await session.execute(select(User.id).where(User.name == name))).all()
        if not user_ids:
            return None
        stmt = select(Post.title).where(Post.user_id == user_ids[0][0]).order_by(Post.id)
        return list((await session.execute(stmt)).scalars().all())


@exercise(
    "09.1",
    "a user and their posts: all or nothing",
    hint="Do everything inside one async with async_session.begin() as session: block, "
    "flushing to get the user's id; don't commit in between.",
    commits=True,
)
async def _all_or_nothing(answer: Any) -> None:
    require_coroutine_function(answer, "add_user_with_posts(name, age, titles)")
    try:
        await answer("Checker Quinn", 40, ["Checker one", "Checker two"])
        if await _titles_of("Checker Quinn") != ["Checker one", "Checker two"]:
            raise Wrong("after a good call, the user and both posts (in order) should be stored.")
        try:
            await answer("Checker Rita", 41, ["Checker fine", ""])
        except ValueError:
            pass
        else:
            raise Wrong("an empty title should make the call raise (let the error propagate).")
        left = await _titles_of("Checker Rita")
        if left is not None:
            raise Wrong(
                f"a failed call left the user behind (with {len(left)} post(s)): it was not one "
                "transaction."
            )
    finally:
        await delete_checker_rows()


@exercise(
    "09.2",
    "skip the bad posts with savepoints",
    hint="One transaction for all; each post in its own async with session.begin_nested(): "
    "block, catching IntegrityError around it.",
    datasets=[SAMPLE, SHIFTED],
    commits=True,
)
async def _skip_bad_posts(answer: Any) -> None:
    require_coroutine_function(answer, "add_posts(pairs)")
    async with db.async_session() as session:
        first, second = (
            await session.execute(select(User.id).order_by(User.id).limit(2))
        ).scalars()
    nobody = first + 999_999
    pairs = [
        (first, "Checker A"),
        (nobody, "Checker B"),
        (second, "Checker C"),
        (nobody - 1, "Checker D"),
    ]
    commits = 0

    def count_commit(conn: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(db.engine.sync_engine, "commit", count_commit)
    try:
        try:
            got = await answer(pairs)
        except IntegrityError:
            raise Wrong("one post with an unknown user made the whole call fail.") from None
        finally:
            event.remove(db.engine.sync_engine, "commit", count_commit)
        async with db.async_session() as session:
            stmt = select(Post.user_id, Post.title).where(Post.title.startswith(CHECKER_PREFIX))
            kept = sorted((await session.execute(stmt)).all())
        if kept == []:
            raise Wrong("nothing was stored: the good posts should be kept and committed.")
        if kept != [(first, "Checker A"), (second, "Checker C")]:
            raise Wrong(f"{len(kept)} posts were kept; only the ones whose user exists should be.")
        if got != 2:
            raise Wrong(f"it should return how many posts were added, got {describe(got)}.")
        if commits != 1:
            raise Wrong(
                f"it committed {commits} times: add all the posts in one transaction, with a "
                "savepoint around each post instead of a commit."
            )
    finally:
        await delete_checker_rows()


@exercise(
    "09.3",
    "what does the reader see?",
    hint="Until COMMIT, a change is visible only inside the transaction that made it.",
    datasets=[LEARNER],  # "for the database as it is now": the learner's number of users
)
async def _reader_sees(answer: Any) -> None:
    if not (isinstance(answer, tuple) and len(answer) == 3):
        raise Wrong(f"expected a tuple of three numbers, got {describe(answer)}.")
    async with db.async_session() as session:
        n = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    writer_before, reader_before, reader_after = answer
    if writer_before != n - 1:
        raise Wrong("the writer's own count before commit is off: it sees its own DELETE.")
    if reader_before != n:
        raise Wrong("the reader's count before the commit is off.")
    if reader_after != n - 1:
        raise Wrong("the reader's count after the commit is off.")
