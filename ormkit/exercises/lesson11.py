"""Lesson 11 · Performance: the exercises' checkers (a batch load, an index the planner uses)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, func, select

from .. import db
from ..models import User
from ..sql import query_plan, show_sql
from . import Wrong, exercise
from ._support import (
    describe,
    objects_added,
    refuse_commit,
    require_coroutine_function,
    scratch_session,
)

BATCH = [(f"batch {i:04d}", i % 90) for i in range(2_000)]


async def _count_batch(session: Any) -> int:
    stmt = select(func.count()).select_from(User).where(User.name.like("batch %"))
    return int((await session.execute(stmt)).scalar_one())


@exercise(
    "11.1",
    "load 2,000 rows in one statement, without ORM objects",
    hint="the session can execute insert(User) with a list of dicts, and add_many_users() "
    "accepts session=; neither builds a User object per row.",
)
async def _fast_load(answer: Any) -> None:
    require_coroutine_function(answer, "load(session, rows)")
    async with scratch_session() as session:
        before = await _count_batch(session)
        with show_sql(echo=False) as log, objects_added(session) as added:
            await answer(session, list(BATCH))
        refuse_commit(session)
        if await _count_batch(session) - before != len(BATCH):
            raise Wrong(
                f"expected {len(BATCH):,} new users named 'batch ...' in the session, "
                f"found {await _count_batch(session) - before:,}."
            )
        if log.inserts != 1:
            raise Wrong(
                f"it sent {log.inserts} INSERT statements; one executemany is enough "
                "(and much faster) for the whole batch."
            )
        objects = [obj for obj in added if isinstance(obj, User)]
        if objects:
            raise Wrong(
                f"the session now holds {len(objects):,} User objects: building them is "
                "the slow part. Send plain rows instead."
            )
        stored = (
            await session.execute(
                select(User.name, User.age).where(User.name.like("batch %")).order_by(User.name)
            )
        ).all()
        if [tuple(r) for r in stored] != sorted(BATCH):
            raise Wrong("the stored names and ages differ from the rows given.")


@exercise(
    "11.2",
    "an index that makes the name lookup a SEARCH",
    hint="Index('some_name', User.<column>) describes an index; which column does the "
    "WHERE clause of the lookup compare?",
)
async def _index(answer: Any) -> None:
    if not isinstance(answer, Index):
        raise Wrong(f"expected an Index(...) object, got {describe(answer)}.")
    try:
        await _check_index(answer)
    finally:
        # Index(..., User.name) joins User's table metadata, so reset() / create_all() would
        # create it from now on; the exercise is about the database, so leave the model as it was.
        if answer.table is not None:
            answer.table.indexes.discard(answer)


async def _check_index(answer: Index) -> None:
    if answer.table is None or answer.table.name != "users":
        raise Wrong("the index is not on the users table: build it from User's columns.")
    columns = [c.name for c in answer.columns]
    if columns[:1] != ["name"]:
        first = columns[0] if columns else "no column"
        raise Wrong(
            f"the index starts with {first}; the lookup filters on another column, so the "
            "planner cannot use it."
        )
    lookup = select(User).where(User.name == "Grace")
    async with db.engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            # A server's planner may still scan a 13-row table, and MySQL's DDL is not
            # transactional: there the structure check above is the test.
            return
        # The check runs on a scratch copy of the data, never the learner's database; the index
        # is dropped again all the same, so the copy ends as it was loaded.
        await conn.run_sync(lambda sync: answer.create(sync, checkfirst=True))
        try:
            plan = " ".join(await query_plan(lookup, conn))
        finally:
            await conn.run_sync(lambda sync: answer.drop(sync, checkfirst=True))
            await conn.commit()
    if "USING" not in plan or "INDEX" not in plan:
        raise Wrong(f"SQLite still plans the lookup as {plan!r}: it does not use your index.")
