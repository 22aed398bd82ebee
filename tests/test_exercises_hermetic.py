"""Every exercise with its solution, wrong answers and cheats, on SQLite, PostgreSQL and MariaDB.

Each case checks one answer on a seeded learner database and asserts the verdict (right or not,
and the sentence that says why), and that the learner's database is the same afterwards: its
tables, columns, indexes and every row, read independently of the checker's own fingerprint. The
cheats are those the checkers must catch: hard-coded or pasted ids and values, a missing
tie-break, a wrong bound, grouping by a non-unique column, commits where none is asked for, DDL,
sessions of its own (``add_user()``), an engine captured before the check, leftover tasks and
leaked connections.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from backends import ServerDatabases
from conftest import backend_url_for
from sqlalchemy import (
    Index,
    String,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, selectinload

from ormkit import add_user, count_users, db, make_engine
from ormkit.exercises import check, exercises
from ormkit.models import Post, User

# SQLite in a file (where concurrency is real), PostgreSQL and MariaDB/MySQL.
HERMETIC_BACKENDS = [
    "sqlite-file",
    pytest.param("postgresql", marks=pytest.mark.servers),
    pytest.param("mysql", marks=pytest.mark.servers),
]


@pytest.fixture(params=HERMETIC_BACKENDS)
async def learner(
    request: pytest.FixtureRequest, tmp_path: Path, server_databases: ServerDatabases
) -> AsyncIterator[AsyncEngine]:
    """The learner's database, seeded as the notebooks leave it after ``reset()``."""
    async with db.kit.using(backend_url_for(request.param, tmp_path, server_databases)) as engine:
        await db.reset()
        yield engine


def _read_everything(conn: Any) -> Any:
    found = inspect(conn)
    state = []
    for table in sorted(found.get_table_names()):
        columns = [(c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)]
        indexes = sorted(
            (i["name"], tuple(i["column_names"]), bool(i["unique"]))
            for i in found.get_indexes(table)
        )
        rows = sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {table}")).all())
        state.append((table, columns, indexes, rows))
    return state


async def snapshot() -> Any:
    """The learner's database: tables, columns, indexes and rows."""
    async with db.kit.engine.connect() as conn:
        return await conn.run_sync(_read_everything)


# ----------------------------------------------------------------------------------------------
# The answers. Each maker runs when the case runs, with the learner's engine already in place, as
# a notebook cell would (so `engine` below is the learner's engine object, captured before check).


def _engine() -> AsyncEngine:
    return db.kit.engine


def sessionmaker_right() -> Any:
    return async_sessionmaker(_engine(), expire_on_commit=False)


def sessionmaker_expiring() -> Any:
    return async_sessionmaker(_engine())


def tag_model(*, nullable_label: bool) -> Any:
    class TagBase(DeclarativeBase):
        pass

    if nullable_label:

        class LooseTag(TagBase):
            __tablename__ = "tags"
            id: Mapped[int] = mapped_column(primary_key=True)
            label: Mapped[str | None] = mapped_column(String(30))
            note: Mapped[str | None]

        return LooseTag

    class Tag(TagBase):
        __tablename__ = "tags"
        id: Mapped[int] = mapped_column(primary_key=True)
        label: Mapped[str] = mapped_column(String(30))
        note: Mapped[str | None]

    return Tag


def create_tables(kind: str) -> Any:
    captured = _engine()

    async def answer(engine: AsyncEngine) -> None:
        from ormkit.models import Base

        target = engine if kind == "right" else captured
        async with target.begin() as conn:
            if kind == "destructive":  # drops and recreates the kit's tables: rows are gone
                await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)

    return answer


