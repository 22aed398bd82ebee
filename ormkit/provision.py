"""One database and one login per learner on a PostgreSQL or MariaDB/MySQL server.

``ormkit provision ROSTER --admin URL --out FILE`` reads a roster (a CSV file whose first column
is each learner's JupyterHub user name), and makes, for each learner, a database and a login role
of the same name (``ormkit_<name>``) with a generated password and the least privilege the lessons
need: connect to their own database and create, change and drop tables and indexes in it. Nobody
else but the admin may connect to it; the learner can do nothing anywhere else.

The work is planned first (the roster checked, the server asked what exists) and applied only if
the whole plan can be carried out, so a bad roster or a clash changes nothing; if the server fails
half-way, what this run created is dropped again. A second run with the same roster changes
nothing. ``--remove`` drops the databases and roles that a run made (only those: each database is
marked with a comment naming its learner).

The learners' URLs, passwords included, go only to ``--out`` (JSON, created with mode 0600), which
a hub reads to give each server its ``ORMKIT_DATABASE_URL`` (see :func:`spawner_snippet`); the
terminal shows them with the password hidden, unless ``--show-passwords`` asks for them.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from .config import check_url, display_url

ADMIN_ENV_VAR = "ORMKIT_PROVISION_ADMIN_URL"  # keeps the admin password off the command line
DEFAULT_PREFIX = "ormkit_"
MARKER = "ormkit provision: learner "  # the database comment that says "we made this"
# A JupyterHub user name as the hub stores it (lower case); e-mail style names are common.
_NAME = re.compile(r"[a-z0-9][a-z0-9._@+-]*")
_PREFIX = re.compile(r"[a-z][a-z0-9_]*")
# MySQL limits user names to 32 characters (PostgreSQL 63, MariaDB 80, database names 63/64).
MAX_IDENTIFIER = 32
HEADER_NAMES = {"user", "username", "user name", "name", "login"}
PASSWORD_BYTES = 24


class ProvisionError(ValueError):
    """A roster, URL or server state that cannot be provisioned; nothing was changed."""


@dataclass(frozen=True)
class Learner:
    """One roster entry and the database and role named after it (both the same identifier)."""

    user: str
    identifier: str


@dataclass
class Step:
    """What the plan does for one learner: ``create``, ``exists`` or ``remove`` / ``absent``."""

    learner: Learner
    action: str
    url: URL | None = None


@dataclass
class Plan:
    """The whole run, decided before anything on the server changes."""

    backend: str
    steps: list[Step] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(step.action == action for step in self.steps)


# --------------------------------------------------------------------------------------------
# the roster


def identifier_for(user: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The database and role name for hub user ``user``: ``prefix`` + the name, every character
    other than a letter, digit or ``_`` written ``_``.

    Example:
        >>> identifier_for("ada.lovelace@example.org")
        'ormkit_ada_lovelace_example_org'
    """
    return prefix + re.sub(r"[^a-z0-9_]", "_", user)


