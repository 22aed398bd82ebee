"""``ormkit provision``: one database and login per learner, isolated from each other.

On PostgreSQL and MariaDB (each run uses a random name prefix and removes what it made): each
learner can run the lessons' statements in their own database and cannot connect to, read or
change another learner's; a second run changes nothing; ``--remove`` drops exactly what was made;
a bad roster, a clash or a failure half-way leaves the server as it was.
"""

from __future__ import annotations

import json
import secrets
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from backends import run
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ormkit import cli, db, provision
from ormkit.crud import add_user, count_users
from ormkit.provision import Learner, ProvisionError, check_roster, identifier_for


def _roster(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------ the roster


def test_roster_reads_the_first_column_and_skips_header_blank_and_comment_rows(
    tmp_path: Path,
) -> None:
    path = _roster(tmp_path, "username,full name", "ada,Ada L", "", "# late joiner:", "grace@x.org")
    assert provision.read_roster(path) == [
        Learner("ada", "ormkit_ada"),
        Learner("grace@x.org", "ormkit_grace_x_org"),
    ]


def test_roster_reports_every_problem_at_once_with_line_numbers() -> None:
    rows = [
        (1, "Ada"),
        (2, "bob smith"),
        (3, "carol"),
        (4, "carol"),
        (5, "d.e"),
        (6, "d_e"),
        (7, "x" * 30),
        (8, "-dash"),
    ]
    with pytest.raises(ProvisionError) as caught:
        check_roster(rows, where="class.csv")
    assert str(caught.value) == (
        "class.csv: line 1: 'Ada' has capitals; JupyterHub user names are lower case "
        "(write 'ada'); "
        "line 2: 'bob smith' is not a user name (use a-z, 0-9 and . _ @ + -, starting with a "
        "letter or digit); "
        "line 4: 'carol' is listed twice (line 3); "
        "line 6: 'd_e' and 'd.e' (line 5) both give the name 'ormkit_d_e'; "
        f"line 7: '{'x' * 30}' gives the name 'ormkit_{'x' * 30}', longer than 32 characters "
        "(MySQL's limit); shorten the name or --prefix; "
        "line 8: '-dash' is not a user name (use a-z, 0-9 and . _ @ + -, starting with a letter "
        "or digit); nothing was changed"
    )


def test_an_empty_roster_a_missing_one_and_a_bad_prefix_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match=r"names no learners; nothing was changed"):
        provision.read_roster(_roster(tmp_path, "user", "", "# nobody yet"))
    with pytest.raises(ProvisionError, match=r"cannot read the roster .*nope\.csv"):
        provision.read_roster(tmp_path / "nope.csv")
    with pytest.raises(ProvisionError, match=r"--prefix 'Bad-' must start with a lower-case"):
        provision.read_roster(_roster(tmp_path, "ada"), prefix="Bad-")


def test_identifiers_are_safe_sql_names() -> None:
    assert identifier_for("ada.lovelace+1@example.org") == "ormkit_ada_lovelace_1_example_org"
    assert identifier_for("ada", prefix="c2024_") == "c2024_ada"


# ------------------------------------------------------------------------ credentials file