def new_user_id(kind: str) -> Any:
    captured = _engine()

    async def answer(session: AsyncSession) -> Any:
        if kind == "add_user":  # its own session, committed
            return (await add_user("Oscar", 44)).id
        if kind == "ddl":  # an index created through the engine captured before the check
            async with captured.begin() as conn:
                await conn.execute(text("CREATE INDEX ix_cheat_age ON users (age)"))
        oscar = User(name="Oscar", age=44)
        session.add(oscar)
        if kind == "no flush":
            return oscar.id
        await session.flush()
        if kind == "pasted id":
            return 14  # the id Oscar gets in the sample data
        return oscar.id

    return answer


TEAM = [("Pat", 33), ("Quinn", 29), ("Rae", 41)]


def add_team(kind: str) -> Any:
    async def answer(session: AsyncSession) -> None:
        if kind == "one by one":
            session.add_all([User(name=n, age=a) for n, a in TEAM])
            await session.flush()
            return
        await session.execute(insert(User), [{"name": n, "age": a} for n, a in TEAM])
        if kind == "commit":
            await session.commit()

    return answer


def add_pair(kind: str) -> Any:
    async def answer(session: AsyncSession) -> list[User]:
        users = [User(name="Ann", age=23), User(name="Ben", age=52)]
        session.add_all(users)
        if kind == "commit":
            await session.commit()
        elif kind == "right":
            await session.flush()
        return users

    return answer


def find_one(kind: str) -> Any:
    async def answer(session: AsyncSession, name: str) -> Any:
        if kind == "pasted id":
            return await session.get(User, 3)
        result = await session.execute(select(User).where(User.name == name))
        return result.scalars().first() if kind == "first" else result.scalar_one()

    return answer


async def young_as_mappings(limit: int) -> Any:
    async with db.async_session() as session:
        stmt = select(User.name, User.age).where(User.age < limit).order_by(User.age)
        return (await session.execute(stmt)).mappings().all()


def users_with_posts(kind: str) -> Any:
    async def answer(session: AsyncSession) -> Any:
        loader = joinedload(User.posts) if kind == "right" else selectinload(User.posts)
        stmt = select(User).options(loader).order_by(User.id)
        return (await session.execute(stmt)).unique().scalars().all()

    return answer


def birthday(kind: str) -> Any:
    async def answer(session: AsyncSession, user_id: int) -> int | None:
        user = await session.get(User, user_id)
        if user is None and kind != "crash":
            return None
        assert user is not None or kind == "crash"
        user.age += 1  # type: ignore[union-attr]  # the "crash" answer forgets None
        if kind == "commit":
            await session.commit()
        elif kind != "no flush":
            await session.flush()
        return user.age  # type: ignore[union-attr]

    return answer


def users_frame(kind: str) -> Any:
    captured = _engine()

    async def answer() -> Any:
        order = User.name if kind == "by name" else User.id
        stmt = select(User.id, User.name, User.age).order_by(order)
        async with captured.begin() as conn:
            if kind == "deletes":  # deletes every post (through the captured engine), then reads
                await conn.execute(delete(Post))
            return await conn.run_sync(lambda sync_conn: pd.read_sql(stmt, sync_conn))

    return answer


async def per_decade(*, dtype: str = "int64") -> pd.DataFrame:
    async with db.async_session() as session:
        n_posts = select(func.count(Post.id)).where(Post.user_id == User.id).scalar_subquery()
        rows = (await session.execute(select(User.age, n_posts))).all()
    frame = pd.DataFrame(rows, columns=["age", "posts"])
    frame["decade"] = frame["age"] // 10 * 10
    out = (
        frame.groupby("decade")
        .agg(users=("age", "count"), posts=("posts", "sum"))
        .reset_index()
        .astype(dtype)
    )
    return out


SAMPLE_TITLES = {1: ["Hello, async world", "Sessions are not thread-safe"]}


