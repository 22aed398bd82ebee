"""The lesson checkers: checking an answer never changes the learner's data.

A learner's function that is handed a session runs inside an outer transaction the checker rolls
back; one that commits is refused ("your function committed") and its rows are not kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import joinedload

from ormkit import db
from ormkit.exercises import check
from ormkit.exercises.lesson02 import TEAM
from ormkit.exercises.lesson11 import BATCH
from ormkit.models import Post, User

Answer = Callable[[bool], Callable[..., Awaitable[Any]]]


async def _snapshot() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    async with db.async_session() as session:
        users = (
            await session.execute(select(User.id, User.name, User.age).order_by(User.id))
        ).all()
        posts = (
            await session.execute(select(Post.id, Post.title, Post.user_id).order_by(Post.id))
        ).all()
    return [tuple(r) for r in users], [tuple(r) for r in posts]


async def _end(session: AsyncSession, commit: bool) -> None:
    if commit:
        await session.commit()
    else:
        await session.flush()


def new_user_id(commit: bool) -> Callable[..., Awaitable[Any]]:
    async def answer(session: AsyncSession) -> int:
        user = User(name="Oscar", age=44)
        session.add(user)
        await _end(session, commit)
        return user.id

    return answer


def add_team(commit: bool) -> Callable[..., Awaitable[Any]]:
    async def answer(session: AsyncSession) -> None:
        await session.execute(insert(User), [{"name": n, "age": a} for n, a in TEAM])
        await _end(session, commit)

    return answer


def add_pair(commit: bool) -> Callable[..., Awaitable[Any]]:
    async def answer(session: AsyncSession) -> list[User]:
        users = [User(name="Ann", age=23), User(name="Ben", age=52)]
        session.add_all(users)
        await _end(session, commit)
        return users

    return answer


def find_one(commit: bool) -> Callable[..., Awaitable[Any]]:
    async def answer(session: AsyncSession, name: str) -> User:
        user = (await session.execute(select(User).where(User.name == name))).scalar_one()
        await _end(session, commit)
        return user

    return answer


def users_with_posts(commit: bool) -> Callable[..., Awaitable[Any]]:
    async def answer(session: AsyncSession) -> list[User]:
        stmt = select(User).options(joinedload(User.posts)).order_by(User.id)
        users = list((await session.execute(stmt)).unique().scalars().all())
        await _end(session, commit)
        return users

    return answer


def birthday(commit: bool) -> Callable[..., Awaitable[Any]]:
    async def answer(session: AsyncSession, user_id: int) -> int | None:
        user = await session.get(User, user_id)
        if user is None:
            return None
        user.age += 1
        await _end(session, commit)
        return user.age

    return answer


def load(commit: bool) -> Callable[..., Awaitable[Any]]:
    async def answer(session: AsyncSession, rows: list[tuple[str, int]]) -> None:
        await session.execute(insert(User), [{"name": n, "age": a} for n, a in rows])
        await _end(session, commit)

    return answer


SESSION_EXERCISES = [
    ("02.1", new_user_id),
    ("02.2", add_team),
    ("02.3", add_pair),
    ("04.1", find_one),
    ("04.3", users_with_posts),
    ("05.3", birthday),
    ("11.1", load),
]


@pytest.mark.parametrize(("exercise_id", "make_answer"), SESSION_EXERCISES)
async def test_right_answer_passes_and_changes_nothing(
    seeded: AsyncEngine, exercise_id: str, make_answer: Answer
) -> None:
    before = await _snapshot()
    verdict = await check(exercise_id, make_answer(False))
    assert verdict.ok, verdict
    assert await _snapshot() == before


@pytest.mark.parametrize(("exercise_id", "make_answer"), SESSION_EXERCISES)
async def test_committing_answer_is_refused_and_changes_nothing(
    seeded: AsyncEngine, exercise_id: str, make_answer: Answer
) -> None:
    before = await _snapshot()
    verdict = await check(exercise_id, make_answer(True))
    assert not verdict.ok
    assert "your function committed" in verdict.message
    assert await _snapshot() == before
    # the checker leaves the database usable: a second check still sees the sample data
    assert (await check(exercise_id, make_answer(False))).ok


async def test_batch_is_not_left_behind(seeded: AsyncEngine) -> None:
    await check("11.1", load(True))
    async with db.async_session() as session:
        names = (await session.execute(select(User.name))).scalars().all()
    assert not set(names) & {name for name, _ in BATCH}


async def _add_posts(pairs: list[tuple[int, str]], *, one_transaction: bool) -> int:
    added = 0
    if one_transaction:
        async with db.async_session.begin() as session:
            for user_id, title in pairs:
                try:
                    async with session.begin_nested():
                        session.add(Post(user_id=user_id, title=title))
                except IntegrityError:
                    continue
                added += 1
        return added
    for user_id, title in pairs:  # a commit per post: the wrong shape for 09.2
        try:
            async with db.async_session.begin() as session:
                session.add(Post(user_id=user_id, title=title))
        except IntegrityError:
            continue
        added += 1
    return added


@pytest.mark.parametrize("one_transaction", [True, False])
async def test_skip_bad_posts_needs_one_transaction(
    seeded: AsyncEngine, one_transaction: bool
) -> None:
    before = await _snapshot()

    async def add_posts(pairs: list[tuple[int, str]]) -> int:
        return await _add_posts(pairs, one_transaction=one_transaction)

    verdict = await check("09.2", add_posts)
    assert verdict.ok is one_transaction, verdict
    if not one_transaction:
        assert "committed 2 times" in verdict.message
    assert await _snapshot() == before  # the checker deleted its "Checker" posts
