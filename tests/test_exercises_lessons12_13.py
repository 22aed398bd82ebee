"""The checkers of lessons 12 and 13: the solutions pass, wrong answers and cheats fail, and
checking leaves the database as it was (on every backend the ``seeded`` fixture covers).

No ``from __future__ import annotations`` here: FastAPI must see the ``Annotated[...]`` of an
endpoint defined inside a function as an object, not as a string it cannot resolve.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import pytest
import sqlalchemy as sa
from alembic import op
from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload
from sqlalchemy.orm import joinedload as joined

from ormkit import db
from ormkit.exercises import check
from ormkit.models import Post, User


async def _snapshot() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    async with db.async_session() as session:
        users = (
            await session.execute(select(User.id, User.name, User.age).order_by(User.id))
        ).all()
        posts = (
            await session.execute(select(Post.id, Post.title, Post.user_id).order_by(Post.id))
        ).all()
    return [tuple(r) for r in users], [tuple(r) for r in posts]


# --------------------------------------------------------------------------- 12.1


async def _name(session: AsyncSession, user_id: int) -> str | None:
    user = await session.get(User, user_id)
    return None if user is None else user.name


async def bounded(factory: Any, ids: list[int], limit: int) -> list[str | None]:
    gate = asyncio.Semaphore(limit)

    async def one(user_id: int) -> str | None:
        async with gate, factory() as session:
            return await _name(session, user_id)

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def one_at_a_time(factory: Any, ids: list[int], limit: int) -> list[str | None]:
    names = []
    for user_id in ids:
        async with factory() as session:
            names.append(await _name(session, user_id))
    return names


async def unbounded(factory: Any, ids: list[int], limit: int) -> list[str | None]:
    async def one(user_id: int) -> str | None:
        async with factory() as session:
            return await _name(session, user_id)

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def limit_hard_coded(factory: Any, ids: list[int], limit: int) -> list[str | None]:
    return await bounded(factory, ids, 3)


async def never_closed(factory: Any, ids: list[int], limit: int) -> list[str | None]:
    gate = asyncio.Semaphore(limit)

    async def one(user_id: int) -> str | None:
        async with gate:
            return await _name(factory(), user_id)

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def sorted_names(factory: Any, ids: list[int], limit: int) -> list[str | None]:
    return sorted(await bounded(factory, ids, limit), key=str)


async def test_12_1_the_solution_passes_and_changes_nothing(seeded: AsyncEngine) -> None:
    before = await _snapshot()
    verdict = await check("12.1", bounded)
    assert verdict.ok, verdict
    assert await _snapshot() == before


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (one_at_a_time, "never had more than 1 session(s) at work at once"),
        (unbounded, "sessions using the database at once; the limit was 3"),
        (limit_hard_coded, "sessions using the database at once; the limit was 2"),
        (never_closed, "session(s) open: use async with"),
        (sorted_names, "in the order of the ids"),
    ],
)
async def test_12_1_wrong_answers_fail(seeded: AsyncEngine, wrong: Any, message: str) -> None:
    if wrong is never_closed and seeded.url.database in (None, "", ":memory:"):
        # An in-memory database has a pool of one connection: the session left open keeps it,
        # and the next look-up waits for it (as it would in the lesson: see lesson 09).
        pytest.skip("needs a pool of more than one connection")
    verdict = await check("12.1", wrong)
    assert not verdict.ok
    assert message in verdict.message, verdict.message


# --------------------------------------------------------------------------- 12.2

STMT = select(User).order_by(User.id)


async def streamed(session: AsyncSession, out: Any) -> None:
    result = await session.stream_scalars(STMT.execution_options(yield_per=100))
    async for user in result:
        out.write(f"{user.id},{user.name},{user.age}\n")


async def all_at_once(session: AsyncSession, out: Any) -> None:
    for user in (await session.scalars(STMT)).all():
        out.write(f"{user.id},{user.name},{user.age}\n")


async def columns_only(session: AsyncSession, out: Any) -> None:
    stmt = select(User.id, User.name, User.age).order_by(User.id)
    async for uid, name, age in await session.stream(stmt.execution_options(yield_per=100)):
        out.write(f"{uid},{name},{age}\n")


async def unordered(session: AsyncSession, out: Any) -> None:
    stmt = select(User).order_by(User.id.desc()).execution_options(yield_per=100)
    async for user in await session.stream_scalars(stmt):
        out.write(f"{user.id},{user.name},{user.age}\n")


async def streamed_then_commit(session: AsyncSession, out: Any) -> None:
    await streamed(session, out)
    await session.commit()


async def test_12_2_the_solution_passes_and_changes_nothing(seeded: AsyncEngine) -> None:
    before = await _snapshot()
    verdict = await check("12.2", streamed)
    assert verdict.ok, verdict
    assert await _snapshot() == before


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (all_at_once, "User objects at once while writing"),
        (columns_only, "the session built no User objects"),
        (unordered, "line 1 is"),
        (streamed_then_commit, "your function committed"),
    ],
)
async def test_12_2_wrong_answers_fail(seeded: AsyncEngine, wrong: Any, message: str) -> None:
    before = await _snapshot()
    verdict = await check("12.2", wrong)
    assert not verdict.ok
    assert message in verdict.message, verdict.message
    assert await _snapshot() == before


# --------------------------------------------------------------------------- 13.1


class AppBase(DeclarativeBase):
    pass


class AppUser(AppBase):
    __tablename__ = "app_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    age: Mapped[int]
    posts: Mapped[list["AppPost"]] = relationship(order_by="AppPost.id", lazy="raise")


class AppPost(AppBase):
    __tablename__ = "app_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_users.id", ondelete="CASCADE"))


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str


class UserWithPosts(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    age: int
    posts: list[PostOut]


@pytest.fixture
async def app_tables(seeded: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The lesson's app_users / app_posts in the kit's database, with a few rows; dropped after."""
    async with seeded.begin() as conn:
        await conn.run_sync(AppBase.metadata.drop_all)
        await conn.run_sync(AppBase.metadata.create_all)
    async with async_sessionmaker(seeded).begin() as session:
        session.add_all([AppUser(name="Ada", age=36), AppUser(name="Linus", age=28)])
        await session.flush()
        session.add_all([AppPost(title="Engines", user_id=1), AppPost(title="Kernels", user_id=2)])
    try:
        yield seeded
    finally:
        async with seeded.begin() as conn:
            await conn.run_sync(AppBase.metadata.drop_all)