def test_credentials_are_written_owner_only_and_not_rewritten_when_equal(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "class.json"
    data = {"server": "x", "learners": {"ada": {"database": "d", "url": "u"}}}
    assert provision.write_credentials(path, data) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == data
    before = path.stat().st_mtime_ns
    assert provision.write_credentials(path, data) is False
    assert path.stat().st_mtime_ns == before
    assert [p.name for p in path.parent.iterdir()] == ["class.json"]  # no temporary file left
    assert provision.read_credentials(tmp_path / "none.json") == {"learners": {}}
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(ProvisionError, match="not a file that ormkit provision wrote"):
        provision.read_credentials(tmp_path / "other.json")


def test_the_spawner_snippet_gives_each_hub_user_their_url(tmp_path: Path) -> None:
    from traitlets.config import Config

    path = tmp_path / "class.json"
    provision.write_credentials(
        path, {"learners": {"ada": {"database": "ormkit_ada", "url": "postgresql+asyncpg://a"}}}
    )
    c = Config()
    c.Spawner.environment = {"OTHER": "kept"}
    exec(provision.spawner_snippet(path), {"c": c})

    class Spawner:
        def __init__(self, name: str) -> None:
            self.user = type("User", (), {"name": name})()

    environment = c.Spawner.environment
    assert environment["OTHER"] == "kept"
    assert environment["ORMKIT_DATABASE_URL"](Spawner("ada")) == "postgresql+asyncpg://a"
    # Not on the roster: empty, which the kit reads as unset (their own SQLite file).
    assert environment["ORMKIT_DATABASE_URL"](Spawner("zoe")) == ""


def test_sqlite_and_a_missing_admin_url_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    roster = str(_roster(tmp_path, "ada"))
    out = str(tmp_path / "out.json")
    monkeypatch.delenv(provision.ADMIN_ENV_VAR, raising=False)
    assert cli.main(["provision", roster, "--out", out]) == 2
    assert "give the server's admin URL with --admin" in capsys.readouterr().err
    assert cli.main(["provision", roster, "--out", out, "--admin", "sqlite+aiosqlite://"]) == 2
    assert "is not a PostgreSQL or MariaDB/MySQL URL" in capsys.readouterr().err
    assert not Path(out).exists()


# ------------------------------------------------------------------------------ the servers


def _state(admin: str, prefix: str) -> tuple[list[str], list[str]]:
    """Databases and roles on the server whose names start with ``prefix``."""

    async def read() -> tuple[list[str], list[str]]:
        url = make_url(admin)
        engine = provision._engine(url)
        like = prefix.replace("_", r"\_") + "%"
        try:
            async with engine.connect() as conn:
                if url.get_backend_name() == "postgresql":
                    dbs = "SELECT datname FROM pg_database WHERE datname LIKE :p"
                    roles = "SELECT rolname FROM pg_roles WHERE rolname LIKE :p"
                else:
                    dbs = (
                        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                        "WHERE SCHEMA_NAME LIKE :p"
                    )
                    roles = "SELECT User FROM mysql.user WHERE User LIKE :p"
                found_dbs = sorted(r[0] for r in await conn.execute(text(dbs), {"p": like}))
                found_roles = sorted(r[0] for r in await conn.execute(text(roles), {"p": like}))
        finally:
            await engine.dispose()
        return found_dbs, found_roles

    result: tuple[list[str], list[str]] = run(read())
    return result


def _drop_everything(admin: str, prefix: str) -> None:
    dbs, roles = _state(admin, prefix)
    backend = make_url(admin).get_backend_name()
    learners = [Learner(name, name) for name in sorted(set(dbs) | set(roles))]
    for learner in learners:
        run(
            provision._execute(
                make_url(admin),
                provision._drop_statements(
                    "postgresql" if backend == "postgresql" else "mysql",
                    learner,
                    database=learner.identifier in dbs,
                    role=learner.identifier in roles,
                ),
            )
        )


@pytest.fixture
def prefix(server_url: str) -> Iterator[str]:
    """A fresh name prefix; whatever the test leaves on the server under it is dropped."""
    chosen = f"okt{secrets.token_hex(3)}_"
    yield chosen
    _drop_everything(server_url, chosen)
    assert _state(server_url, chosen) == ([], [])


def _provision(*args: str) -> int:
    return cli.main(["provision", *args])


async def _lesson_statements(url: str) -> int:
    """What the lessons do in a learner's database: reset, insert, index, drop; the row count."""
    async with db.kit.using(url) as engine:
        await db.reset()
        await add_user("Ada", 36)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE INDEX ix_users_age ON users (age)"))
            await conn.execute(
                text("DROP INDEX ix_users_age" + ("" if "postgresql" in url else " ON users"))
            )
            await conn.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY)"))
            await conn.execute(text("DROP TABLE scratch"))
        return await count_users()


async def _refused(url: str, statement: str | None = None) -> str:
    """The error a statement (or just connecting) gets as the learner of ``url``."""
    engine = provision._engine(make_url(url))
    try:
        async with engine.connect() as conn:
            if statement is None:
                return "connected"
            await conn.execute(text(statement))
            return "allowed"
    except DBAPIError as exc:
        return str(exc.orig)
    finally:
        await engine.dispose()


