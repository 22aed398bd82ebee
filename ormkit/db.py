"""Engines, sessions, the schema and per-dialect setup: ``engine``, ``async_session``, ``reset()``.

The kit's current database is one object, :data:`kit` (a :class:`KitDatabase`): its URL and
where that came from (:func:`ormkit.config.resolve`), its engine, created on first use, and its
sessions. ``engine`` and ``async_session``, the cheat sheet's names, are views of it;
:func:`use_database` and ``async with kit.using(url):`` are the only ways to swap it. Creating an
engine never connects; the first ``await`` that needs the database does. ``make_engine`` /
``make_sessionmaker`` build others (tests, a second database).
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, func, insert, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import URL, Connection, ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from . import sample_data
from .config import Resolved, default_url, resolve, resolve_url, sqlite_file
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
        def _set_session(dbapi_connection: Any, connection_record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"SET SESSION sql_mode = '{MYSQL_SQL_MODE}'")
            cursor.close()

    @event.listens_for(sync_engine, "handle_error")
    def _normalize_refused_row(context: ExceptionContext) -> exc.StatementError | None:
        original = context.original_exception
        if isinstance(context.sqlalchemy_exception, exc.IntegrityError):
            return None
        if name == "postgresql":
            refused = getattr(original, "sqlstate", None) in _PG_REFUSED_ROW
        else:
            args: tuple[Any, ...] = getattr(original, "args", ())
            refused = bool(args) and args[0] in _MYSQL_REFUSED_ROW
        if not refused or context.statement is None:
            return None
        return exc.IntegrityError(context.statement, context.parameters, original)


def _setup_sqlite(engine: AsyncEngine, path: Path | None, *, create_folder: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _check_location(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        if path is None:
            return
        folder = path.parent
        if not folder.is_dir():
            if create_folder:
                # The default data folder is the kit's own; create it on first use, not at import,
                # readable by this user only, whatever the umask (a hub's may be 000).
                folder.mkdir(parents=True, exist_ok=True)
                folder.chmod(0o700)
            else:
                raise DatabaseLocationError(
                    f"cannot open SQLite database {str(path)!r}: its folder {str(folder)!r} does "
                    "not exist; create it (mkdir -p) or point ORMKIT_DATABASE_URL elsewhere"
                )

    @event.listens_for(sync_engine, "connect")
    def _set_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
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
    def _begin_before_savepoint(conn: Connection, name: str) -> None:
        # The sqlite3 driver only sends BEGIN before INSERT/UPDATE/DELETE. A SAVEPOINT outside a
        # transaction *starts* one, and its RELEASE then commits for real: a later ROLLBACK of the
        # outer session transaction could not undo it. Open the transaction first.
        # (https://www.sqlite.org/lang_savepoint.html, "transaction nesting")
        driver_connection: Any = conn.connection.driver_connection  # sqlite3 under aiosqlite
        if not driver_connection.in_transaction:
            conn.exec_driver_sql("BEGIN")

    @event.listens_for(sync_engine, "handle_error")
    def _explain_file_errors(context: ExceptionContext) -> DatabaseLocationError | None:
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
        ...     result = await session.execute(text("SELECT 1"))
        >>> result.scalar_one()
        1
    """
    return async_sessionmaker(engine, expire_on_commit=False)


class _KitSessions(async_sessionmaker[AsyncSession]):
    """``async_session``: a session factory always bound to the kit's current engine."""

    def __call__(self, **local_kw: Any) -> AsyncSession:
        if self.kw.get("bind") is None:
            self.configure(bind=kit.engine)  # first use: create the engine now
        return super().__call__(**local_kw)


