"""``ormkit reset`` asks before touching a database that may hold real data, and only then.

The kit's default file and a throwaway in-memory database hold nothing to lose: no question, so
they work without a terminal (in a script, in CI). Any other database needs a "y" or ``--yes``.
"""

from __future__ import annotations

import io
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ormkit import cli
from ormkit.config import DATA_DIR_ENV_VAR, ENV_VAR


@pytest.fixture(autouse=True)
def _no_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Own default database folder, no $ORMKIT_DATABASE_URL, and no terminal to ask on."""
    monkeypatch.setenv(DATA_DIR_ENV_VAR, str(tmp_path / "data"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # isatty() is False: asking would refuse


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
def test_an_in_memory_database_is_reset_without_asking(
    url: str, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["reset", "--database", url]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("reset sqlite+aiosqlite://")
    assert captured.out.endswith(": 13 users, 16 posts\n")
    assert captured.err == ""


def test_the_default_database_is_reset_without_asking(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["reset"]) == 0
    assert capsys.readouterr().out.endswith(": 13 users, 16 posts\n")
    assert (tmp_path / "data" / "ormkit.db").is_file()


def test_a_file_database_is_not_reset_without_asking(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    target = tmp_path / "precious.db"
    with closing(sqlite3.connect(target)) as conn, conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
    assert cli.main(["reset", "--database", f"sqlite+aiosqlite:///{target}"]) == 1
    assert "refusing to reset" in capsys.readouterr().err
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
