"""Schema and transaction behaviour of the kit's engines, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import Post, User, async_session


async def post_count() -> int:
    async with async_session() as session:
        return (await session.execute(select(func.count()).select_from(Post))).scalar_one()


async def test_outer_rollback_undoes_a_released_savepoint(seeded: AsyncEngine) -> None:
    # The savepoint is the first thing in the transaction: on SQLite a bare SAVEPOINT would start
    # (and its RELEASE commit) a transaction of its own, escaping the outer ROLLBACK.
    before = await post_count()
    with pytest.raises(RuntimeError, match="undo everything"):
        async with async_session() as session, session.begin():
            async with session.begin_nested():
                session.add(Post(user_id=1, title="inside the savepoint"))
            session.add(Post(user_id=1, title="after the savepoint"))
            await session.flush()
            raise RuntimeError("undo everything")
    assert await post_count() == before


async def test_rolled_back_savepoint_keeps_the_outer_work(seeded: AsyncEngine) -> None:
    before = await post_count()
    async with async_session() as session, session.begin():
        session.add(Post(user_id=1, title="kept"))
        nested = await session.begin_nested()
        session.add(Post(user_id=1, title="dropped"))
        await session.flush()
        await nested.rollback()
    assert await post_count() == before + 1


# (TRIM removes spaces only, on every backend: a name of tabs is refused by @validates alone.)
@pytest.mark.parametrize("name", ["", "   ", "x" * 51])
async def test_the_database_refuses_blank_or_long_names_written_past_validation(
    kit_db: AsyncEngine, name: str
) -> None:
    # Bulk and Core inserts skip @validates; the CHECK constraint is what stops them.
    async with kit_db.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(insert(User), [{"name": name, "age": 30}])
        await conn.rollback()
        assert (await conn.execute(select(func.count()).select_from(User))).scalar_one() == 0
