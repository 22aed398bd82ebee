"""Reliability: concurrent load, a process killed mid-batch, bad input everywhere, unusable files.

These are the promises a lesson database must keep: no write is lost or doubled under concurrent
coroutines, a crash never corrupts the file or leaves half a batch, bad input never reaches the
database, and a file that cannot be written says what to do instead of dumping a driver traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import (
    DatabaseLocationError,
    Post,
    User,
    add_many_users,
    add_post,
    add_user,
    async_session,
    count_users,
    db,
    delete_user,
    get_user,
    get_user_by_name,
    get_user_posts,
    get_user_with_posts,
    list_users,
    read_frame,
    update_user_age,
    update_user_name,
)

ROOT = Path(__file__).resolve().parent.parent


async def snapshot() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every row of both tables, ordered: compared before and after to prove nothing changed."""
    async with async_session() as session:
        users = await session.execute(select(User.id, User.name, User.age).order_by(User.id))
        posts = await session.execute(select(Post.id, Post.title, Post.user_id).order_by(Post.id))
        return [tuple(r) for r in users], [tuple(r) for r in posts]


async def all_users() -> dict[int, tuple[str, int]]:
    users, _ = await snapshot()
    return {uid: (name, age) for uid, name, age in users}


# --- concurrency on the file default ----------------------------------------------------------


async def test_500_concurrent_add_user_each_stored_exactly_once(file_db: AsyncEngine) -> None:
    before = await all_users()
    names = [f"concurrent {i:03d}" for i in range(500)]
    created = await asyncio.gather(*(add_user(n, i % 120) for i, n in enumerate(names)))
    assert len({u.id for u in created}) == 500
    after = await all_users()
    added = {uid: row for uid, row in after.items() if uid not in before}
    assert sorted(name for name, _ in added.values()) == names  # each exactly once
    assert {u.id: (u.name, u.age) for u in created} == added
    assert {uid: row for uid, row in after.items() if uid in before} == before


async def test_mixed_concurrent_updates_deletes_reads_and_adds(file_db: AsyncEngine) -> None:
    await add_many_users([(f"base {i:03d}", 20) for i in range(300)])
    start = await all_users()
    ids = sorted(uid for uid, (name, _) in start.items() if name.startswith("base "))
    renamed, aged, deleted = ids[:100], ids[100:200], ids[200:300]

    async def read_everything() -> int:
        frame = await read_frame(select(User).order_by(User.id))
        listed = await list_users()
        assert frame["id"].is_monotonic_increasing
        assert [u.id for u in listed] == sorted(u.id for u in listed)
        return await count_users()

    jobs: list[Awaitable[Any]] = []
    jobs += [update_user_name(uid, f"renamed {uid}") for uid in renamed]
    jobs += [update_user_age(uid, 99) for uid in aged]
    jobs += [delete_user(uid) for uid in deleted]
    jobs += [add_user(f"new {i:03d}", 30) for i in range(100)]
    jobs += [get_user(uid) for uid in ids]
    jobs += [read_everything() for _ in range(30)]
    jobs += [add_post(1, f"post {i}") for i in range(50)]
    results = await asyncio.gather(*jobs)

    assert results[200:300] == [True] * 100  # every delete found its user
    end = await all_users()
    for uid in renamed:
        assert end[uid] == (f"renamed {uid}", 20)
    for uid in aged:
        assert end[uid] == (start[uid][0], 99)
    # SQLite may hand a deleted id to a new row (no AUTOINCREMENT), so look for the deleted names.
    deleted_names = {start[uid][0] for uid in deleted}
    assert not deleted_names & {name for name, _ in end.values()}
    new = sorted(name for name, _ in end.values() if name.startswith("new "))
    assert new == [f"new {i:03d}" for i in range(100)]
    assert len(end) == len(start) - 100 + 100
    titles = [p.title for p in await get_user_posts(1)]
    assert sorted(t for t in titles if t.startswith("post ")) == sorted(
        f"post {i}" for i in range(50)
    )


async def test_concurrent_deletes_of_one_user_report_true_exactly_once(
    file_db: AsyncEngine,
) -> None:
    ids = [u.id for u in await list_users()]
    outcomes = await asyncio.gather(*(delete_user(uid) for uid in ids for _ in range(3)))
    for i in range(len(ids)):
        assert sorted(outcomes[3 * i : 3 * i + 3]) == [False, False, True]
    assert await count_users() == 0


# --- a process killed in the middle of add_many_users -------------------------------------------

