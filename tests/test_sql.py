"""``show_sql``: each statement, its parameters and the transaction boundaries, verbatim.

Exact output is checked on SQLite (its ``?`` placeholders are part of the text); counting works on
every backend. ``query_plan`` runs on every backend; its exact words are checked on SQLite.
"""

from __future__ import annotations

import io

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import (
    Post,
    SQLLog,
    User,
    add_many_users,
    add_user,
    async_session,
    count_users,
    get_user,
    query_plan,
    reset,
    show_sql,
    update_user_name,
)
from ormkit.sql import format_params


async def test_exact_output_of_an_insert(
    sqlite_db: AsyncEngine, capsys: pytest.CaptureFixture
) -> None:
    with show_sql() as log:
        await add_user("Ada", 36)
    assert capsys.readouterr().out == (
        "BEGIN (implicit)\n"
        "INSERT INTO users (name, age) VALUES (?, ?)\n"
        "-- params: ('Ada', 36)\n"
        "COMMIT\n"
    )
    assert isinstance(log, SQLLog)
    assert log.count == 1
    assert log.selects == 0
    assert log.parameters == [("Ada", 36)]


async def test_exact_output_of_a_select(
    sqlite_db: AsyncEngine, capsys: pytest.CaptureFixture
) -> None:
    await add_user("Ada", 36)
    capsys.readouterr()
    with show_sql() as log:
        await get_user(1)
    assert capsys.readouterr().out == (
        "BEGIN (implicit)\n"
        "SELECT users.id, users.name, users.age\n"
        "FROM users\n"
        "WHERE users.id = ?\n"
        "-- params: (1,)\n"
        "ROLLBACK\n"
    )
    assert (log.count, log.selects) == (1, 1)


async def test_exact_output_of_an_update(
    sqlite_db: AsyncEngine, capsys: pytest.CaptureFixture
) -> None:
    await add_user("Ada", 36)
    capsys.readouterr()
    with show_sql() as log:
        await update_user_name(1, "Alicia")
    assert capsys.readouterr().out == (
        "BEGIN (implicit)\n"
        "SELECT users.id, users.name, users.age\n"
        "FROM users\n"
        "WHERE users.id = ?\n"
        "-- params: (1,)\n"
        "UPDATE users SET name=? WHERE users.id = ?\n"
        "-- params: ('Alicia', 1)\n"
        "COMMIT\n"
    )
    assert (log.count, log.selects) == (2, 1)


async def test_executemany_is_summarised(
    sqlite_db: AsyncEngine, capsys: pytest.CaptureFixture
) -> None:
    with show_sql() as log:
        await add_many_users([("A", 1), ("B", 2), ("C", 3), ("D", 4), ("E", 5)])
    assert capsys.readouterr().out == (
        "BEGIN (implicit)\n"
        "INSERT INTO users (name, age) VALUES (?, ?)\n"
        "-- params: [5 rows: ('A', 1), ('B', 2), ('C', 3), ... 2 more]\n"
        "COMMIT\n"
    )
    assert log.count == 1  # one executemany, however many rows


async def test_output_is_the_same_every_time(sqlite_db: AsyncEngine) -> None:
    outputs = []
    for _ in range(2):
        await reset()
        buffer = io.StringIO()
        with show_sql(file=buffer):
            await add_user("Ada", 36)
            await get_user(14)
            await count_users()
        outputs.append(buffer.getvalue())
    assert outputs[0] == outputs[1]
    assert "cached since" not in outputs[0]
    assert "generated in" not in outputs[0]
    assert "[raw sql]" not in outputs[0]


async def test_options_hide_parts(sqlite_db: AsyncEngine, capsys: pytest.CaptureFixture) -> None:
    with show_sql(params=False):
        await add_user("Ada", 36)
    assert "params" not in capsys.readouterr().out
    with show_sql(transactions=False):
        await get_user(1)
    out = capsys.readouterr().out
    assert out.startswith("SELECT")
    assert "BEGIN" not in out
    assert "ROLLBACK" not in out
    buffer = io.StringIO()
    with show_sql(file=buffer):
        await get_user(1)
    assert capsys.readouterr().out == ""
    assert buffer.getvalue().startswith("BEGIN (implicit)\nSELECT")


async def test_echo_false_only_counts(seeded: AsyncEngine, capsys: pytest.CaptureFixture) -> None:
    with show_sql(echo=False) as log:
        await add_user("Ada", 36)
        await count_users()
        await get_user(1)
    assert capsys.readouterr().out == ""
    assert (log.count, log.selects) == (3, 2)
    assert log.statements[0].startswith("INSERT INTO users")


async def test_listening_stops_after_the_block(
    seeded: AsyncEngine, capsys: pytest.CaptureFixture
) -> None:
    with show_sql() as log:
        await get_user(1)
    capsys.readouterr()
    await get_user(2)
    assert capsys.readouterr().out == ""
    assert log.count == 1


async def test_counts_an_n_plus_one(seeded: AsyncEngine) -> None:
    with show_sql(echo=False) as log:
        async with async_session() as session:
            users = (await session.execute(select(User).order_by(User.id).limit(3))).scalars()
            for user in users.all():
                await user.awaitable_attrs.posts
    assert log.selects == 1 + 3


async def test_show_sql_on_another_engine(seeded: AsyncEngine) -> None:
    with show_sql(seeded, echo=False) as log:
        await count_users()
    assert log.count == 1


def test_format_params() -> None:
    assert format_params(("Ada", 36), executemany=False) == "('Ada', 36)"
    assert format_params(["Ada", 36], executemany=False) == "('Ada', 36)"
    assert format_params({"name": "Ada"}, executemany=False) == "{'name': 'Ada'}"
    assert format_params([("A", 1), ("B", 2)], executemany=True) == "[2 rows: ('A', 1), ('B', 2)]"
    assert format_params([(i,) for i in range(4)], executemany=True) == (
        "[4 rows: (0,), (1,), (2,), ... 1 more]"
    )


async def test_query_plan_before_and_after_an_index(seeded: AsyncEngine) -> None:
    by_age = select(User).where(User.age == 42).order_by(User.id)
    before = await query_plan(by_age)
    async with seeded.begin() as conn:
        await conn.execute(text("CREATE INDEX ix_users_age ON users (age)"))
    after = await query_plan(by_age)
    for plan in (before, after):
        assert plan, "a plan has at least one step"
        assert all(isinstance(line, str) and line for line in plan)
        assert "users" in " ".join(plan)
    if seeded.dialect.name == "sqlite":  # the lesson's stored output; the same on every machine
        assert before == ["SCAN users"]
        assert after == ["SEARCH users USING INDEX ix_users_age (age=?)"]


async def test_query_plan_does_not_run_the_statement(seeded: AsyncEngine) -> None:
    async with seeded.connect() as conn:  # a connection works as well as an engine
        plan = await query_plan(delete(Post).where(Post.user_id.in_([1, 2, 3])), conn)
        assert plan
        assert await conn.scalar(select(func.count()).select_from(Post)) == 16