class KitDatabase:
    """The kit's current database: where it is, where that came from, its engine and sessions.

    Every coroutine of the kit, ``ormkit.engine`` and ``ormkit.async_session`` ask this one
    object. The engine is created on first use, from :func:`ormkit.config.resolve` (argument >
    ``$ORMKIT_DATABASE_URL`` > the default file), so ``import ormkit`` never fails on a bad URL:
    the first use raises the :class:`ConfigError` that explains it. :meth:`use` points the kit at
    another database; :meth:`using` does it for a block and puts the previous one back.

    Example:
        >>> async with kit.using("sqlite+aiosqlite://") as engine:
        ...     await reset()  # on an in-memory database; the default file is untouched
        ...     print(kit.resolved.source, engine.url)
        the url argument sqlite+aiosqlite://
    """

    def __init__(self) -> None:
        self._engine: AsyncEngine | None = None
        self._resolved: Resolved | None = None
        self.sessions: async_sessionmaker[AsyncSession] = _KitSessions(expire_on_commit=False)

    @property
    def resolved(self) -> Resolved:
        """The URL in use and its source (resolved now if nothing has been used yet)."""
        if self._resolved is None:
            self._resolved = resolve()
        return self._resolved

    @property
    def engine(self) -> AsyncEngine:
        """The current engine, created on first use (creating one never connects)."""
        if self._engine is None:
            self._install(make_engine(self.resolved.url), self.resolved)
        assert self._engine is not None
        return self._engine

    def _install(self, engine: AsyncEngine | None, resolved: Resolved | None) -> None:
        self._engine, self._resolved = engine, resolved
        self.sessions.configure(bind=engine)

    def use(self, url: str | URL | None = None, **kwargs: Any) -> AsyncEngine:
        """Point the kit at ``url`` (``None``: resolve again); return the new engine.

        The old engine is not disposed: its owner does that (see :func:`use_database`).
        """
        resolved = resolve(url)
        engine = make_engine(resolved.url, **kwargs)
        self._install(engine, resolved)
        return engine

    @asynccontextmanager
    async def using(self, url: str | URL, **kwargs: Any) -> AsyncIterator[AsyncEngine]:
        """Use ``url`` for the block, then dispose of its engine and restore the previous one."""
        previous = self._engine, self._resolved
        engine = self.use(url, **kwargs)
        try:
            yield engine
        finally:
            try:
                await engine.dispose()
            finally:
                self._install(*previous)


kit = KitDatabase()
# The cheat sheet's name: a session factory for the kit's current engine.
async_session: async_sessionmaker[AsyncSession] = kit.sessions


class _DbModule(types.ModuleType):
    """This module's class: ``engine`` is a view of :data:`kit`, read at each access.

    Assigning ``ormkit.db.engine = ...`` would otherwise leave a stale copy that hides the kit's
    engine from then on (the session factory and every coroutine would disagree about the
    database); it is refused with the two ways that do swap it.
    """

    @property
    def engine(self) -> AsyncEngine:
        return kit.engine

    @engine.setter
    def engine(self, value: object) -> None:
        raise AttributeError(
            "ormkit.db.engine follows the kit's database; switch it with "
            "ormkit.use_database(url), or for a block with: async with ormkit.kit.using(url):"
        )


sys.modules[__name__].__class__ = _DbModule


def __getattr__(name: str) -> Any:
    # For type checkers, which do not see _DbModule: ``db.engine`` is the kit's current engine.
    if name == "engine":
        return kit.engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _engine(given: AsyncEngine | None) -> AsyncEngine:
    return given if given is not None else kit.engine


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


async def row_counts(engine: AsyncEngine | None = None) -> dict[str, int] | None:
    """Count the rows of each kit table that exists; ``None`` when none of them exists yet.

    Example:
        >>> await reset()
        >>> await row_counts()
        {'users': 13, 'posts': 16}
    """
    async with _engine(engine).connect() as conn:
        existing = await conn.run_sync(lambda c: set(sa_inspect(c).get_table_names()))
        tables = [t for t in Base.metadata.sorted_tables if t.name in existing]
        if not tables:
            return None
        counts = {}
        for table in tables:
            counts[table.name] = int(
                await conn.scalar(select(func.count()).select_from(table)) or 0
            )
        return counts


def use_database(url: str | URL | None = None, **kwargs: Any) -> AsyncEngine:
    """Point ``ormkit``'s default ``engine`` / ``async_session`` at another database.

    The kit's coroutines and ``async_session`` pick the new engine up at once, and so does
    ``ormkit.engine``. A name bound earlier with ``from ormkit import engine`` still refers to
    the old engine: import it again. The old engine is not disposed; ``await old.dispose()``
    when done with it. (For a block, ``async with ormkit.db.kit.using(url):`` restores it.)

    Example:
        >>> old = ormkit.engine
        >>> engine = use_database("sqlite+aiosqlite://")
        >>> await reset()  # now on an in-memory database
        >>> ormkit.engine is engine
        True
        >>> await old.dispose()
    """
    return kit.use(url, **kwargs)
