"""Engines, sessions, the schema and per-dialect setup: ``engine``, ``async_session``, ``reset()``.

The module-level ``engine`` and ``async_session`` are the cheat sheet's names, built for the
configured URL (see :mod:`ormkit.config`). Creating an engine never connects; the first
``await`` that needs the database does. ``make_engine`` / ``make_sessionmaker`` build others
(tests, a second database).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, insert, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from . import sample_data
from .config import ConfigError, default_url, display_url, resolve_url, sqlite_file
from .models import Base, Post, User

SQLITE_BUSY_TIMEOUT_MS = 30_000
MEMORY_POOL_TIMEOUT_S = 10


class DatabaseLocationError(RuntimeError):
    """The SQLite file cannot be opened or written; the message says what to do."""


def make_engine(url: str | URL | None = None, **kwargs: Any) -> AsyncEngine:
    """Create an ``AsyncEngine`` for ``url`` (argument > ``$ORMKIT_DATABASE_URL`` > default).

    SQLite connections enforce foreign keys; a SQLite file uses WAL and a busy timeout so many
    concurrent writers wait their turn instead of failing with "database is locked". Servers get
    ``pool_pre_ping`` so a restarted server costs one clear error, not a dead kernel.

    Example:
        >>> engine = make_engine("sqlite+aiosqlite://")
        >>> engine.dialect.name
        'sqlite'
    """
    resolved = resolve_url(url)
    backend = resolved.get_backend_name()
    if backend == "sqlite":
        path = sqlite_file(resolved)
        if path is None:
            # An in-memory database lives in its one connection. StaticPool would hand that
            # connection to every session at once, and one session's ROLLBACK (a read closing, the
            # pool's reset-on-return) silently undoes another's uncommitted INSERTs: 500
            # concurrent add_user() calls "succeeded" and stored 10 rows. A pool of exactly one
            # connection makes sessions take turns instead.
            kwargs.setdefault("poolclass", AsyncAdaptedQueuePool)
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            # A session held open while another wants the connection would wait forever for it;
            # give up after a few seconds with an error that says so.
            kwargs.setdefault("pool_timeout", MEMORY_POOL_TIMEOUT_S)
        else:
            kwargs.setdefault("connect_args", {}).setdefault(
                "timeout", SQLITE_BUSY_TIMEOUT_MS / 1000
            )
        engine = create_async_engine(resolved, **kwargs)
        _setup_sqlite(engine, path, create_folder=resolved == default_url())
    else:
        _server_defaults(backend, resolved, kwargs)
        engine = create_async_engine(resolved, **kwargs)
        _setup_server(engine)
    return engine


# Every per-dialect difference in how ormkit sets up a connection lives below, in one place:
# SQLite pragmas (_setup_sqlite); server pool settings (_server_defaults); MySQL/MariaDB session
# settings and the error normalization shared by the servers (_setup_server).

SERVER_POOL_SIZE = 10
SERVER_MAX_OVERFLOW = 10
# Hundreds of coroutines may wait for one of the pool's connections; they queue, not fail.
SERVER_POOL_TIMEOUT = 300
# MySQL/MariaDB: refuse overlong strings, bad numbers and zero dates instead of storing a truncated
# or zeroed value with a warning (the behaviour of a non-strict sql_mode).
MYSQL_SQL_MODE = "TRADITIONAL"
# PostgreSQL and the kit agree on READ COMMITTED; MySQL/MariaDB default to REPEATABLE READ, whose
# gap locks make concurrent writers wait on (and deadlock over) rows they never touch.
MYSQL_ISOLATION_LEVEL = "READ COMMITTED"
# reset() drops tables; a session left open elsewhere holds a lock that would block it forever.
SERVER_DDL_LOCK_TIMEOUT_S = 15

# Errors that mean "the database refused this row": SQLite reports every one of them as an
# IntegrityError (its length limits are CHECK constraints); the servers use other classes for
# some, which ormkit maps to IntegrityError so a bad row fails the same way on every backend.
_PG_REFUSED_ROW = {
    "23514": "check constraint",  # check_violation (PostgreSQL already says IntegrityError)
    "22001": "string too long",  # string_data_right_truncation: value too long for varchar(n)
}
_MYSQL_REFUSED_ROW = {
    4025: "check constraint",  # MariaDB: CONSTRAINT `...` failed
    3819: "check constraint",  # MySQL 8: Check constraint '...' is violated
    1406: "string too long",  # Data too long for column
}


def _server_defaults(backend: str, url: URL, kwargs: dict[str, Any]) -> None:
    # pool_pre_ping: a server restarted mid-lesson costs one reconnect, not a dead kernel.
    kwargs.setdefault("pool_pre_ping", True)
    if kwargs.get("poolclass") is None:
        kwargs.setdefault("pool_size", SERVER_POOL_SIZE)
        kwargs.setdefault("max_overflow", SERVER_MAX_OVERFLOW)
        kwargs.setdefault("pool_timeout", SERVER_POOL_TIMEOUT)
    if backend in ("mysql", "mariadb"):
        kwargs.setdefault("isolation_level", MYSQL_ISOLATION_LEVEL)
        if "charset" not in url.query:
            # utf8mb4 stores any Unicode (MySQL's "utf8" stops at three bytes: no emoji).
            kwargs.setdefault("connect_args", {}).setdefault("charset", "utf8mb4")


def _setup_server(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine
    name = engine.dialect.name

    if name in ("mysql", "mariadb"):

        @event.listens_for(sync_engine, "connect")
        def _set_session(dbapi_connection, connection_record):
            cursor = dbapi_connection.cursor()
            cursor.execute(f"SET SESSION sql_mode = '{MYSQL_SQL_MODE}'")
            cursor.close()

    @event.listens_for(sync_engine, "handle_error")
    def _normalize_refused_row(context):
        original = context.original_exception
        if isinstance(context.sqlalchemy_exception, exc.IntegrityError):
            return None
        if name == "postgresql":
            refused = getattr(original, "sqlstate", None) in _PG_REFUSED_ROW
        else:
            args = getattr(original, "args", ())
            refused = bool(args) and args[0] in _MYSQL_REFUSED_ROW
        if not refused or context.statement is None:
            return None
        return exc.IntegrityError(context.statement, context.parameters, original)


def _setup_sqlite(engine: AsyncEngine, path: Path | None, *, create_folder: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _check_location(dialect, conn_rec, cargs, cparams):
        if path is None:
            return
        folder = path.parent
        if not folder.is_dir():
            if create_folder:
                # The default data folder is the kit's own; create it on first use, not at import.
                folder.mkdir(parents=True, exist_ok=True)
            else:
                raise DatabaseLocationError(
                    f"cannot open SQLite database {str(path)!r}: its folder {str(folder)!r} does "
                    "not exist; create it (mkdir -p) or point ORMKIT_DATABASE_URL elsewhere"
                )

    @event.listens_for(sync_engine, "connect")
    def _set_pragmas(dbapi_connection, connection_record):
        # SQLite ignores FOREIGN KEY constraints unless each connection turns them on.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if path is not None:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # A read-only file keeps its journal mode; that must not stop it from being read.
            with contextlib.suppress(Exception):
                cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(sync_engine, "savepoint")
    def _begin_before_savepoint(conn, name):
        # The sqlite3 driver only sends BEGIN before INSERT/UPDATE/DELETE. A SAVEPOINT outside a
        # transaction *starts* one, and its RELEASE then commits for real: a later ROLLBACK of the
        # outer session transaction could not undo it. Open the transaction first.
        # (https://www.sqlite.org/lang_savepoint.html, "transaction nesting")
        if not conn.connection.driver_connection.in_transaction:
            conn.exec_driver_sql("BEGIN")

    @event.listens_for(sync_engine, "handle_error")
    def _explain_file_errors(context):
        original = context.original_exception
        if path is None or not isinstance(original, sqlite3.OperationalError):
            return None
        message = str(original)
        if "readonly" in message or "read-only" in message:
            return DatabaseLocationError(
                f"SQLite database {str(path)!r} is read-only ({message}); make the file and its "
                "folder writable (chmod u+w) or point ORMKIT_DATABASE_URL at a writable copy"
            )
        if "unable to open database file" in message:
            return DatabaseLocationError(
                f"cannot open SQLite database {str(path)!r} ({message}); check that the folder "
                "exists and is writable, or point ORMKIT_DATABASE_URL elsewhere"
            )
        return None


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return ``async_sessionmaker(engine, expire_on_commit=False)``.

    ``expire_on_commit=False`` keeps attribute values readable after ``commit()``; with the
    default ``True`` the next attribute access would need IO, which async code cannot do
    implicitly.

    Example:
        >>> Session = make_sessionmaker(make_engine("sqlite+aiosqlite://"))
        >>> async with Session() as session:
        ...     await session.execute(text("SELECT 1"))
    """
    return async_sessionmaker(engine, expire_on_commit=False)