def read_roster(path: str | Path, prefix: str = DEFAULT_PREFIX) -> list[Learner]:
    """Read and check a roster: the first column of each row is a JupyterHub user name.

    A first row whose first cell is ``user``, ``username``, ``name`` or ``login`` is a header;
    blank rows and rows starting with ``#`` are skipped. Every problem is reported at once, with
    its line number, in one :class:`ProvisionError`.
    """
    if not _PREFIX.fullmatch(prefix):
        raise ProvisionError(
            f"--prefix {prefix!r} must start with a lower-case letter and hold only a-z, 0-9, _"
        )
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise ProvisionError(f"cannot read the roster {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ProvisionError(f"the roster {path} is not UTF-8 text") from None
    return check_roster(
        [(number, row[0].strip() if row else "") for number, row in enumerate(rows, 1)],
        prefix=prefix,
        where=str(path),
    )


def check_roster(
    rows: Iterable[tuple[int, str]], *, prefix: str = DEFAULT_PREFIX, where: str = "roster"
) -> list[Learner]:
    """Check ``(line number, user name)`` rows; return the learners or raise every problem.

    Example:
        >>> [learner.identifier for learner in check_roster([(1, "user"), (2, "ada")])]
        ['ormkit_ada']
    """
    problems: list[str] = []
    learners: list[Learner] = []
    seen: dict[str, tuple[int, str]] = {}
    first = True
    for number, name in rows:
        if not name or name.startswith("#"):
            continue
        if first and name.lower() in HEADER_NAMES:
            first = False
            continue
        first = False
        if name != name.lower() and name.lower() == name.casefold():
            problems.append(
                f"line {number}: {name!r} has capitals; JupyterHub user names are lower case "
                f"(write {name.lower()!r})"
            )
            continue
        if not _NAME.fullmatch(name):
            problems.append(
                f"line {number}: {name!r} is not a user name (use a-z, 0-9 and . _ @ + -, "
                "starting with a letter or digit)"
            )
            continue
        identifier = identifier_for(name, prefix)
        if len(identifier) > MAX_IDENTIFIER:
            problems.append(
                f"line {number}: {name!r} gives the name {identifier!r}, longer than "
                f"{MAX_IDENTIFIER} characters (MySQL's limit); shorten the name or --prefix"
            )
            continue
        if identifier in seen:
            other_line, other = seen[identifier]
            problems.append(
                f"line {number}: {name!r} "
                + (
                    f"is listed twice (line {other_line})"
                    if other == name
                    else f"and {other!r} (line {other_line}) both give the name {identifier!r}"
                )
            )
            continue
        seen[identifier] = (number, name)
        learners.append(Learner(name, identifier))
    if problems:
        raise ProvisionError(f"{where}: " + "; ".join(problems) + "; nothing was changed")
    if not learners:
        raise ProvisionError(f"{where} names no learners; nothing was changed")
    return learners


# --------------------------------------------------------------------------------------------
# the credentials file


def read_credentials(path: Path) -> dict[str, Any]:
    """The ``--out`` file as written before, or an empty one if there is none yet."""
    if not path.exists():
        return {"learners": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProvisionError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("learners"), dict):
        raise ProvisionError(f"{path} is not a file that ormkit provision wrote")
    return data


def write_credentials(path: Path, data: dict[str, Any]) -> bool:
    """Write ``data`` to ``path`` with mode 0600 (readable by its owner only), atomically.

    Returns ``False`` (and leaves the file alone) when it already holds exactly that.
    """
    body = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == body:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    path.chmod(0o600)
    return True


def learner_url(admin: URL, learner: Learner, password: str) -> URL:
    """The learner's URL: the admin's server and driver, their role, password and database."""
    return admin.set(username=learner.identifier, password=password, database=learner.identifier)


# --------------------------------------------------------------------------------------------
# the servers


def _backend(admin: URL) -> str:
    backend = admin.get_backend_name()
    if backend == "mariadb":
        return "mysql"
    if backend not in ("postgresql", "mysql"):
        raise ProvisionError(
            f"--admin {display_url(admin)!r} is not a PostgreSQL or MariaDB/MySQL URL "
            "(SQLite needs no provisioning: each hub user gets their own file)"
        )
    return backend


async def _inspect(conn: AsyncConnection, backend: str, names: list[str]) -> dict[str, Any]:
    """Which of ``names`` exist as databases (with their comment) and as roles."""
    if backend == "postgresql":
        databases = {
            row[0]: row[1] or ""
            for row in await conn.execute(
                text(
                    "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                    "WHERE datname = ANY(:names)"
                ),
                {"names": names},
            )
        }
        roles = {
            row[0]
            for row in await conn.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"), {"names": names}
            )
        }
    else:
        databases = {}
        for name in names:
            row = (
                await conn.execute(
                    text(
                        "SELECT SCHEMA_NAME, SCHEMA_COMMENT FROM information_schema.SCHEMATA "
                        "WHERE SCHEMA_NAME = :name"
                    ),
                    {"name": name},
                )
            ).first()
            if row is not None:
                databases[row[0]] = row[1] or ""
        roles = set()
        for name in names:
            found = await conn.execute(
                text("SELECT User FROM mysql.user WHERE User = :name AND Host = '%'"),
                {"name": name},
            )
            if found.first() is not None:
                roles.add(name)
    return {"databases": databases, "roles": roles}


def _create_statements(backend: str, learner: Learner, password: str) -> list[str]:
    name = learner.identifier  # a-z, 0-9 and _ only (checked): safe to quote as is
    comment = (MARKER + learner.user).replace("'", "''")
    secret = password.replace("'", "''")
    if backend == "postgresql":
        return [
            f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{secret}' NOSUPERUSER NOCREATEDB "
            "NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT",
            # Collation "C" sorts by code point, as the stored outputs (made on SQLite) do.
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C'",
            f"COMMENT ON DATABASE \"{name}\" IS '{comment}'",
            # Every role may connect to every database by default (PUBLIC): not to this one.
            f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC',
            f'GRANT CONNECT, TEMPORARY ON DATABASE "{name}" TO "{name}"',
        ]
    # In GRANT, "_" in a database name is a wildcard ("ormkit_ada" would match "ormkitXada").
    pattern = name.replace("_", r"\_")
    return [
        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin COMMENT '{comment}'",
        f"CREATE USER '{name}'@'%' IDENTIFIED BY '{secret}'",
        "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, "
        f"CREATE TEMPORARY TABLES, CREATE VIEW, SHOW VIEW ON `{pattern}`.* TO '{name}'@'%'",
    ]


def _in_database_statements(backend: str, learner: Learner) -> list[str]:
    """PostgreSQL: run inside the new database (as the admin): tables only in schema public."""
    if backend != "postgresql":
        return []
    name = learner.identifier
    return [
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        f'GRANT USAGE, CREATE ON SCHEMA public TO "{name}"',
    ]