BATCH = 100_000

# The child announces "inserting" right before the executemany reaches the driver and
# "committed" after the COMMIT returned; the parent kills it in between.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from sqlalchemy import event
    from ormkit import add_many_users, db

    phase = sys.argv[2]
    BATCH = int(sys.argv[3])
    engine = db.use_database("sqlite+aiosqlite:///" + sys.argv[1])
    rows = [("killed %06d" % i, i % 100) for i in range(BATCH)]

    def say(word):
        print(word, flush=True)

    if phase == "insert":
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _announce(conn, cursor, statement, parameters, context, executemany):
            if executemany:
                say("inserting")
    else:
        @event.listens_for(engine.sync_engine, "commit")
        def _announce(conn):
            say("committing")

    async def main():
        async with engine.connect() as conn:  # connect first: the kill is about the write
            await conn.exec_driver_sql("SELECT 1")
        await add_many_users(rows)
        say("committed")
        await asyncio.sleep(30)  # wait to be killed: a run that got here proves nothing

    asyncio.run(main())
    """
).format(batch=BATCH)


def _kill_during(path: Path, phase: str, delay: float) -> tuple[str, int]:
    script = path.parent / "child.py"
    script.write_text(CHILD)
    with subprocess.Popen(
        [sys.executable, str(script), str(path), phase, str(BATCH)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as child:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line in {"inserting", "committing"}, f"child did not start its write: {line!r}"
        if delay:
            time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
    return rest, child.returncode


@pytest.fixture
def empty_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "kill.db"

    async def create() -> None:
        engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
        await db.create_all_tables(engine)
        await engine.dispose()

    asyncio.run(create())
    yield path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("phase", "delay"),
    [("insert", 0.0), ("insert", 0.01), ("insert", 0.03), ("commit", 0.0), ("commit", 0.002)],
)
def test_sigkill_during_add_many_users_leaves_none_or_all(
    empty_file: Path, phase: str, delay: float
) -> None:
    rest, returncode = _kill_during(empty_file, phase, delay)
    assert returncode == -signal.SIGKILL
    if phase == "insert":
        # Killed while the executemany ran: the batch had not been committed.
        assert "committed" not in rest
    con = sqlite3.connect(empty_file)  # reopening recovers the WAL, as the kit would
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        count = con.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        con.close()
    if phase == "insert":
        assert count == 0
    else:
        assert count in (0, BATCH), f"half a batch survived the crash: {count} rows"


# --- bad input, on every CRUD coroutine: a clear error naming the field, nothing written --------

LONG_NAME = "x" * 100_000
BAD_IDS = ["1", 1.0, None, True, [1], b"1"]

Call = Callable[[], Awaitable[Any]]


def _bad_cases() -> Iterator[Any]:
    def case(label: str, call: Call, field: str, value: Any = ..., error: type = ValueError):
        return pytest.param(call, field, value, error, id=label)

    # issue 2's list
    yield case("add_user-empty-name", lambda: add_user("", 30), "name", "")
    yield case("add_user-blank-name", lambda: add_user("   ", 30), "name", "   ")
    yield case("add_user-None-name", lambda: add_user(None, 30), "name", None, TypeError)
    yield case("add_user-negative-age", lambda: add_user("Bob", -5), "age", -5)
    yield case("add_user-age-text", lambda: add_user("Bob", "thirty"), "age", "thirty", TypeError)
    yield case("add_user-age-float", lambda: add_user("Bob", 30.5), "age", 30.5, TypeError)
    yield case("add_user-age-bool", lambda: add_user("Bob", True), "age", True, TypeError)
    yield case("add_user-long-name", lambda: add_user(LONG_NAME, 30), "name")
    for label, rows, field in [
        ("empty-name", [("Ann", 1), ("", 30)], "users[1].name"),
        ("None-name", [("Ann", 1), (None, 30)], "users[1].name"),
        ("negative-age", [("Ann", 1), ("Bob", -5)], "users[1].age"),
        ("age-text", [("Ann", 1), ("Bob", "thirty")], "users[1].age"),
        ("long-name", [("Ann", 1), (LONG_NAME, 30)], "users[1].name"),
        ("last-row-bad", [*((f"ok {i}", 1) for i in range(999)), ("Bob", 151)], "users[999].age"),
        ("not-a-pair", [("Ann", 1), ("Bob",)], "users[1]"),
        ("a-string-row", [("Ann", 1), "Bo"], "users[1]"),
        ("a-string", "Bob", "users"),
        ("None", None, "users"),
    ]:
        yield case(f"add_many_users-{label}", lambda rows=rows: add_many_users(rows), field)
    yield case("get_user_by_name-None", lambda: get_user_by_name(None), "name", None, TypeError)
    # wrong types for ids, on every coroutine that takes one
    by_id: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "get_user": lambda v: get_user(v),
        "get_user_with_posts": lambda v: get_user_with_posts(v),
        "get_user_posts": lambda v: get_user_posts(v),
        "update_user_name": lambda v: update_user_name(v, "Zed"),
        "update_user_age": lambda v: update_user_age(v, 40),
        "delete_user": lambda v: delete_user(v),
        "add_post": lambda v: add_post(v, "A title"),
    }
    for name, fn in by_id.items():
        for value in BAD_IDS:
            label = f"{name}-id-{type(value).__name__}"
            yield case(label, lambda fn=fn, value=value: fn(value), "user_id", value, TypeError)
        # an id no SQL INTEGER can hold: each driver would fail differently
        for value in (2**31, -(2**31) - 1, 2**63):
            label = f"{name}-id-out-of-range-{value}"
            yield case(label, lambda fn=fn, value=value: fn(value), "user_id", value)
    # text that one backend stores and another refuses
    yield case("add_user-NUL", lambda: add_user("a\x00b", 30), "name", "a\x00b")
    yield case("add_user-surrogate", lambda: add_user("\ud800", 30), "name", "\ud800")
    yield case("add_post-NUL", lambda: add_post(1, "\x00"), "title", "\x00")
    yield case(
        "add_many_users-NUL", lambda: add_many_users([("Ann", 1), ("B\x00", 2)]), "users[1].name"
    )
    # paging arguments
    yield case("list_users-negative-limit", lambda: list_users(limit=-1), "limit", -1)
    yield case("list_users-huge-limit", lambda: list_users(limit=2**63), "limit", 2**63)
    yield case("list_users-text-limit", lambda: list_users(limit="a"), "limit", "a", TypeError)
    yield case("list_users-negative-offset", lambda: list_users(offset=-1), "offset", -1)
    # the other arguments of the update / post coroutines
    yield case("update_user_name-empty", lambda: update_user_name(1, ""), "new_name", "")
    yield case(
        "update_user_name-None", lambda: update_user_name(1, None), "new_name", None, TypeError
    )
    yield case("update_user_name-long", lambda: update_user_name(1, LONG_NAME), "new_name")
    yield case("update_user_age-negative", lambda: update_user_age(1, -1), "new_age", -1)
    yield case("update_user_age-text", lambda: update_user_age(1, "40"), "new_age", "40", TypeError)
    yield case("add_post-empty-title", lambda: add_post(1, ""), "title", "")
    yield case("add_post-None-title", lambda: add_post(1, None), "title", None, TypeError)
    yield case("add_post-long-title", lambda: add_post(1, "t" * 201), "title")
    yield case("add_post-missing-user", lambda: add_post(999, "Orphan"), "user_id", 999)


@pytest.mark.parametrize(("call", "field", "value", "error"), list(_bad_cases()))
async def test_bad_input_is_refused_with_the_field_named_and_nothing_written(
    seeded: AsyncEngine, call: Call, field: str, value: Any, error: type
) -> None:
    before = await snapshot()
    with pytest.raises(error) as caught:
        await call()
    assert isinstance(caught.value, ValueError)  # TypeErrors are ValueErrors too (one except)
    message = str(caught.value)
    assert message.startswith(field + " "), message
    assert getattr(caught.value, "field", None) == field
    if value is not ...:
        assert repr(value) in message
    assert len(message) < 300  # a 100,000-character value is shortened, not dumped
    assert await snapshot() == before


async def test_a_bad_row_in_a_session_batch_leaves_the_callers_transaction_usable(
    seeded: AsyncEngine,
) -> None:
    before = await snapshot()
    async with async_session() as session:
        with pytest.raises(ValueError, match=r"users\[1\]\.age"):
            await add_many_users([("Ann", 1), ("Bob", -1)], session=session)
        assert await add_many_users([("Ann", 1)], session=session) == 1
        await session.rollback()
    assert await snapshot() == before


# --- a database file that cannot be written, or a folder that does not exist -------------------


@contextmanager
def read_only(path: Path) -> Iterator[str]:
    """Make ``path`` read-only for real, and say how.

    Tests often run as root, for whom ``chmod a-w`` changes nothing: root writes anyway. The
    immutable attribute (``chattr +i``) stops root too. Without it (not root, or no chattr), a
    plain ``chmod`` works for an ordinary user.
    """
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        done = subprocess.run([chattr, "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i not supported here: {done.stderr.decode().strip()}")
        try:
            yield "chattr +i"
        finally:
            subprocess.run([chattr, "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o444 if path.is_file() else 0o555)
        try:
            yield "chmod a-w"
        finally:
            path.chmod(mode)


@pytest.fixture
async def on_file(tmp_path: Path) -> AsyncIterator[Callable[[str], Awaitable[AsyncEngine]]]:
    """Install an engine for a URL as the kit's default; dispose it and restore at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def use(url: str) -> AsyncEngine:
            return await stack.enter_async_context(db.kit.using(url))

        yield use


