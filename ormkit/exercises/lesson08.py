"""Lesson 08 · Async pitfalls: the exercises' checkers.

Each checker calls the learner's coroutine the way the pitfall would bite (a relationship read
after the query, look-ups on a cold connection pool, attributes read after a commit) and compares
what it returns with what the database holds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import InvalidRequestError, SQLAlchemyError

from .. import db
from ..models import Post, User
from ..teaching import never_awaited
from . import Wrong, exercise
from ._datasets import DUPLICATE_NAMES, SAMPLE, SHIFTED
from ._support import (
    delete_checker_rows,
    describe,
    lazy_load_refused,
    require_coroutine_function,
)


@exercise(
    "08.1",
    "post titles through the relationship",
    hint="Load the user with a loader option for User.posts, or await "
    "user.awaitable_attrs.posts, while the session is open.",
    datasets=[SAMPLE, SHIFTED],
)
async def _titles_through_relationship(answer: Any) -> None:
    require_coroutine_function(answer, "post_titles(user_id)")
    async with db.async_session() as session:
        rows = (await session.execute(select(Post.user_id, Post.title).order_by(Post.id))).all()
        user_ids = (await session.execute(select(User.id).order_by(User.id))).scalars().all()
    # The user with the most posts, the first without any, the next with the most.
    counts = {uid: sum(1 for u, _ in rows if u == uid) for uid in user_ids}
    busiest = sorted(user_ids, key=lambda uid: (-counts[uid], uid))
    picked = [busiest[0], *(uid for uid in user_ids if counts[uid] == 0)][:2] + busiest[1:2]
    for user_id in picked:
        with never_awaited():  # a failed lazy load leaves the driver's cursor() un-awaited
            try:
                got = await answer(user_id)
            except SQLAlchemyError as exc:
                if not lazy_load_refused(exc):
                    raise
                raise Wrong(
                    f"post_titles({user_id}) read user.posts before they were loaded "
                    "(MissingGreenlet)."
                ) from None
        want = [title for uid, title in rows if uid == user_id]
        if not isinstance(got, list):
            raise Wrong(f"post_titles({user_id}) should return a list, got {describe(got)}.")
        if got != want:
            raise Wrong(
                f"post_titles({user_id}) returned {len(got)} title(s); the user has {len(want)} "
                "post(s): check the titles and their order (by post id)."
            )


@exercise(
    "08.2",
    "concurrent look-ups, one session each",
    hint="Write a small coroutine that opens its own async_session() and gets one user; "
    "asyncio.gather one call of it per id.",
    datasets=[SAMPLE, SHIFTED, DUPLICATE_NAMES],
)
async def _concurrent_lookups(answer: Any) -> None:
    require_coroutine_function(answer, "user_names(user_ids)")
    async with db.async_session() as session:
        names = dict((await session.execute(select(User.id, User.name))).all())
    in_order = sorted(names)
    ids = [in_order[i] for i in (2, 0, 11, 4) if i < len(in_order)]  # not in id order
    engine = db.engine
    await engine.dispose()  # a cold pool: a shared session fails here as it would in real use
    opened = 0

    def connect(*args: Any) -> None:
        # From an empty pool, look-ups running at the same time each open a connection; one
        # after another, they reuse the first.
        nonlocal opened
        opened += 1

    event.listen(engine.sync_engine, "connect", connect)
    try:
        got = await answer(ids)
    except InvalidRequestError as exc:  # IllegalStateChangeError is one too
        message = str(exc)
        if "concurrent operations are not permitted" in message or "in progress" in message:
            raise Wrong("the tasks shared one session, which refused the concurrent use.") from None
        raise
    finally:
        event.remove(engine.sync_engine, "connect", connect)
    want = [names[i] for i in ids]
    if not isinstance(got, (list, tuple)):
        raise Wrong(f"user_names({ids}) should return a list of names, got {describe(got)}.")
    if list(got) != want:
        raise Wrong(f"user_names({ids}) should return their names in the order of the ids.")
    pool = engine.pool
    can_overlap = pool.size() + max(getattr(pool, "_max_overflow", 0), 0) > 1
    if can_overlap and opened < 2:
        raise Wrong("the look-ups ran one after another: run them concurrently (gather).")


@exercise(
    "08.3",
    "read a new user after commit",
    hint="With expire_on_commit=True, commit() expires every attribute: read what you need "
    "before committing, refresh the object, or use a sessionmaker with expire_on_commit=False.",
    commits=True,
)
async def _read_after_commit(answer: Any) -> None:
    require_coroutine_function(answer, "add_and_describe(name, age)")
    name, age = "Checker Quinn", 33
    try:
        with never_awaited():
            try:
                got = await answer(name, age)
            except SQLAlchemyError as exc:
                if not lazy_load_refused(exc):
                    raise
                raise Wrong(
                    "reading the user after commit() needed a query (MissingGreenlet)."
                ) from None
        async with db.async_session() as session:
            stored = (await session.execute(select(User).where(User.name == name))).scalars().all()
        if not stored:
            raise Wrong("no user was stored: did the function commit?")
        if len(stored) > 1:
            raise Wrong("the user was stored more than once.")
        if not isinstance(got, dict):
            raise Wrong(f"expected the user's to_dict(), got {describe(got)}.")
        if got != stored[0].to_dict():
            raise Wrong("the dict does not match the stored row: include id, name and age.")
    finally:
        await delete_checker_rows()