def _drop_statements(backend: str, learner: Learner, *, database: bool, role: bool) -> list[str]:
    name = learner.identifier
    out = []
    if backend == "postgresql":
        if database:
            out.append(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if role:
            out.append(f'DROP ROLE IF EXISTS "{name}"')
    else:
        if database:
            out.append(f"DROP DATABASE IF EXISTS `{name}`")
        if role:
            out.append(f"DROP USER IF EXISTS '{name}'@'%'")
    return out


def _engine(url: URL) -> Any:
    args: dict[str, Any] = (
        {"timeout": 10} if url.get_backend_name() == "postgresql" else {"connect_timeout": 10}
    )
    return create_async_engine(url, isolation_level="AUTOCOMMIT", connect_args=args)


async def _execute(url: URL, statements: Sequence[str]) -> None:
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------------------------
# plan and apply


async def plan(
    admin: str | URL,
    learners: list[Learner],
    credentials: dict[str, Any],
    *,
    remove: bool = False,
) -> Plan:
    """Decide, for each learner, what to do; raise :class:`ProvisionError` (nothing changed)
    when a database or role is in the way: one that this tool did not make, or a role whose
    password is not in the credentials file."""
    url = check_url(admin, source="--admin")
    backend = _backend(url)
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            found = await _inspect(conn, backend, [learner.identifier for learner in learners])
    finally:
        await engine.dispose()
    known: dict[str, Any] = credentials.get("learners", {})
    result = Plan(backend)
    problems = []
    for learner in learners:
        name = learner.identifier
        comment = found["databases"].get(name)
        has_db, has_role = comment is not None, name in found["roles"]
        ours = comment == MARKER + learner.user
        if has_db and not ours:
            problems.append(
                f"a database {name!r} exists that ormkit provision did not make for "
                f"{learner.user!r}; it is left alone (choose another --prefix)"
            )
            continue
        if remove:
            result.steps.append(Step(learner, "remove" if has_db or has_role else "absent"))
            continue
        entry = known.get(learner.user)
        if has_role and not (isinstance(entry, dict) and entry.get("database") == name):
            problems.append(
                f"the role {name!r} exists but its password is not in the credentials file; "
                f"remove it first (ormkit provision --remove) or give the file it was written to"
            )
            continue
        if has_db and has_role and isinstance(entry, dict):
            result.steps.append(Step(learner, "exists", check_url(entry["url"], source=name)))
        elif has_db or has_role:
            problems.append(
                f"{learner.user!r} is half-made ({'database' if has_db else 'role'} {name!r} "
                "without the other); run with --remove, then again"
            )
        else:
            password = secrets.token_urlsafe(PASSWORD_BYTES)
            result.steps.append(Step(learner, "create", learner_url(url, learner, password)))
    if problems:
        raise ProvisionError("; ".join(problems) + "; nothing was changed")
    return result


async def apply(
    admin: str | URL, planned: Plan, progress: Callable[[Step], None] | None = None
) -> None:
    """Carry out ``planned``. If the server fails part-way, drop what this call created, then
    re-raise: a run either provisions every learner it planned to, or none of them."""
    url = check_url(admin, source="--admin")
    done: list[Learner] = []
    try:
        for step in planned.steps:
            learner = step.learner
            if step.action == "create":
                assert step.url is not None
                done.append(learner)
                await _execute(
                    url, _create_statements(planned.backend, learner, str(step.url.password))
                )
                inside = _in_database_statements(planned.backend, learner)
                if inside:
                    await _execute(url.set(database=learner.identifier), inside)
            elif step.action == "remove":
                await _execute(
                    url, _drop_statements(planned.backend, learner, database=True, role=True)
                )
            if progress is not None:
                progress(step)
    except BaseException:
        for learner in done:
            # Best effort: the error that stopped the run is the one to show.
            with contextlib.suppress(Exception):
                await _execute(
                    url, _drop_statements(planned.backend, learner, database=True, role=True)
                )
        raise


def updated_credentials(credentials: dict[str, Any], planned: Plan, admin: URL) -> dict[str, Any]:
    """The credentials file's new content after ``planned`` was applied."""
    learners = dict(credentials.get("learners", {}))
    for step in planned.steps:
        user = step.learner.user
        if step.action in ("remove", "absent"):
            learners.pop(user, None)
        elif step.url is not None:
            learners[user] = {
                "database": step.learner.identifier,
                "url": step.url.render_as_string(hide_password=False),
            }
    return {"server": display_url(admin.set(database=None, username=None)), "learners": learners}


def spawner_snippet(path: str | Path) -> str:
    """The ``jupyterhub_config.py`` lines that give each hub user their provisioned database.

    A user who is not in the file gets an empty ``ORMKIT_DATABASE_URL``, which the kit treats as
    unset: their own SQLite file.

    Example:
        >>> print(spawner_snippet("/etc/jupyterhub/ormkit-databases.json").splitlines()[0])
        import json
    """
    return (
        "import json\n"
        f"with open({str(path)!r}) as f:  # written by ormkit provision (mode 0600, the hub's)\n"
        '    ORMKIT_URLS = {user: e["url"] for user, e in json.load(f)["learners"].items()}\n'
        "c.Spawner.environment.update({\n"
        '    "ORMKIT_DATABASE_URL": lambda spawner: ORMKIT_URLS.get(spawner.user.name, ""),\n'
        "})\n"
    )