async def _seeded_file(tmp_path: Path) -> Path:
    path = tmp_path / "kit.db"
    engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
    await db.reset(engine)
    await engine.dispose()  # the last connection checkpoints: the data is in the file itself
    return path


WRITES: dict[str, Call] = {
    "add_user": lambda: add_user("Ada", 36),
    "add_many_users": lambda: add_many_users([("Ada", 36), ("Linus", 28)]),
    "update_user_name": lambda: update_user_name(1, "Alicia"),
    "delete_user": lambda: delete_user(6),
    "add_post": lambda: add_post(6, "Hello"),
    "reset": lambda: db.reset(),
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_read_only_file_reads_and_refuses_writes_clearly(
    tmp_path: Path, on_file: Callable[[str], Awaitable[AsyncEngine]], write: str
) -> None:
    path = await _seeded_file(tmp_path)
    with read_only(path):
        await on_file(f"sqlite+aiosqlite:///{path}")
        assert await count_users() == 13  # reading still works
        with pytest.raises(DatabaseLocationError) as caught:
            await WRITES[write]()
        message = str(caught.value)
        assert str(path) in message
        assert "read-only" in message
        assert "writable" in message and "ORMKIT_DATABASE_URL" in message  # what to do
        assert await count_users() == 13
    assert await count_users() == 13


async def test_a_read_only_uri_refuses_writes_clearly(
    tmp_path: Path, on_file: Callable[[str], Awaitable[AsyncEngine]]
) -> None:
    path = await _seeded_file(tmp_path)
    await on_file(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    assert await count_users() == 13
    with pytest.raises(DatabaseLocationError, match="read-only"):
        await add_user("Ada", 36)


@pytest.mark.parametrize("action", ["read", "write", "create_all_tables"])
async def test_a_missing_folder_says_what_to_do(
    tmp_path: Path, on_file: Callable[[str], Awaitable[AsyncEngine]], action: str
) -> None:
    folder = tmp_path / "no" / "such" / "folder"
    await on_file(f"sqlite+aiosqlite:///{folder / 'kit.db'}")
    call = {
        "read": count_users,
        "write": lambda: add_user("Ada", 36),
        "create_all_tables": db.create_all_tables,
    }[action]
    with pytest.raises(DatabaseLocationError) as caught:
        await call()
    message = str(caught.value)
    assert str(folder) in message and "does not exist" in message
    assert "mkdir" in message and "ORMKIT_DATABASE_URL" in message
    assert not folder.exists()  # a URL the user gave is not silently created


async def test_a_missing_file_in_a_read_only_folder_says_what_to_do(
    tmp_path: Path, on_file: Callable[[str], Awaitable[AsyncEngine]]
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    with read_only(folder):
        await on_file(f"sqlite+aiosqlite:///{folder / 'kit.db'}")
        with pytest.raises(DatabaseLocationError) as caught:
            await db.create_all_tables()
    message = str(caught.value)
    assert str(folder / "kit.db") in message
    assert "writable" in message and "ORMKIT_DATABASE_URL" in message


def test_the_default_data_folder_is_created_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "fresh" / "data"
    monkeypatch.setenv("ORMKIT_DATA_DIR", str(data))
    monkeypatch.delenv("ORMKIT_DATABASE_URL", raising=False)

    async def first_use() -> int:
        engine = db.make_engine()
        try:
            await db.reset(engine)
            async with engine.connect() as conn:
                return (await conn.execute(select(func.count()).select_from(User))).scalar_one()
        finally:
            await engine.dispose()

    assert asyncio.run(first_use()) == 13
    assert (data / "ormkit.db").is_file()
