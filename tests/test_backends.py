"""The same kit on SQLite, PostgreSQL and MariaDB/MySQL: what must not differ, and what may.

Tests taking ``kit_db`` / ``seeded`` run on every reachable backend (see ``conftest.py``); those
taking ``server_url`` only on the servers. A refused row must fail the same way everywhere: a
``ValidationError`` from the kit's coroutines, an ``IntegrityError`` from the database itself
(``ormkit.db`` maps the servers' "check failed" / "too long" errors to it), and nothing written.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator

import pytest
from backends import SERVERS, ServerDatabases
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import CompileError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import (
    ConfigError,
    InvalidTypeError,
    Post,
    User,
    ValidationError,
    add_many_users,
    add_post,
    add_user,
    async_session,
    count_users,
    db,
    get_user_by_name,
    make_engine,
    reset,
    resolve_url,
    sample_data,
)
from ormkit.validation import NAME_MAX_LENGTH, TITLE_MAX_LENGTH

N_USERS = len(sample_data.USERS)
N_POSTS = len(sample_data.POSTS)

# (name, age) -> (exception class, message): the same on every backend, character for character.
BAD_USERS = {
    ("", 30): (ValidationError, "name must not be empty or blank, got ''"),
    ("   ", 30): (ValidationError, "name must not be empty or blank, got '   '"),
    (None, 30): (InvalidTypeError, "name must be a string, not NoneType, got None"),
    ("Bob", -5): (ValidationError, "age must be between 0 and 150, got -5"),
    ("Bob", 151): (ValidationError, "age must be between 0 and 150, got 151"),
    ("Bob", "thirty"): (InvalidTypeError, "age must be an integer, not str, got 'thirty'"),
    ("Bob", True): (InvalidTypeError, "age must be an integer, not bool, got True"),
    ("x" * 100_000, 30): (
        ValidationError,
        "name must be at most 50 characters, got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' "
        "(100,000 characters)",
    ),
}

# Rows that skip Python's checks (Core insert) and must be refused by the database itself.
BAD_ROWS = {
    "empty name": {"name": "", "age": 30},
    "name one too long": {"name": "x" * (NAME_MAX_LENGTH + 1), "age": 30},
    "multibyte name one too long": {"name": "é" * (NAME_MAX_LENGTH + 1), "age": 30},
    "100,000-character name": {"name": "x" * 100_000, "age": 30},
    "negative age": {"name": "Bob", "age": -5},
    "age above 150": {"name": "Bob", "age": 151},
    "no name": {"name": None, "age": 30},
    "no age": {"name": "Bob", "age": None},
}


async def table_counts() -> tuple[int, int]:
    async with async_session() as session:
        users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
        posts = (await session.execute(select(func.count()).select_from(Post))).scalar_one()
    return users, posts


# --- refused the same way everywhere --------------------------------------------------------


@pytest.mark.parametrize(("name", "age"), list(BAD_USERS), ids=repr)
async def test_bad_input_is_rejected_identically(seeded: AsyncEngine, name, age) -> None:
    kind, message = BAD_USERS[(name, age)]
    with pytest.raises(kind) as caught:
        await add_user(name, age)
    assert str(caught.value) == message
    with pytest.raises(ValueError) as caught:
        await add_many_users([("Good", 20), (name, age)])
    assert caught.value.field.startswith("users[1]")
    assert await table_counts() == (N_USERS, N_POSTS)


@pytest.mark.parametrize("row", list(BAD_ROWS.values()), ids=list(BAD_ROWS))
async def test_database_refuses_bad_rows_with_integrity_error(seeded: AsyncEngine, row) -> None:
    with pytest.raises(IntegrityError):
        async with seeded.begin() as conn:
            await conn.execute(insert(User.__table__), [row])
    assert await table_counts() == (N_USERS, N_POSTS)


async def test_database_refuses_a_wrong_type_too(seeded: AsyncEngine) -> None:
    # The class differs here (SQLite's CHECK says IntegrityError, asyncpg and MySQL a data
    # error): column types are the backends' business, which is why the kit checks them in Python.
    with pytest.raises(DBAPIError):
        async with seeded.begin() as conn:
            await conn.execute(insert(User.__table__), [{"name": "Bob", "age": "thirty"}])
    assert await table_counts() == (N_USERS, N_POSTS)


async def test_database_refuses_an_overlong_title(seeded: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with seeded.begin() as conn:
            row = {"title": "t" * (TITLE_MAX_LENGTH + 1), "user_id": 1}
            await conn.execute(insert(Post.__table__), [row])
    assert await table_counts() == (N_USERS, N_POSTS)


async def test_lengths_count_characters_not_bytes(kit_db: AsyncEngine) -> None:
    # 50 four-byte characters fit a 50-character column on every backend (utf8mb4 on MySQL).
    name = "😀" * NAME_MAX_LENGTH
    async with kit_db.begin() as conn:
        await conn.execute(insert(User.__table__), [{"name": name, "age": 1}])
    assert (await get_user_by_name(name)).name == name


async def test_a_bad_row_in_a_core_batch_writes_nothing(seeded: AsyncEngine) -> None:
    rows = [{"name": "Good", "age": 20}, {"name": "x" * 51, "age": 20}]
    with pytest.raises(IntegrityError):
        async with seeded.begin() as conn:
            await conn.execute(insert(User.__table__), rows)
    assert await table_counts() == (N_USERS, N_POSTS)


async def test_orphan_post_is_refused_by_every_route(seeded: AsyncEngine) -> None:
    with pytest.raises(ValidationError, match="user_id does not match any user, got 999"):
        await add_post(999, "Orphan")
    with pytest.raises(IntegrityError):
        async with async_session.begin() as session:
            session.add(Post(title="Orphan", user_id=999))
    with pytest.raises(IntegrityError):
        async with seeded.begin() as conn:
            await conn.execute(insert(Post.__table__), [{"title": "Orphan", "user_id": 999}])
    assert await table_counts() == (N_USERS, N_POSTS)


async def test_deleting_a_user_leaves_no_orphans(seeded: AsyncEngine) -> None:
    async with seeded.begin() as conn:
        await conn.execute(delete(User.__table__).where(User.id == 1))
    async with async_session() as session:
        orphans = select(func.count()).select_from(Post).where(~Post.user.has())
        assert (await session.execute(orphans)).scalar_one() == 0


async def test_text_comparison_and_order_are_the_same_everywhere(seeded: AsyncEngine) -> None:
    # MySQL's default collation is case-insensitive; the kit's tables use a binary one.
    assert await get_user_by_name("alice") is None
    assert (await get_user_by_name("Alice")).id == 1
    await add_many_users([("bob", 1), ("Émile", 3), ("zoë", 4), ("Zed", 5)])
    async with async_session() as session:
        result = await session.execute(select(User.name).order_by(User.name, User.id))
        names = result.scalars().all()
    assert names == sorted(names)  # code point order: "B" < "Z" < "b" < "z" < "É"


# --- what the dialects support -----------------------------------------------------------


async def test_insert_and_delete_returning_work_everywhere(seeded: AsyncEngine) -> None:
    async with seeded.begin() as conn:
        new = await conn.execute(insert(User).returning(User.id), [{"name": "R", "age": 1}])
        assert new.scalar_one() == N_USERS + 1
        gone = await conn.execute(delete(User).where(User.id == 6).returning(User.name))
        assert gone.scalar_one() == "Frank"


async def test_update_returning_is_missing_only_on_mariadb(seeded: AsyncEngine) -> None:
    stmt = update(User).where(User.id == 1).values(age=31).returning(User.age)
    dialect = seeded.dialect
    mariadb = dialect.name in ("mysql", "mariadb") and dialect.is_mariadb
    assert dialect.update_returning is (dialect.name != "mysql" and not mariadb)
    async with seeded.begin() as conn:
        if dialect.update_returning:
            assert (await conn.execute(stmt)).scalar_one() == 31
        else:
            # SQLAlchemy sends it anyway; MariaDB answers with a syntax error.
            with pytest.raises((CompileError, ProgrammingError), match="RETURNING"):
                await conn.execute(stmt)


async def test_ids_continue_after_the_sample_data_after_every_reset(seeded: AsyncEngine) -> None:
    # PostgreSQL sequences ignore explicit ids; reset() moves them past the sample data.
    for _ in range(2):
        assert (await add_user("Next", 1)).id == N_USERS + 1
        assert (await add_post(1, "Next")).id == N_POSTS + 1
        await reset()


async def test_isolation_level(kit_db: AsyncEngine) -> None:
    expected = {"sqlite": "SERIALIZABLE", "postgresql": "READ COMMITTED"}
    async with kit_db.connect() as conn:
        level = await conn.get_isolation_level()
    assert level == expected.get(kit_db.dialect.name, "READ COMMITTED")


# --- servers only -----------------------------------------------------------------------


@pytest.fixture
async def server_db(server_url: str) -> AsyncIterator[AsyncEngine]:
    async with db.kit.using(server_url) as engine:
        await reset()
        yield engine


async def test_servers_use_pool_pre_ping_and_survive_a_killed_connection(
    server_db: AsyncEngine,
) -> None:
    assert server_db.pool._pre_ping
    postgres = server_db.dialect.name == "postgresql"
    own_id = text("SELECT pg_backend_pid()" if postgres else "SELECT CONNECTION_ID()")
    async with server_db.connect() as conn:
        victim = (await conn.execute(own_id)).scalar_one()
    # Kill the pooled connection from outside, as a server restart would.
    other = make_engine(server_db.url)
    try:
        async with other.connect() as conn:
            if postgres:
                await conn.execute(text(f"SELECT pg_terminate_backend({victim})"))
            else:
                await conn.execute(text(f"KILL {victim}"))
    finally:
        await other.dispose()
    await asyncio.sleep(0.2)
    assert await count_users() == N_USERS  # the dead connection is replaced, no error


@pytest.mark.servers
@pytest.mark.parametrize("server_url", ["mysql"], indirect=True)  # sql_mode is MySQL/MariaDB only
async def test_mysql_sql_mode_is_strict(server_db: AsyncEngine) -> None:
    async with server_db.connect() as conn:
        mode = (await conn.execute(text("SELECT @@SESSION.sql_mode"))).scalar_one()
        charset = (await conn.execute(text("SELECT @@character_set_client"))).scalar_one()
    assert "STRICT_ALL_TABLES" in mode.split(",")
    assert charset == "utf8mb4"


# --- configuration and the test machinery -------------------------------------------------


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("postgresql+asyncpg://postgres@127.0.0.1/test", "postgresql"),
        ("mysql+asyncmy://root@127.0.0.1/test", "mysql"),
        ("mariadb+asyncmy://root@127.0.0.1/test", "mysql"),
    ],
)
def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch, url, extra) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n in ("asyncpg", "asyncmy") else real(n)
    )
    with pytest.raises(ConfigError, match=rf"pip install 'ormkit\[{extra}\]'"):
        resolve_url(url)


@pytest.mark.parametrize(
    ("url", "suggestion"),
    [("postgresql://postgres@h/test", "postgresql+asyncpg"), ("mysql://root@h/t", "mysql+asyncmy")],
)
def test_a_sync_driver_gets_the_async_one_suggested(url, suggestion) -> None:
    with pytest.raises(ConfigError, match="not an asyncio driver") as caught:
        resolve_url(url)
    assert suggestion in str(caught.value)


@pytest.mark.parametrize("name", list(SERVERS))
def test_unreachable_server_skips_with_how_to_start_it(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    server = SERVERS[name]
    driver = server.default_url.split("://")[0]
    monkeypatch.setenv(server.env, f"{driver}://nobody@127.0.0.1:9/test")  # port 9: discard
    monkeypatch.delenv("ORMKIT_REQUIRE_BACKENDS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="docker run") as caught:
        ServerDatabases().url(name)
    assert "not reachable" in str(caught.value)
    monkeypatch.setenv("ORMKIT_REQUIRE_BACKENDS", f"sqlite, {name}")
    with pytest.raises(pytest.fail.Exception, match="ORMKIT_REQUIRE_BACKENDS"):
        ServerDatabases().url(name)


def test_only_the_tests_own_databases_can_be_dropped() -> None:
    server = SERVERS["postgresql"]
    with pytest.raises(ValueError, match="refusing"):
        from backends import drop_database

        drop_database(server, server.admin_url)