def post_titles(kind: str) -> Any:
    async def answer(user_id: int) -> list[str]:
        if kind == "pasted":  # the sample's titles, looked up beforehand
            async with db.async_session() as session:
                ids = (await session.execute(select(User.id).order_by(User.id))).scalars().all()
            if ids[0] != 1:
                return []
            titles = {
                1: [
                    "Hello, async world",
                    "Sessions are not thread-safe",
                    "selectinload vs joinedload",
                ],
                6: [],
                4: [
                    "Bulk inserts in SQLAlchemy 2.1",
                    "JOIN or subquery?",
                    "Counting rows with func.count",
                ],
            }
            return titles[user_id]
        async with db.async_session() as session:
            if kind == "lazy":
                user = await session.get(User, user_id)
            else:
                user = await session.get(User, user_id, options=[selectinload(User.posts)])
            assert user is not None
            return [post.title for post in user.posts]

    return answer


def user_names(kind: str) -> Any:
    async def one_name(session: AsyncSession | None, user_id: int) -> str:
        if session is not None:
            user = await session.get(User, user_id)
            assert user is not None
            return user.name
        async with db.async_session() as own:
            user = await own.get(User, user_id)
            assert user is not None
            return user.name

    async def answer(user_ids: list[int]) -> list[str]:
        if kind == "sequential":
            return [await one_name(None, i) for i in user_ids]
        if kind == "shared":
            session = db.async_session()  # one session for every task, never closed
            return list(await asyncio.gather(*(one_name(session, i) for i in user_ids)))
        if kind == "leftover task":
            asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        return list(await asyncio.gather(*(one_name(None, i) for i in user_ids)))

    return answer


def add_and_describe(kind: str) -> Any:
    expiring_session = async_sessionmaker(_engine())  # as the lesson defines it

    async def answer(name: str, age: int) -> dict[str, Any]:
        async with expiring_session() as session:
            user = User(name=name, age=age)
            session.add(user)
            await session.commit()
            if kind == "right":
                await session.refresh(user)
            return user.to_dict()

    return answer


def add_user_with_posts(kind: str) -> Any:
    async def answer(name: str, age: int, titles: list[str]) -> Any:
        if kind == "two transactions":
            async with db.async_session.begin() as session:
                user = User(name=name, age=age)
                session.add(user)
            async with db.async_session.begin() as session:
                session.add_all([Post(user_id=user.id, title=t) for t in titles])
            return user
        async with db.async_session.begin() as session:
            user = User(name=name, age=age)
            session.add(user)
            await session.flush()
            for title in titles:
                session.add(Post(user_id=user.id, title=title))
        return user

    return answer


def add_posts(kind: str) -> Any:
    async def answer(pairs: list[tuple[int, str]]) -> int:
        if kind == "hard-coded":
            return 2
        added = 0
        if kind == "commit each":
            for user_id, title in pairs:
                try:
                    async with db.async_session.begin() as session:
                        session.add(Post(user_id=user_id, title=title))
                except IntegrityError:
                    continue
                added += 1
            return added
        async with db.async_session.begin() as session:
            for user_id, title in pairs:
                try:
                    async with session.begin_nested():
                        session.add(Post(user_id=user_id, title=title))
                except IntegrityError:
                    continue
                added += 1
        return added

    return answer


async def reader_counts(kind: str) -> tuple[int, int, int]:
    n = await count_users()
    return (n - 1, n, n - 1) if kind == "right" else (n, n, n - 1)


def load(kind: str) -> Any:
    async def answer(session: AsyncSession, rows: list[tuple[str, int]]) -> None:
        if kind == "objects":
            session.add_all([User(name=n, age=a) for n, a in rows])
            await session.flush()
            return
        await session.execute(insert(User), [{"name": n, "age": a} for n, a in rows])
        if kind == "commit":
            await session.commit()

    return answer


def between(*, tie_break: bool = True, low: int = 30) -> Any:
    order = (User.age.desc(), User.name) if tie_break else (User.age.desc(),)
    return select(User.name, User.age).where(User.age.between(low, 45)).order_by(*order)


def _avg() -> Any:
    return select(func.avg(User.age)).scalar_subquery()