async def _app_rows(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        users = (await conn.execute(sa.text("SELECT id, name FROM app_users ORDER BY id"))).all()
        posts = (await conn.execute(sa.text("SELECT id, title FROM app_posts ORDER BY id"))).all()
    return [tuple(r) for r in users + posts]


Lister = Callable[[AsyncSession], Any]


def make_app(engine: AsyncEngine, lister: Lister, *, use_dependency: bool = True) -> FastAPI:
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    app = FastAPI()

    @app.get("/users-with-posts", response_model=list[UserWithPosts])
    async def users_with_posts(
        session: Annotated[AsyncSession, Depends(get_session)],
    ) -> Any:
        if use_dependency:
            return await lister(session)
        async with sessions() as own:  # bypasses the dependency: sees only committed rows
            return await lister(own)

    return app


async def with_selectinload(session: AsyncSession) -> Any:
    stmt = select(AppUser).options(selectinload(AppUser.posts)).order_by(AppUser.id)
    return (await session.scalars(stmt)).all()


async def with_joinedload(session: AsyncSession) -> Any:
    stmt = select(AppUser).options(joined(AppUser.posts)).order_by(AppUser.id)
    return (await session.scalars(stmt)).unique().all()


async def n_plus_one(session: AsyncSession) -> Any:
    users = (await session.scalars(select(AppUser).order_by(AppUser.id))).all()
    out = []
    for user in users:
        stmt = select(AppPost).where(AppPost.user_id == user.id).order_by(AppPost.id)
        posts = (await session.scalars(stmt)).all()
        out.append({"id": user.id, "name": user.name, "age": user.age, "posts": posts})
    return out


async def three_queries(session: AsyncSession) -> Any:
    await session.execute(select(sa.func.count()).select_from(AppUser))
    return await with_selectinload(session)


@pytest.mark.parametrize("lister", [with_selectinload, with_joinedload])
async def test_13_1_n_plus_one_free_endpoints_pass(app_tables: AsyncEngine, lister: Lister) -> None:
    before = await _app_rows(app_tables), await _snapshot()
    verdict = await check("13.1", make_app(app_tables, lister))
    assert verdict.ok, verdict
    assert (await _app_rows(app_tables), await _snapshot()) == before


@pytest.mark.parametrize(
    ("lister", "use_dependency", "message"),
    [
        (n_plus_one, True, "the count grows with the users (N+1)"),
        (three_queries, True, "3 SELECTs per request"),
        (with_selectinload, False, "use the session the dependency gives you"),
    ],
)
async def test_13_1_wrong_endpoints_fail(
    app_tables: AsyncEngine, lister: Lister, use_dependency: bool, message: str
) -> None:
    if not use_dependency and app_tables.url.database in (None, "", ":memory:"):
        pytest.skip("an in-memory database's one connection is the checker's: no second session")
    before = await _app_rows(app_tables)
    app = make_app(app_tables, lister, use_dependency=use_dependency)
    verdict = await check("13.1", app)
    assert not verdict.ok
    assert message in verdict.message, verdict.message
    assert await _app_rows(app_tables) == before
    assert app.dependency_overrides == {}  # the checker put the app back as it was


async def test_13_1_needs_the_route_and_the_tables(seeded: AsyncEngine) -> None:
    verdict = await check("13.1", FastAPI())
    assert "has no route /users-with-posts" in verdict.message
    verdict = await check("13.1", make_app(seeded, with_selectinload))
    assert "no app_users / app_posts tables" in verdict.message


# --------------------------------------------------------------------------- 13.2


def upgrade() -> None:
    op.add_column(
        "app_posts",
        sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("app_posts", "published")


def upgrade_nullable() -> None:
    op.add_column("app_posts", sa.Column("published", sa.Boolean(), nullable=True))


def upgrade_without_default() -> None:
    op.add_column("app_posts", sa.Column("published", sa.Boolean(), nullable=False))


def upgrade_default_true() -> None:
    op.add_column(
        "app_posts",
        sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade_nothing() -> None:
    pass


def downgrade_losing_rows() -> None:
    op.drop_column("app_posts", "published")
    op.execute("DELETE FROM app_posts")


async def test_13_2_the_solution_passes(seeded: AsyncEngine) -> None:
    before = await _snapshot()
    verdict = await check("13.2", (upgrade, downgrade))
    assert verdict.ok, verdict
    assert await _snapshot() == before


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((upgrade_nullable, downgrade), "published is nullable"),
        ((upgrade_without_default, downgrade), "upgrade() failed with 3 post(s)"),
        ((upgrade_default_true, downgrade), "expected false"),
        ((upgrade, downgrade_nothing), "after downgrade() (round 1) app_posts has the columns"),
        ((upgrade, downgrade_losing_rows), "changed the posts' rows"),
        (upgrade, "expected (upgrade, downgrade)"),
    ],
)
async def test_13_2_wrong_migrations_fail(seeded: AsyncEngine, answer: Any, message: str) -> None:
    verdict = await check("13.2", answer)
    assert not verdict.ok
    assert message in verdict.message, verdict.message