def describe(engine: AsyncEngine) -> str:
    """Return the engine's URL with the password hidden."""
    return display_url(engine.url)


class _UnusableEngine:
    """Stands in for ``engine`` when ``$ORMKIT_DATABASE_URL`` is unusable.

    Importing ormkit must not fail on a bad URL (the ``ormkit`` command could not even print
    its one-line error, nor ``--help``); the first real use raises the :class:`ConfigError`
    that explains the URL instead.
    """

    def __init__(self, error: ConfigError) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Any:
        raise ConfigError(str(self._error))

    def __repr__(self) -> str:
        return f"<unusable engine: {self._error}>"


try:
    engine: AsyncEngine = make_engine()
except ConfigError as _error:
    engine = _UnusableEngine(_error)  # type: ignore[assignment]
async_session: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)


def _engine(given: AsyncEngine | None) -> AsyncEngine:
    # Looked up at call time so tests (and `use_database`) can swap the module's engine.
    return given if given is not None else engine


async def create_all_tables(engine: AsyncEngine | None = None) -> None:
    """Create every table that does not exist yet (``Base.metadata.create_all`` via ``run_sync``).

    Example:
        >>> await create_all_tables()
    """
    async with _engine(engine).begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def drop_all_tables(engine: AsyncEngine | None = None) -> None:
    """Drop the kit's tables (only those; other tables in the database are left alone).

    On a server, a session left open elsewhere (a transaction never committed or closed) holds a
    lock that ``DROP TABLE`` waits for; after a few seconds this raises instead of hanging.

    Example:
        >>> await drop_all_tables()
        >>> await create_all_tables()  # empty tables again
    """
    async with _engine(engine).begin() as conn:
        await _limit_lock_wait(conn)
        await conn.run_sync(Base.metadata.drop_all)