def _count() -> Any:
    return func.count(Post.id)


# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    exercise: str
    kind: str
    make: Callable[[], Any]  # may be a coroutine function: awaited
    ok: bool
    says: str = ""  # a piece of the verdict's message

    @property
    def id(self) -> str:
        return f"{self.exercise}-{self.kind}"


COMMITTED = "your answer committed changes to the database"
FUNCTION_COMMITTED = "your function committed"

CASES = [
    # 01
    Case("01.1", "right", sessionmaker_right, True),
    Case("01.1", "expiring", sessionmaker_expiring, False, "expired"),
    Case("01.1", "unbound", lambda: lambda: AsyncSession(), False, "cannot read"),
    Case("01.2", "right", lambda: tag_model(nullable_label=False), True),
    Case("01.2", "nullable label", lambda: tag_model(nullable_label=True), False, "refuse NULL"),
    Case("01.3", "right", lambda: create_tables("right"), True),
    Case("01.3", "kit's engine", lambda: create_tables("captured"), False, "no table exists"),
    Case("01.3", "destructive", lambda: create_tables("destructive"), False, COMMITTED),
    # 02
    Case("02.1", "right", lambda: new_user_id("right"), True),
    Case("02.1", "no flush", lambda: new_user_id("no flush"), False, "returned None"),
    Case("02.1", "add_user", lambda: new_user_id("add_user"), False, COMMITTED),
    Case("02.1", "ddl", lambda: new_user_id("ddl"), False, COMMITTED),
    Case("02.1", "pasted id", lambda: new_user_id("pasted id"), False, "With the sample rows"),
    Case("02.2", "right", lambda: add_team("right"), True),
    Case("02.2", "one by one", lambda: add_team("one by one"), False, "INSERT statement"),
    Case("02.2", "commit", lambda: add_team("commit"), False, FUNCTION_COMMITTED),
    Case("02.3", "right", lambda: add_pair("right"), True),
    Case("02.3", "no flush", lambda: add_pair("no flush"), False, "has no id yet"),
    Case("02.3", "commit", lambda: add_pair("commit"), False, FUNCTION_COMMITTED),
    # 03
    Case("03.1", "right", between, True),
    Case("03.1", "no tie-break", lambda: between(tie_break=False), False, "wrong order"),
    Case("03.1", "wrong bound", lambda: between(low=31), False, "missing"),
    Case(
        "03.1",
        "pasted ids",
        lambda: (
            select(User.name, User.age)
            .where(User.id.in_([1, 3, 4, 9, 12]))
            .order_by(User.age.desc(), User.name)
        ),
        False,
        "With extra users aged 29, 30, 45 and 46",
    ),
    Case(
        "03.2", "right", lambda: select(User).order_by(User.name, User.id).limit(5).offset(5), True
    ),
    Case("03.2", "by id", lambda: select(User).order_by(User.id).limit(5).offset(5), False, "With"),
    Case("03.2", "page 1", lambda: select(User).order_by(User.name).limit(5), False, "should not"),
    Case(
        "03.3",
        "right",
        lambda: (
            select(Post.user_id, _count())
            .group_by(Post.user_id)
            .having(_count() >= 2)
            .order_by(Post.user_id)
        ),
        True,
    ),
    Case(
        "03.3",
        "pasted ids",
        lambda: (
            select(Post.user_id, _count())
            .where(Post.user_id.in_([1, 2, 4, 8]))
            .group_by(Post.user_id)
            .order_by(Post.user_id)
        ),
        False,
        "With other ids and post counts",
    ),
    Case(
        "03.3",
        "more than two",
        lambda: (
            select(Post.user_id, _count())
            .group_by(Post.user_id)
            .having(_count() > 2)
            .order_by(Post.user_id)
        ),
        False,
        "missing",
    ),
    Case("03.4", "right", lambda: select(User).where(User.age > _avg()).order_by(User.id), True),
    Case(
        "03.4",
        "typed average",
        lambda: select(User).where(User.age > 38.9).order_by(User.id),
        False,
        "compute the average in the query",
    ),
    Case("03.4", "younger", lambda: select(User).where(User.age < _avg()), False, "should not"),
    # 04
    Case("04.1", "right", lambda: find_one("right"), True),
    Case("04.1", "first", lambda: find_one("first"), False, "NoResultFound"),
    Case("04.1", "pasted id", lambda: find_one("pasted id"), False, "NoResultFound"),
    Case("04.2", "right", lambda: young_as_mappings(25), True),
    Case("04.2", "wrong bound", lambda: young_as_mappings(26), False, "check the filter"),
    Case("04.3", "right", lambda: users_with_posts("right"), True),
    Case("04.3", "two selects", lambda: users_with_posts("selectin"), False, "2 SELECT"),
    # 05
    Case("05.1", "right", lambda: update(User).where(User.age > 60).values(age=User.age + 1), True),
    Case(
        "05.1",
        "wrong bound",
        lambda: update(User).where(User.age >= 60).values(age=User.age + 1),
        False,
        "With users aged exactly 60 and 61",
    ),
    Case(
        "05.1",
        "pasted ids",
        lambda: update(User).where(User.id.in_([8, 13])).values(age=User.age + 1),
        False,
        "With users aged exactly 60 and 61",
    ),
    Case(
        "05.2",
        "right",
        lambda: delete(Post).where(Post.title.contains("SQL")).returning(Post.id, Post.title),
        True,
    ),
    Case(
        "05.2",
        "returning(Post)",
        lambda: delete(Post).where(Post.title.contains("SQL")).returning(Post),
        False,
        "whole Post objects",
    ),
    Case(
        "05.2",
        "pasted ids",
        lambda: delete(Post).where(Post.id.in_([7, 11])).returning(Post.id, Post.title),
        False,
        "With other ids and more titles mentioning SQL",
    ),
    Case(
        "05.2",
        "no returning",
        lambda: delete(Post).where(Post.title.contains("SQL")),
        False,
        "no RETURNING",
    ),
    Case("05.3", "right", lambda: birthday("right"), True),
    Case("05.3", "no flush", lambda: birthday("no flush"), False, "(flush it)"),
    Case("05.3", "commit", lambda: birthday("commit"), False, FUNCTION_COMMITTED),
    Case("05.3", "crash", lambda: birthday("crash"), False, "it raised AttributeError"),
    # 06
    Case(
        "06.1",
        "right",
        lambda: select(User).outerjoin(User.posts).where(Post.id.is_(None)).order_by(User.id),
        True,
    ),
    Case(
        "06.1",
        "pasted ids",
        lambda: select(User).where(User.id.in_([6, 10, 13])).order_by(User.id),
        False,
        "missing",
    ),
    Case(
        "06.2",
        "right",
        lambda: (
            select(User.name, func.count(Post.id))
            .outerjoin(User.posts)
            .group_by(User.id, User.name)
            .order_by(User.id)
        ),
        True,
    ),
    Case(
        "06.2",
        "by name",
        lambda: (
            select(User.name, func.count(Post.id))
            .outerjoin(User.posts)
            .group_by(User.name)
            .order_by(func.min(User.id))
        ),
        False,
        "With two users named Alice",
    ),
    Case(
        "06.2",
        "inner join",
        lambda: (
            select(User.name, func.count(Post.id))
            .join(User.posts)
            .group_by(User.id, User.name)
            .order_by(User.id)
        ),
        False,
        "without posts",
    ),
    Case(
        "06.3",
        "right",
        lambda: select(User).options(selectinload(User.posts)).order_by(User.id),
        True,
    ),
    Case("06.3", "no loader", lambda: select(User).order_by(User.id), False, "MissingGreenlet"),
    # 07
    Case(
        "07.1",
        "right",
        lambda: (
            select(Post.id.label("post_id"), Post.title, User.name.label("author"))
            .join(Post.user)
            .order_by(Post.id)
        ),
        True,
    ),
    Case(
        "07.1",
        "pasted ids",
        lambda: (
            select(Post.id.label("post_id"), Post.title, User.name.label("author"))
            .join(Post.user)
            .where(Post.id <= 16)
            .order_by(Post.id)
        ),
        False,
        "With the sample rows with other ids",
    ),
    Case("07.2", "right", per_decade, True),
    Case("07.2", "floats", lambda: per_decade(dtype="float64"), False, "dtype"),
    Case("07.3", "right", lambda: users_frame("right"), True),
    Case("07.3", "by name", lambda: users_frame("by name"), False, "wrong order"),
    Case("07.3", "deletes posts", lambda: users_frame("deletes"), False, COMMITTED),
    # 08
    Case("08.1", "right", lambda: post_titles("right"), True),
    Case("08.1", "lazy", lambda: post_titles("lazy"), False, "MissingGreenlet"),
    Case("08.1", "pasted", lambda: post_titles("pasted"), False, "With the sample rows"),
    Case("08.2", "right", lambda: user_names("right"), True),
    Case("08.2", "leftover task", lambda: user_names("leftover task"), True),
    Case("08.2", "sequential", lambda: user_names("sequential"), False, "one after another"),
    Case("08.2", "shared session", lambda: user_names("shared"), False, "shared one session"),
    Case("08.3", "right", lambda: add_and_describe("right"), True),
    Case("08.3", "expired", lambda: add_and_describe("expired"), False, "MissingGreenlet"),
    # 09
    Case("09.1", "right", lambda: add_user_with_posts("right"), True),
    Case(
        "09.1",
        "two transactions",
        lambda: add_user_with_posts("two transactions"),
        False,
        "left the user behind",
    ),
    Case("09.2", "right", lambda: add_posts("right"), True),
    Case("09.2", "commit each", lambda: add_posts("commit each"), False, "committed 2 times"),
    Case("09.2", "hard-coded", lambda: add_posts("hard-coded"), False, "nothing was stored"),
    Case("09.3", "right", lambda: reader_counts("right"), True),
    Case("09.3", "writer blind", lambda: reader_counts("wrong"), False, "writer's own count"),
    # 10
    Case(
        "10.1", "right", lambda: select(User).where(User.name.ilike("a%")).order_by(User.id), True
    ),
    Case(
        "10.1",
        "pasted names",
        lambda: select(User).where(User.name.in_(["Alice", "aaron"])).order_by(User.id),
        False,
        "With names starting with 'a' and 'A'",
    ),
    Case(
        "10.1",
        "like",
        lambda: select(User).where(User.name.like("A%")).order_by(User.id),
        False,
        "",
    ),
    Case("10.2", "right", lambda: {"sqlite", "postgresql"}, True),
    Case("10.2", "one", lambda: {"sqlite"}, False, "not the right ones"),
    Case(
        "10.3",
        "right",
        lambda: str(
            select(User.name)
            .where(User.age > 40)
            .order_by(User.id)
            .compile(dialect=asyncpg.dialect())
        ),
        True,
    ),
    Case(
        "10.3",
        "sqlite",
        lambda: str(
            select(User.name)
            .where(User.age > 40)
            .order_by(User.id)
            .compile(dialect=sqlite.dialect())
        ),
        False,
        "paramstyle",
    ),
    # 11
    Case("11.1", "right", lambda: load("right"), True),
    Case("11.1", "objects", lambda: load("objects"), False, "INSERT statements"),
    Case("11.1", "commit", lambda: load("commit"), False, FUNCTION_COMMITTED),
    Case("11.2", "right", lambda: Index("ix_users_name", User.name), True),
    Case("11.2", "age", lambda: Index("ix_users_age_check", User.age), False, "starts with age"),
]


