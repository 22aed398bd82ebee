"""Engines, sessions, the schema and per-dialect setup: ``engine``, ``async_session``, ``reset()``.

The kit's current database is one object, :data:`kit` (a :class:`KitDatabase`): its URL and
where that came from (:func:`ormkit.config.resolve`), its engine, created on first use, and its
sessions. ``engine`` and ``async_session``, the cheat sheet's names, are views of it;
:func:`use_database` and ``async with kit.using(url):`` are the only ways to swap it. Creating an
engine never connects; the first ``await`` that needs the database does. ``make_engine`` /
``make_sessionmaker`` build others (tests, a second database).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import sys
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import column, event, exc, func, insert, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import table as sa_table
from sqlalchemy.engine import URL, Connection, ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.schema import CreateIndex, CreateTable

from . import sample_data
from .config import Resolved, default_url, resolve, resolve_url, sqlite_file
from .models import Base

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


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _setup_sqlite(engine: AsyncEngine, path: Path | None, *, create_folder: bool) -> None:
    sync_engine = engine.sync_engine
    # The file the pool's connections have open (device, inode), and why they were dropped.
    opened: dict[str, Any] = {"identity": None, "lost": None}

    @event.listens_for(sync_engine, "do_connect")
    def _check_location(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        if path is None:
            return
        if opened["lost"] is not None:
            # Said once; the next call opens whatever is at the path now.
            message, opened["lost"] = opened["lost"], None
            raise DatabaseLocationError(message)
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

    @event.listens_for(sync_engine, "checkout")
    def _check_same_file(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # An open connection keeps writing to a deleted (unlinked) file, whose rows vanish when
        # it closes, or to the old file after a copy replaced it; one stat() per checkout sees it.
        if path is None or opened["identity"] is None:
            return
        now = _file_identity(path)
        if now == opened["identity"]:
            return
        what = "was deleted" if now is None else "was replaced by another file"
        opened["identity"] = None
        opened["lost"] = f"SQLite database {str(path)!r} {what} while the kit had it open; " + (
            "its connections were closed and nothing more was written to the deleted file. Run "
            "the cell again to start a new, empty database, then await reset() to load the "
            "sample data"
            if now is None
            else "its connections were closed. Replace a database file only while no kernel "
            "uses it (after await ormkit.engine.dispose()), together with its -wal file if "
            "it has one, or SQLite may read the old file's journal into the new one"
        )
        # Close the pool's connections to the old file; the reconnect raises the message above.
        sync_engine.pool.dispose()
        lost = exc.DisconnectionError(opened["lost"])
        lost.invalidate_pool = True
        raise lost

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
        if path is not None:
            opened["identity"] = _file_identity(path)

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


class ResetError(RuntimeError):
    """``reset()`` / ``drop_all_tables()`` failed and changed nothing; the message says why."""


async def create_all_tables(engine: AsyncEngine | None = None) -> None:
    """Create every table that does not exist yet (``Base.metadata.create_all`` via ``run_sync``).

    Example:
        >>> await create_all_tables()
    """
    async with _engine(engine).begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def drop_all_tables(engine: AsyncEngine | None = None) -> None:
    """Drop the kit's tables (only those; other tables in the database are left alone).

    All or nothing, like :func:`reset`: if a table cannot be dropped (another table's foreign
    key points at it, a lock held elsewhere, a full disk), :class:`ResetError` says why and
    every table is still there. On a server, a session left open elsewhere (a transaction never
    committed or closed) holds a lock that ``DROP TABLE`` waits for; after a few seconds this
    raises instead of hanging.

    Example:
        >>> await drop_all_tables()
        >>> await create_all_tables()  # empty tables again
    """
    await _replace_tables(_engine(engine), create=False, what="drop_all_tables()")


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
        await _seed(conn)


async def _seed(conn: AsyncConnection, suffix: str = "") -> None:
    users, posts = (
        _table_named(Base.metadata.tables[name], name + suffix) for name in ("users", "posts")
    )
    await conn.execute(insert(users), sample_data.user_dicts())
    await conn.execute(insert(posts), sample_data.post_dicts())
    if conn.dialect.name == "postgresql":
        # Explicit ids do not advance PostgreSQL sequences; move them past the sample data.
        for table in ("users", "posts"):
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )


def _table_named(table: Any, name: str) -> Any:
    return sa_table(name, *(column(c.name) for c in table.columns))


async def reset(engine: AsyncEngine | None = None) -> None:
    """Drop and recreate the tables, then load the sample data: a clean, known starting point.

    All or nothing on every backend, even with other connections writing meanwhile: either the
    sample data is fully restored, or nothing changed and :class:`ResetError` says why (another
    table's foreign key points at ``users``, a lock held elsewhere, a full disk). SQLite and
    PostgreSQL drop, create and seed in one transaction (SQLite's ``BEGIN IMMEDIATE`` makes
    writers wait their turn). MariaDB/MySQL commit each DDL statement at once, so there the new
    tables are built and seeded under temporary names (``users__ormkit_new``) and swapped in with
    one atomic ``RENAME TABLE``; rows written before the swap go away with the old tables, rows
    written after it stay. A reset stopped before the swap leaves only those temporary tables,
    which the next one removes. A cancel or interrupt behaves as in :func:`run_transaction`.

    Example:
        >>> await reset()
        >>> await count_users()
        13
    """
    await _replace_tables(_engine(engine), create=True, what="reset()")


_STAGED = "__ormkit_new"  # MariaDB/MySQL: the new tables, built before the swap
_RETIRED = "__ormkit_old"  # MariaDB/MySQL: the old tables, dropped after it


async def _replace_tables(engine: AsyncEngine, *, create: bool, what: str) -> None:
    try:
        if engine.dialect.name in ("mysql", "mariadb"):
            await _swap_tables(engine, create=create)
        else:

            async def rebuild(session: AsyncSession) -> None:
                conn = await session.connection()
                if conn.dialect.name == "sqlite":
                    # pysqlite only opens a transaction before INSERT/UPDATE/DELETE: DROP TABLE
                    # would commit on its own. IMMEDIATE takes the write lock first, so a
                    # concurrent writer waits for the whole reset instead of slipping in between.
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                await _limit_lock_wait(conn)
                await _refuse_foreign_references(conn, what)
                await conn.run_sync(Base.metadata.drop_all)
                if create:
                    await conn.run_sync(Base.metadata.create_all)
                    await _seed(conn)

            await run_transaction(rebuild, engine=engine)
    except exc.DBAPIError as error:
        raise ResetError(f"{what} changed nothing: {error.orig}") from error


async def _refuse_foreign_references(conn: AsyncConnection, what: str) -> None:
    def find(sync_conn: Connection) -> list[str]:
        inspector = sa_inspect(sync_conn)
        kit_tables = {t.name for t in Base.metadata.sorted_tables}
        found = []
        for name in inspector.get_table_names():
            if name in kit_tables or name.endswith((_STAGED, _RETIRED)):
                continue
            for key in inspector.get_foreign_keys(name):
                if key["referred_table"] in kit_tables:
                    columns = ", ".join(key["constrained_columns"])
                    found.append(f"{name}({columns}) -> {key['referred_table']}")
        return found

    found = await conn.run_sync(find)
    if found:
        raise ResetError(
            f"{what} changed nothing: other tables have foreign keys to the kit's tables "
            f"({'; '.join(found)}); drop those tables or their foreign keys first"
        )


def _staged_ddl(dialect: Any) -> list[str]:
    """CREATE TABLE / INDEX for every kit table, under its temporary name."""
    names = {t.name: t.name + _STAGED for t in Base.metadata.sorted_tables}
    pattern = re.compile(rf"\b(TABLE|REFERENCES|ON) ({'|'.join(names)}) \(")

    def rename(sql: str) -> str:
        sql = pattern.sub(lambda m: f"{m[1]} {names[m[2]]} (", sql)
        if not getattr(dialect, "is_mariadb", False):
            # MySQL 8 wants CHECK names unique per database (MariaDB: per table), and the live
            # tables hold ours: let MySQL name the new ones (untested here: no MySQL 8 server).
            sql = re.sub(r"CONSTRAINT \w+ CHECK", "CHECK", sql)
        return sql

    statements = []
    for table in Base.metadata.sorted_tables:
        statements.append(rename(str(CreateTable(table).compile(dialect=dialect))))
        statements += [rename(str(CreateIndex(i).compile(dialect=dialect))) for i in table.indexes]
    return statements


async def _swap_tables(engine: AsyncEngine, *, create: bool) -> None:
    kit_names = [t.name for t in reversed(Base.metadata.sorted_tables)]  # posts before users
    leftovers = [n + suffix for n in kit_names for suffix in (_STAGED, _RETIRED)]

    async def build(session: AsyncSession) -> set[str]:
        conn = await session.connection()
        await _limit_lock_wait(conn)
        what = "reset()" if create else "drop_all_tables()"
        await _refuse_foreign_references(conn, what)
        existing = set(await conn.run_sync(lambda c: sa_inspect(c).get_table_names()))
        stale = [n for n in leftovers if n in existing]
        if stale:  # from a reset stopped before its swap
            await conn.exec_driver_sql(f"DROP TABLE {', '.join(stale)}")
        if create:
            for statement in _staged_ddl(conn.dialect):
                await conn.exec_driver_sql(statement)
            await _seed(conn, _STAGED)
        return existing

    existing = await run_transaction(build, engine=engine)  # commits the staged rows
    live = [n for n in kit_names if n in existing]
    renames = [f"{n} TO {n}{_RETIRED}" for n in live]
    if create:
        renames += [f"{n}{_STAGED} TO {n}" for n in reversed(kit_names)]

    async def swap() -> None:
        async with engine.connect() as conn:
            await _limit_lock_wait(conn)
            if renames:  # one statement: every table is swapped, or none is
                await conn.exec_driver_sql(f"RENAME TABLE {', '.join(renames)}")
            if live:
                await conn.exec_driver_sql(f"DROP TABLE {', '.join(n + _RETIRED for n in live)}")

    # Once the RENAME is on its way, its outcome is the call's: a cancel waits for it.
    await _wait_out(asyncio.ensure_future(swap()))


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


T = TypeVar("T")

# A cancelled call first makes its statement fail at the driver, then waits this long for its work
# to unwind (roll back, give its connection back); after that it stops waiting and returns anyway.
ABORT_WAIT_S = 10.0
INTERRUPT_AGAIN_S = 0.02


class _Unit:
    """What a cancel needs to know about the work in flight: its phase and its connection."""

    def __init__(self) -> None:
        self.phase = "work"  # "work" -> "commit" (COMMIT sent: it decides the outcome) -> "done"
        self.aborted = False  # set by a cancel during "work": the unit must not commit
        self.conn: AsyncConnection | None = None
        self.unwinding = False  # the work raised: its rollback must not be interrupted


class _Aborted(Exception):
    """The unit was cancelled from outside before it committed (raised inside it, never seen)."""


async def run_transaction(
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    session: AsyncSession | None = None,
    engine: AsyncEngine | None = None,
    write: bool = True,
) -> T:
    """Run ``await work(session)`` as one transaction that a cancel or interrupt cannot break.

    Without ``session=``, the work gets a new session (of ``engine``, default: the kit's), which
    is committed afterwards if ``write`` and always closed. Every CRUD coroutine, ``read_frame``
    and ``reset()`` run through here, so that pressing Jupyter's stop button or an
    ``asyncio.wait_for`` timeout, at any moment, keeps these promises:

    * **Prompt.** The work runs in a task of its own; a cancel makes its statement fail at the
      driver (SQLite: ``interrupt()``; PostgreSQL / MariaDB: the connection is closed, which makes
      the server roll back and frees its locks) and control comes back within seconds, never
      waiting on a stuck network round trip.
    * **All or nothing, and told the truth.** Cancelled before its ``COMMIT`` was sent, the work
      is rolled back and the cancel propagates (``CancelledError``, ``TimeoutError`` from
      ``wait_for``, ``KeyboardInterrupt``). Cancelled once the ``COMMIT`` was sent, the call
      waits for it and returns the result as if the cancel had come a moment later: a call
      never raises for work that was committed, nor returns for work that was not.
    * **Nothing left behind.** No open transaction or lock remains; a broken connection is
      discarded, so the pool serves the next cell.

    With ``session=`` the work joins the caller's transaction and nothing is committed; a cancel
    still stops its statement, and the caller's ``async with`` block rolls back.

    Example:
        >>> async def add_two(session):
        ...     session.add_all([User(name="Ada", age=36), User(name="Linus", age=28)])
        ...     return 2
        >>> await run_transaction(add_two)
        2
    """
    unit = _Unit()
    task = asyncio.ensure_future(_run_unit(unit, work, session, engine, write))
    try:
        return await asyncio.shield(task)
    except (asyncio.CancelledError, KeyboardInterrupt):
        if unit.phase == "work" and not task.done():
            unit.aborted = True  # synchronous with the unit's own check before it commits
            await _interrupt(unit, task)
            raise
        # The COMMIT was sent (or the work just ended): its outcome is the call's outcome.
        return await _wait_out(task)


async def _run_unit(
    unit: _Unit,
    work: Callable[[AsyncSession], Awaitable[T]],
    session: AsyncSession | None,
    engine: AsyncEngine | None,
    write: bool,
) -> T:
    if session is not None:
        unit.conn = await session.connection()
        try:
            return await work(session)
        except BaseException:
            await _invalidate_if_closed(unit.conn)
            raise
    own = async_session() if engine is None else AsyncSession(engine, expire_on_commit=False)
    async with own:
        unit.conn = await own.connection()
        if unit.aborted:  # cancelled while connecting: nothing was sent yet
            raise _Aborted
        try:
            result = await work(own)
        except BaseException:
            unit.unwinding = True
            raise
        if unit.aborted:
            raise _Aborted
        if write:
            unit.phase = "commit"
            await own.commit()
        unit.phase = "done"
        return result


async def _interrupt(unit: _Unit, task: asyncio.Future[Any]) -> None:
    """Make the unit's statement fail now, then give it a moment to unwind (bounded)."""
    conn = unit.conn
    closed = False
    if conn is not None and not conn.closed and not conn.invalidated:
        with contextlib.suppress(Exception):
            closed = _stop_statement(conn)
    loop = asyncio.get_running_loop()
    for last_resort in (False, True):
        if last_resort or closed:
            # A closed connection has nothing left to roll back (asyncpg would wait on it for
            # good); otherwise the work did not unwind in time. Either way, cancel the task.
            task.cancel()
        deadline = loop.time() + ABORT_WAIT_S / 2
        while not task.done() and (left := deadline - loop.time()) > 0:
            # A second stop-button press must not cut the clean-up short.
            with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
                await asyncio.wait({task}, timeout=min(left, INTERRUPT_AGAIN_S))
            conn = unit.conn  # set meanwhile if the cancel came while it was connecting
            if conn is not None and not closed and not unit.unwinding and not task.done():
                # SQLite's interrupt() only stops a statement already running: one that was
                # about to start when the cancel came is stopped by the next call.
                with contextlib.suppress(Exception):
                    closed = _stop_statement(conn)
                if closed:
                    task.cancel()
        if task.done():
            break
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: the cancel is what the caller hears about


async def _invalidate_if_closed(conn: AsyncConnection) -> None:
    """Tell SQLAlchemy that the caller's connection was closed under it (by :func:`_interrupt`).

    A statement sent through SQLAlchemy notices that itself; a fast path talking to the driver
    directly (asyncpg's COPY) does not, and the caller's ``session.begin()`` block would then fail
    to roll back a connection that is gone instead of discarding it.
    """
    if conn.closed or conn.invalidated or conn.sync_connection is None:
        return
    driver: Any = conn.sync_connection.connection.driver_connection
    is_closed = getattr(driver, "is_closed", None)  # asyncpg's Connection
    if callable(is_closed) and is_closed():
        with contextlib.suppress(Exception):
            await conn.invalidate()


def _stop_statement(conn: AsyncConnection) -> bool:
    """Abort the statement running on ``conn`` from outside its task; True if it was closed."""
    fairy = conn.sync_connection.connection if conn.sync_connection is not None else None
    driver: Any = fairy.driver_connection if fairy is not None else None
    if driver is None:
        return False
    name = conn.dialect.name
    if name == "sqlite":
        # sqlite3's interrupt() is thread-safe: the statement running in aiosqlite's thread stops
        # with "interrupted" and SQLite rolls the transaction back; the connection stays usable
        # (an in-memory database lives in it, so it must not be closed).
        driver._connection.interrupt()
        return False
    # A server keeps running a statement whose client only stopped listening; closing the socket
    # ends the session, so the server rolls back and releases its locks. The pool sees a dead
    # connection and replaces it.
    if name == "postgresql":
        driver.terminate()
    else:
        driver.close()
    return True


async def _wait_out(task: asyncio.Future[T]) -> T:
    """Wait for ``task`` to finish, shielded from further cancels (the outcome is decided)."""
    while True:
        try:
            return await asyncio.shield(task)
        except (asyncio.CancelledError, KeyboardInterrupt):
            if task.done():
                return task.result()


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
