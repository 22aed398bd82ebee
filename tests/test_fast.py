"""ormkit.fast: the fast paths give exactly the plain paths' results, on every backend.

Each test runs on a SQLite file, SQLite in memory, PostgreSQL and MariaDB (the ``kit_db`` /
``seeded`` fixtures) and compares ``read_frame`` / ``add_many_users`` with their fast paths on and
off (``plain_paths()``), and checks which path ran (``trace()``).
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import (
    Post,
    User,
    add_many_users,
    async_session,
    count_users,
    fast,
    read_frame,
    show_sql,
)

ARROW = fast.arrow_available() and fast._connectorx_available()
# Text that CSV, Arrow and every driver must carry through unchanged.
AWKWARD = [
    ('O\'Brien, "Jr"', 41),
    ("back\\slash; semi", 0),
    ("Zoë 🐍 ümlaut", 150),
    ("NULL", 7),
    ("  spaced  ", 99),
]


def backend(engine: AsyncEngine) -> str:
    name = engine.dialect.name
    if name == "sqlite":
        return "sqlite-memory" if engine.url.database in (None, "", ":memory:") else "sqlite-file"
    return "mysql" if name in ("mysql", "mariadb") else name


# SQLite: never ADBC, whose second copy of the SQLite library cannot see the kit's locks on the
# file (it corrupted the WAL index under concurrent writers): the kit's own connection's tuples.
SQLITE_CURSOR = "read_frame: plain tuples into Arrow columns, GC paused (aiosqlite)"
READ_PATH = {  # with the fast extra installed, outside any transaction
    "sqlite-file": SQLITE_CURSOR,
    "sqlite-memory": SQLITE_CURSOR,
    "postgresql": "read_frame: COPY TO STDOUT as CSV, parsed by pyarrow.csv (Arrow columns)",
    "mysql": "read_frame: connectorx, rows straight into Arrow columns",
}
# MariaDB in a transaction, or with text parameters (connectorx takes only literal integers).
MYSQL_CURSOR = "read_frame: plain tuples into Arrow columns, GC paused (asyncmy)"
TEXT_PARAMETER = 7  # statements()[7] compares a name
INSERT_PATH = {
    "sqlite-file": "add_many_users: executemany of plain tuples (aiosqlite)",
    "sqlite-memory": "add_many_users: executemany of plain tuples (aiosqlite)",
    "postgresql": "add_many_users: COPY FROM STDIN, binary (asyncpg copy_records_to_table)",
    "mysql": "add_many_users: executemany of plain tuples (asyncmy)",
}


async def _with_awkward_rows(engine: AsyncEngine) -> None:
    await add_many_users(AWKWARD)
    async with engine.begin() as conn:  # a post whose title has a line break and a quote
        await conn.execute(insert(Post), [{"user_id": 2, "title": 'two\nlines, "quoted"'}])


def statements() -> list[object]:
    return [
        select(User).order_by(User.id),
        select(User.name, User.age).where(User.age > 30).order_by(User.id),
        select(User.id, Post.id.label("post_id"), Post.title)  # NULLs: Int64 and str with NaN
        .outerjoin(Post)
        .order_by(User.id, Post.id),
        select(User, Post).join(Post).order_by(Post.id),  # "User.id", ..., "Post.title"
        select(User).where(User.id < 0),  # empty, still typed
        select(User.name).where(User.id.in_([1, 3, 5])).order_by(User.id),
        select(User.name, func.count(Post.id).label("posts"))
        .outerjoin(Post)
        .group_by(User.id, User.name)
        .order_by(User.id),
        select(User.name).where(User.name == "no such user"),
    ]


@pytest.mark.parametrize("index", range(len(statements())))
async def test_read_frame_fast_equals_plain(seeded: AsyncEngine, index: int) -> None:
    await _with_awkward_rows(seeded)
    stmt = statements()[index]
    with fast.plain_paths(), fast.trace() as plain_ran:
        plain = await read_frame(stmt)
    with fast.trace() as fast_ran:
        got = await read_frame(stmt)
    pd.testing.assert_frame_equal(got, plain, check_dtype=True, check_exact=True)
    assert list(got.columns) == list(plain.columns)
    assert [str(t) for t in got.dtypes] == [str(t) for t in plain.dtypes]
    assert plain_ran == ["read_frame: plain (fast paths turned off)"]
    if ARROW:
        name = backend(seeded)
        mysql_text = name == "mysql" and index == TEXT_PARAMETER
        assert fast_ran == [MYSQL_CURSOR if mysql_text else READ_PATH[name]]


async def test_read_frame_dtypes_are_the_documented_ones(seeded: AsyncEngine) -> None:
    stmt = select(User.id, Post.id.label("post_id"), Post.title).outerjoin(Post).order_by(User.id)
    df = await read_frame(stmt)
    assert [str(t) for t in df.dtypes] == ["int64", "Int64", "str"]
    assert df["post_id"].isna().sum() == 3  # the three sample users without posts
    assert df["title"].isna().sum() == 3


async def test_unsupported_columns_take_the_plain_path(seeded: AsyncEngine) -> None:
    with fast.trace() as ran:
        df = await read_frame(select(func.avg(User.age).label("mean")))
        await read_frame(text("SELECT id FROM users"))
    assert ran[0].startswith("read_frame: plain (a column of type")
    assert ran[1] == "read_frame: plain (not a select())"
    assert df["mean"].dtype == "float64"


async def test_read_in_a_session_sees_its_uncommitted_rows(kit_db: AsyncEngine) -> None:
    rows = [(f"pending {i}", i % 90) for i in range(50)]
    async with async_session() as session:
        await add_many_users(rows, session=session)
        with fast.trace() as ran:
            df = await read_frame(select(User.name, User.age).order_by(User.id), session=session)
        assert list(df.itertuples(index=False, name=None)) == rows
        await session.rollback()
    assert await count_users() == 0  # the COPY / executemany ran inside that transaction
    if ARROW:
        expected = {"mysql": MYSQL_CURSOR}.get(backend(kit_db), READ_PATH[backend(kit_db)])
        assert ran == [expected]


async def test_add_many_users_fast_equals_plain(kit_db: AsyncEngine) -> None:
    rows = [*AWKWARD, *((f"user {i:05d}", i % 151) for i in range(2_000))]
    with fast.trace() as ran:
        assert await add_many_users(rows) == len(rows)
    fast_frame = await read_frame(select(User.name, User.age).order_by(User.id))
    async with kit_db.begin() as conn:
        await conn.execute(text("DELETE FROM users"))
    with fast.plain_paths():
        assert await add_many_users(rows) == len(rows)
    plain_frame = await read_frame(select(User.name, User.age).order_by(User.id))
    pd.testing.assert_frame_equal(fast_frame, plain_frame, check_exact=True)
    assert list(fast_frame.itertuples(index=False, name=None)) == rows
    assert ran == [INSERT_PATH[backend(kit_db)]]


async def test_a_refused_row_rolls_back_the_batch_and_names_the_constraint(
    seeded: AsyncEngine,
) -> None:
    async with seeded.begin() as conn:  # a rule Python's validation does not know about
        await conn.execute(text("CREATE UNIQUE INDEX uq_test_name ON users (name)"))
    rows = [("fresh 1", 20), ("fresh 2", 21), ("Alice", 22), ("fresh 3", 23)]
    with pytest.raises(IntegrityError) as raised:
        await add_many_users(rows)
    expected = "users.name" if seeded.dialect.name == "sqlite" else "uq_test_name"
    assert expected in str(raised.value)
    assert await count_users() == 13  # all or nothing
    async with async_session() as session:  # inside the caller's transaction: same
        with pytest.raises(IntegrityError):
            await add_many_users(rows, session=session)
        await session.rollback()
    assert await count_users() == 13


async def test_copy_never_autocommits(kit_db: AsyncEngine) -> None:
    async with async_session() as session:
        await add_many_users([("Ada", 36), ("Linus", 28)], session=session)
        assert await count_users(session=session) == 2
        await session.rollback()
    assert await count_users() == 0


async def test_show_sql_shows_what_the_fast_paths_send(seeded: AsyncEngine) -> None:
    with show_sql(echo=False) as log:
        await add_many_users([("Ada", 36)])
        await read_frame(select(User.name).where(User.age > 40))
    first = log.statements[0].split(" (")[0]
    if seeded.dialect.name == "postgresql":
        assert first == "COPY users"
        assert log.statements[1].startswith("COPY (SELECT users.name")
        assert log.inserts == 1  # a COPY FROM is the batch's one insert
    else:
        assert first.startswith("INSERT INTO users")
        assert log.statements[1].startswith("SELECT users.name")
    assert log.count == 2


async def test_without_arrow_the_plain_path_runs(
    file_db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = await read_frame(select(User).order_by(User.id))
    monkeypatch.setattr(fast, "arrow_available", lambda: False)
    with fast.trace() as ran:
        df = await read_frame(select(User).order_by(User.id))
    pd.testing.assert_frame_equal(df, expected, check_exact=True)
    assert ran == ["read_frame: plain (pyarrow not installed: pip install 'ormkit[fast]')"]


def test_import_ormkit_leaves_pandas_and_arrow_for_later() -> None:
    heavy = "('pandas', 'pyarrow', 'numpy', 'adbc_driver_sqlite')"
    code = f"import sys, ormkit; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_the_path_taken_is_logged(
    file_db: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG", logger="ormkit.fast"), fast.plain_paths():
        await read_frame(select(User))
    assert [r.getMessage() for r in caplog.records if r.name == "ormkit.fast"] == [
        "read_frame: plain (fast paths turned off)"
    ]
