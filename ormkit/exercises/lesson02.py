"""Lesson 02 · Inserts: the exercises' checkers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..models import User
from ..sql import show_sql
from . import Wrong, exercise
from ._datasets import SAMPLE, SHIFTED
from ._support import (
    describe,
    objects_added,
    refuse_commit,
    require_coroutine_function,
    scratch_session,
)

TEAM = [("Pat", 33), ("Quinn", 29), ("Rae", 41)]


@exercise(
    "02.1",
    "get a new user's id without committing",
    hint="session.add() only registers the object; one awaited session method sends the INSERT "
    "inside the open transaction (and fills in the id) without ending it.",
    datasets=[SAMPLE, SHIFTED],
)
async def _id_before_commit(answer: Any) -> None:
    require_coroutine_function(answer, "new_user_id(session) -> int")
    async with scratch_session() as session:
        new_id = await answer(session)
        refuse_commit(session)
        if new_id is None:
            raise Wrong("it returned None: the id is only filled in once the INSERT has run.")
        if not isinstance(new_id, int) or isinstance(new_id, bool):
            raise Wrong(f"it returned {describe(new_id)}, expected the new user's id (an int).")
        user = await session.get(User, new_id)
        if user is None or (user.name, user.age) != ("Oscar", 44):
            raise Wrong("the id it returned is not the id of a new user Oscar, aged 44.")


@exercise(
    "02.2",
    "insert a team with one ORM bulk INSERT",
    hint="session.execute() takes insert(User) and, as a second argument, a list of dicts with "
    "one dict per row.",
    datasets=[SAMPLE, SHIFTED],
)
async def _bulk_team(answer: Any) -> None:
    require_coroutine_function(answer, "add_team(session)")
    async with scratch_session() as session:
        last_id = (await session.execute(select(func.max(User.id)))).scalar_one()
        with show_sql(echo=False, transactions=False) as log, objects_added(session) as added:
            await answer(session)
        refuse_commit(session)
        # PostgreSQL batches flushed objects into one INSERT too: look for the objects instead.
        as_objects = any(isinstance(obj, User) for obj in added)
        stmt = select(User.name, User.age).where(User.id > last_id).order_by(User.id)
        rows = (await session.execute(stmt)).all()
    got = [tuple(row) for row in rows]
    if sorted(got) != sorted(TEAM):
        raise Wrong(
            f"after your function the new users are {got}, expected the three of the "
            "team (Pat 33, Quinn 29, Rae 41) and nobody else."
        )
    if log.inserts != 1:
        raise Wrong(
            f"{log.inserts} INSERT statements ran; the point is a single statement "
            "for all the rows."
        )
    if as_objects:
        raise Wrong(
            "the team went in as User objects flushed by the session; the point is one ORM "
            "bulk INSERT statement, executed with a list of dicts."
        )


@exercise(
    "02.3",
    "add several users at once and return them with their ids",
    hint="session.add_all() takes a list of objects; the ids exist once the session has flushed.",
    datasets=[SAMPLE, SHIFTED],
)
async def _add_all(answer: Any) -> None:
    require_coroutine_function(answer, "add_pair(session) -> list[User]")
    async with scratch_session() as session:
        users = await answer(session)
        refuse_commit(session)
        if not isinstance(users, list | tuple) or not all(isinstance(u, User) for u in users):
            raise Wrong(f"it returned {describe(users)}, expected a list of User objects.")
        if sorted((u.name, u.age) for u in users) != [("Ann", 23), ("Ben", 52)]:
            raise Wrong("expected two users, Ann (23) and Ben (52).")
        if any(u.id is None for u in users):
            raise Wrong("a user has no id yet: the INSERT has not been sent.")
        for user in users:
            found = await session.execute(select(User.id).where(User.id == user.id))
            if found.scalar_one_or_none() is None:
                raise Wrong(f"no row with id {user.id} exists in the database.")