def test_every_exercise_has_a_right_and_a_wrong_case() -> None:
    ids = {e.id for e in exercises() if e.id < "12"}  # lessons 01-11: this file's
    right = {c.exercise for c in CASES if c.ok}
    wrong = {c.exercise for c in CASES if not c.ok}
    assert right == ids
    assert wrong == ids


async def _answer(case: Case) -> Any:
    made = case.make()
    return await made if asyncio.iscoroutine(made) else made


def _cases(first: str, last: str) -> Any:
    chosen = [c for c in CASES if first <= c.exercise[:2] <= last]
    return pytest.mark.parametrize("case", chosen, ids=[c.id for c in chosen])


# Three classes, so that pytest-xdist's --dist loadscope spreads the cases over its workers.
class TestLessons01To04:
    @_cases("01", "04")
    async def test_answer(self, learner: AsyncEngine, case: Case) -> None:
        await _check_case(learner, case)


class TestLessons05To07:
    @_cases("05", "07")
    async def test_answer(self, learner: AsyncEngine, case: Case) -> None:
        await _check_case(learner, case)


class TestLessons08To11:
    @_cases("08", "11")
    async def test_answer(self, learner: AsyncEngine, case: Case) -> None:
        await _check_case(learner, case)


async def _check_case(learner: AsyncEngine, case: Case) -> None:
    before = await snapshot()
    tasks_before = asyncio.all_tasks()
    answer = await _answer(case)
    verdict = await check(case.exercise, answer)
    assert verdict.ok is case.ok, verdict
    assert case.says in verdict.message, verdict
    # The learner's database is as it was, and the check left nothing running or to collect.
    assert await snapshot() == before
    assert asyncio.all_tasks() == tasks_before
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert db.kit.engine is learner


