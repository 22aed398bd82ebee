"""``ormkit playground``: namespace and banner in-process, then the real shell with piped stdin."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import User, db, playground
from ormkit.cli import playground_url


async def test_prepare_loads_the_sample_data(kit_db: AsyncEngine) -> None:
    counts = await playground.prepare(kit_db, fresh=True)
    assert counts == {"users": 13, "posts": 16}


async def test_prepare_keeps_an_existing_database(seeded: AsyncEngine) -> None:
    from ormkit import add_user

    await add_user("Extra", 40)
    counts = await playground.prepare(seeded, fresh=False)
    assert counts == {"users": 14, "posts": 16}  # kept as is, not reseeded


async def test_prepare_seeds_an_empty_database(kit_db: AsyncEngine) -> None:
    await db.drop_all_tables(kit_db)
    assert await playground.prepare(kit_db, fresh=False) == {"users": 13, "posts": 16}


def test_namespace_has_the_kit_and_sqlalchemy_basics() -> None:
    engine = db.make_engine("sqlite+aiosqlite://")
    ns = playground.namespace(engine)
    for name in (
        "User",
        "Post",
        "engine",
        "async_session",
        "select",
        "func",
        "add_user",
        "list_users",
        "read_frame",
        "show_sql",
        "reset",
        "selectinload",
        "pd",
    ):
        assert name in ns, name
    assert ns["engine"] is engine
    assert ns["User"] is User


def test_banner_shows_database_schema_and_starters() -> None:
    engine = db.make_engine("sqlite+aiosqlite://")
    text = playground.banner(engine, {"users": 13, "posts": 16}, fresh=True)
    assert "sqlite+aiosqlite://" in text
    assert "13 users, 16 posts" in text
    assert "  users\n    id INTEGER PK\n" in text
    assert "user_id INTEGER -> users.id ON DELETE CASCADE" in text
    assert "await list_users(limit=3)" in text


def test_playground_url_is_beside_the_lessons_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORMKIT_DATA_DIR", str(tmp_path))
    assert playground_url().database == str(tmp_path / "playground.db")


def _playground(stdin: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ORMKIT_DATA_DIR": str(tmp_path / "data"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "NO_COLOR": "1",
    }
    env.pop("ORMKIT_DATABASE_URL", None)
    script = Path(sys.executable).with_name("ormkit")
    return subprocess.run(
        [str(script), "playground", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.slow
def test_playground_shell_runs_the_starters_with_top_level_await(tmp_path: Path) -> None:
    # Every starter query from the banner, typed into the real shell, then one write.
    session = (
        playground.STARTERS
        + "\n\nuser = await add_user('Zed', 33)\nprint('COUNT', await count_users())\nexit\n"
    )
    result = _playground(session, tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "(reset to the sample data: 13 users, 16 posts)" in out
    assert "Schema" in out
    assert "User(id=1, name='Alice', age=30)" in out  # await list_users(limit=3)
    assert "SELECT users.id, users.name, users.age" in out  # with show_sql(): ...
    assert "[Post(id=4" in out  # user.posts, loaded by get_user_with_posts(2)
    assert "[('Alice', 3)" in out  # the session / group-by starter
    assert "COUNT 14" in out
    assert "Traceback" not in out + result.stderr
    assert "Error" not in out
    # The playground wrote to its own file, never the lessons' database.
    data = tmp_path / "data"
    assert not (data / "ormkit.db").exists()
    with closing(sqlite3.connect(data / "playground.db")) as conn, conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 14


@pytest.mark.slow
def test_playground_resets_its_own_database_at_start(tmp_path: Path) -> None:
    _playground("await add_user('Zed', 33)\nexit\n", tmp_path)
    result = _playground("print('COUNT', await count_users())\nexit\n", tmp_path)
    assert "COUNT 13" in result.stdout


@pytest.mark.slow
def test_playground_uses_a_given_database_as_is(tmp_path: Path) -> None:
    target = tmp_path / "mine.db"
    url = f"sqlite+aiosqlite:///{target}"
    first = _playground("await add_user('Zed', 33)\nexit\n", tmp_path, "--database", url)
    assert "(used as is: 13 users, 16 posts)" in first.stdout  # empty: sample data added
    second = _playground("print('COUNT', await count_users())\nexit\n", tmp_path, "--database", url)
    assert "(used as is: 14 users, 16 posts)" in second.stdout
    assert "COUNT 14" in second.stdout