def test_each_learner_gets_an_isolated_database_and_a_second_run_changes_nothing(
    server_url: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    roster = str(_roster(tmp_path, "user", "ada", "grace@example.org"))
    out = tmp_path / "class.json"
    args = [roster, "--admin", server_url, "--out", str(out), "--prefix", prefix]
    assert _provision(*args) == 0
    printed = capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    learners = json.loads(out.read_text())["learners"]
    assert sorted(learners) == ["ada", "grace@example.org"]
    ada, grace = learners["ada"]["url"], learners["grace@example.org"]["url"]
    for url in (ada, grace):
        password = make_url(url).password
        assert password is not None and len(password) >= 32
        assert password not in printed  # never on the terminal unless asked
    assert f"created  ada                {make_url(ada).render_as_string()}" in printed
    assert "2 learner(s) on" in printed and ": 2 created;" in printed
    assert "ORMKIT_DATABASE_URL" in printed  # the hub snippet
    ada_db, grace_db = f"{prefix}ada", f"{prefix}grace_example_org"
    assert make_url(ada).database == ada_db
    assert _state(server_url, prefix) == ([ada_db, grace_db], [ada_db, grace_db])

    # Each runs the lessons' statements in their own database.
    assert run(_lesson_statements(ada)) == 14
    assert run(_lesson_statements(grace)) == 14

    # ... and cannot reach the other's.
    backend = make_url(server_url).get_backend_name()
    ada_into_grace = make_url(ada).set(database=grace_db).render_as_string(hide_password=False)
    refused = run(_refused(ada_into_grace))
    if backend == "postgresql":
        assert f'permission denied for database "{grace_db}"' in refused
        # Nor create tables in the admin's database, nor create databases.
        assert "permission denied" in run(_refused(ada, "CREATE DATABASE okt_never"))
    else:
        assert f"Access denied for user '{ada_db}'@" in refused and grace_db in refused
        for statement in (
            f"SELECT count(*) FROM `{grace_db}`.users",
            f"INSERT INTO `{grace_db}`.users (name, age) VALUES ('Eve', 1)",
            f"DROP TABLE `{grace_db}`.posts",
            f"CREATE TABLE `{grace_db}`.evil (id INT)",
            "CREATE DATABASE okt_never",
        ):
            assert "denied" in run(_refused(ada, statement)), statement
    assert run(_refused(grace, "SELECT count(*) FROM users")) == "allowed"

    # A second run: no error, no change (the file is not even rewritten).
    before = out.read_bytes(), out.stat().st_mtime_ns
    assert _provision(*args) == 0
    again = capsys.readouterr().out
    assert ": 2 exists;" in again and "unchanged" in again
    assert (out.read_bytes(), out.stat().st_mtime_ns) == before
    assert run(_lesson_statements(ada)) == 14  # the password still works

    # --show-passwords prints them, when asked.
    assert _provision(*args, "--show-passwords") == 0
    assert make_url(ada).password in capsys.readouterr().out  # type: ignore[operator]

    # --remove drops exactly what was made, and the file; a second --remove is a no-op.
    assert _provision(*args, "--remove") == 0
    assert ": 2 removed;" in capsys.readouterr().out
    assert _state(server_url, prefix) == ([], [])
    assert not out.exists()
    assert _provision(*args, "--remove") == 0
    assert ": 2 absent;" in capsys.readouterr().out


def test_a_clash_is_refused_before_anything_is_created(
    server_url: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # Someone else's database happens to have a learner's name: nothing is created at all.
    backend = "postgresql" if make_url(server_url).get_backend_name() == "postgresql" else "mysql"
    run(provision._execute(make_url(server_url), [f"CREATE DATABASE {prefix}bob"]))
    roster = str(_roster(tmp_path, "ada", "bob"))
    out = tmp_path / "class.json"
    args = [roster, "--admin", server_url, "--out", str(out), "--prefix", prefix]
    assert _provision(*args) == 2
    err = capsys.readouterr().err
    assert f"a database '{prefix}bob' exists that ormkit provision did not make for 'bob'" in err
    assert "nothing was changed" in err
    assert _state(server_url, prefix) == ([f"{prefix}bob"], [])
    assert not out.exists()
    # --remove leaves that database alone too.
    assert _provision(*args, "--remove") == 2
    assert _state(server_url, prefix) == ([f"{prefix}bob"], [])
    assert backend in ("postgresql", "mysql")


def test_a_role_whose_password_is_lost_is_refused(
    server_url: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    roster = str(_roster(tmp_path, "ada"))
    args = [roster, "--admin", server_url, "--prefix", prefix]
    assert _provision(*args, "--out", str(tmp_path / "first.json")) == 0
    capsys.readouterr()
    assert _provision(*args, "--out", str(tmp_path / "elsewhere.json")) == 2
    assert f"the role '{prefix}ada' exists but its password is not in the credentials" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "elsewhere.json").exists()


def test_a_failure_half_way_drops_what_the_run_created(
    server_url: str,
    prefix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = provision._create_statements

    def failing(backend: str, learner: Learner, password: str) -> list[str]:
        statements = real(backend, learner, password)
        return [*statements, "SELECT no_such_column_here"] if learner.user == "bob" else statements

    monkeypatch.setattr(provision, "_create_statements", failing)
    roster = str(_roster(tmp_path, "ada", "bob", "carol"))
    out = tmp_path / "class.json"
    assert _provision(roster, "--admin", server_url, "--out", str(out), "--prefix", prefix) == 1
    assert "cannot use the database" in capsys.readouterr().err
    assert _state(server_url, prefix) == ([], [])
    assert not out.exists()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