async def test_right_answer_passes_after_a_wrong_one_and_twice(learner: AsyncEngine) -> None:
    # 11.2: the index of a right answer is not left behind to break the next check.
    for index, ok in ((Index("ix_users_name", User.name), True),) * 2:
        assert (await check("11.2", index)).ok is ok
    before = await snapshot()
    assert not (await check("02.1", new_user_id("add_user"))).ok
    assert (await check("02.1", new_user_id("right"))).ok
    assert await snapshot() == before


async def test_datasets_per_exercise() -> None:
    counts = {e.id: len(e.datasets) for e in exercises() if e.id < "12"}
    assert counts == {
        "01.1": 2, "01.2": 1, "01.3": 1,
        "02.1": 2, "02.2": 2, "02.3": 2,
        "03.1": 3, "03.2": 2, "03.3": 2, "03.4": 2,
        "04.1": 3, "04.2": 1, "04.3": 2,
        "05.1": 2, "05.2": 2, "05.3": 2,
        "06.1": 2, "06.2": 3, "06.3": 2,
        "07.1": 3, "07.2": 1, "07.3": 2,
        "08.1": 2, "08.2": 3, "08.3": 1,
        "09.1": 1, "09.2": 2, "09.3": 1,
        "10.1": 2, "10.2": 1, "10.3": 1,
        "11.1": 1, "11.2": 1,
    }  # fmt: skip


async def test_an_engine_of_its_own_is_reported_and_sqlite_put_back(learner: AsyncEngine) -> None:
    before = await snapshot()
    url = learner.url

    async def users_frame() -> Any:
        own = make_engine(url)  # not the kit's engine: the checker cannot redirect it
        try:
            async with own.begin() as conn:
                await conn.execute(delete(Post))
                stmt = select(User.id, User.name, User.age).order_by(User.id)
                return await conn.run_sync(lambda sync_conn: pd.read_sql(stmt, sync_conn))
        finally:
            await own.dispose()

    verdict = await check("07.3", users_frame)
    assert not verdict.ok
    assert "through an engine of its own" in verdict.message
    assert "put your database back as it was" in verdict.message
    assert await snapshot() == before