async def _limit_lock_wait(conn: AsyncConnection) -> None:
    name = conn.dialect.name
    if name == "postgresql":
        await conn.execute(text(f"SET LOCAL lock_timeout = '{SERVER_DDL_LOCK_TIMEOUT_S}s'"))
    elif name in ("mysql", "mariadb"):
        await conn.execute(text(f"SET SESSION lock_wait_timeout = {SERVER_DDL_LOCK_TIMEOUT_S}"))


async def seed(engine: AsyncEngine | None = None) -> None:
    """Insert :mod:`ormkit.sample_data` into empty tables.

    Example:
        >>> await create_all_tables()
        >>> await seed()  # what reset() does after dropping and creating the tables
    """
    async with _engine(engine).begin() as conn:
        await conn.execute(insert(User), sample_data.user_dicts())
        await conn.execute(insert(Post), sample_data.post_dicts())
        if conn.dialect.name == "postgresql":
            # Explicit ids do not advance PostgreSQL sequences; move them past the sample data.
            for table in ("users", "posts"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )


async def reset(engine: AsyncEngine | None = None) -> None:
    """Drop and recreate the tables, then load the sample data: a clean, known starting point.

    Example:
        >>> await reset()
        >>> await count_users()
        13
    """
    await drop_all_tables(engine)
    await create_all_tables(engine)
    await seed(engine)


def use_database(url: str | URL | None = None, **kwargs: Any) -> AsyncEngine:
    """Point ``ormkit``'s default ``engine`` / ``async_session`` at another database.

    The kit's coroutines pick the new engine up at their next call. Names imported earlier with
    ``from ormkit import engine`` still refer to the old engine: import them again.
    The old engine is not disposed; ``await old.dispose()`` when done with it.

    Example:
        >>> old = ormkit.engine
        >>> use_database("postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        >>> await reset()  # now on PostgreSQL
        >>> await old.dispose()
    """
    global engine
    engine = make_engine(url, **kwargs)
    async_session.configure(bind=engine)
    return engine
