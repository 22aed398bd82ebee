"""Hermetic checking: every check runs on scratch databases, never on the learner's.

For one ``check()``, :func:`scratch_database` makes a database of the learner's kind: a temporary
SQLite file, or on PostgreSQL / MariaDB / MySQL a temporary database on the same server (named
``ormkit_check_<random>``; if the account may not create one, a temporary SQLite file instead).
For each of the exercise's datasets, :func:`on_dataset` creates the kit's tables there, loads the
rows, and points the kit at it for the checker's run (``kit.using``); the learner's engine object
(``from ormkit import engine`` in a notebook) is redirected too, so sessions and connections an
answer opens on it land in the scratch database. Afterwards the engine is put back, tasks the
answer left running are cancelled, connections it left checked out are closed, and the scratch
database is dropped: nothing of the check reaches the learner's data or later cells.

:func:`fingerprint` reads a database's tables, indexes and rows; comparing it before and after a
run says whether the answer committed something (and proves, in the tests, that the learner's
database is unchanged).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import secrets
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, MetaData, Table, delete, event, exc, insert, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn

from .. import db
from ..config import sqlite_file
from ..models import Base, Post, User
from ._datasets import Dataset

SCRATCH_PREFIX = "ormkit_check_"


def _learner_engine() -> AsyncEngine:
    return db.kit.engine


@asynccontextmanager
async def scratch_database() -> AsyncIterator[URL]:
    """A new, empty database like the learner's, for one check; dropped afterwards."""
    learner = _learner_engine()
    url = learner.url
    if url.get_backend_name() != "sqlite":
        name = SCRATCH_PREFIX + secrets.token_hex(6)
        admin = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            try:
                await _create_server_database(admin, name)
            except exc.DBAPIError:
                pass  # no right to create a database: use a temporary SQLite file below
            else:
                try:
                    yield url.set(database=name)
                finally:
                    await _drop_server_database(admin, name)
                return
        finally:
            await admin.dispose()
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    try:
        yield URL.create("sqlite+aiosqlite", database=str(folder / "check.db"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _create_server_database(admin: AsyncEngine, name: str) -> None:
    async with admin.connect() as conn:
        if conn.dialect.name == "postgresql":
            # The learner's encoding and collation (how names sort); template0 is never
            # connected to, so many learners can create a database at the same time.
            encoding, collate, ctype = (
                await conn.execute(
                    text(
                        "SELECT pg_encoding_to_char(encoding), datcollate, datctype "
                        "FROM pg_database WHERE datname = current_database()"
                    )
                )
            ).one()
            await conn.execute(
                text(
                    f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING '{encoding}' "
                    f"LC_COLLATE '{collate}' LC_CTYPE '{ctype}'"
                )
            )
        else:  # MariaDB / MySQL: the learner's character set and collation (case rules)
            row = (
                await conn.execute(
                    text(
                        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                        "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"
                    )
                )
            ).first()
            charset, collation = row if row is not None else ("utf8mb4", "utf8mb4_general_ci")
            await conn.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET {charset} COLLATE {collation}")
            )


async def _drop_server_database(admin: AsyncEngine, name: str) -> None:
    async with admin.connect() as conn:
        if conn.dialect.name == "postgresql":
            version = conn.dialect.server_version_info or (0,)
            force = " WITH (FORCE)" if version >= (13,) else ""
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"{force}'))
        else:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))


def learner_in_memory() -> bool:
    """True if the learner's database is SQLite in memory (only the kit's engine reaches it)."""
    url = _learner_engine().url
    return url.get_backend_name() == "sqlite" and sqlite_file(url) is None


def _copy_sqlite(source: Path, target: Path) -> None:
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


@asynccontextmanager
async def learner_backup() -> AsyncIterator[Callable[[], Awaitable[bool]]]:
    """For the block, a copy of the learner's SQLite file; yields ``restore()`` (False if the
    database is not a SQLite file, which an engine of the answer's own cannot reach in memory)."""
    learner = _learner_engine()
    if learner.dialect.name != "sqlite":
        yield await _server_restorer(learner)
        return
    path = sqlite_file(learner.url)
    if path is None or not path.exists():

        async def cannot() -> bool:
            return False

        yield cannot
        return
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    copy = folder / "before.db"
    try:
        await asyncio.to_thread(_copy_sqlite, path, copy)

        async def restore() -> bool:
            await asyncio.to_thread(_copy_sqlite, copy, path)
            return True

        yield restore
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _index_names(conn: Connection) -> set[tuple[str, str]]:
    found = sa_inspect(conn)
    return {
        (table, index["name"])
        for table in found.get_table_names()
        if table in ("users", "posts")
        for index in found.get_indexes(table)
        if index["name"]
    }


async def _server_restorer(learner: AsyncEngine) -> Callable[[], Awaitable[bool]]:
    """``restore()`` for a server database: the kit's rows and indexes as they are now."""
    users, posts = await learner_rows()
    async with learner.connect() as conn:
        indexes = await conn.run_sync(_index_names)

    async def restore() -> bool:
        async with learner.begin() as conn:
            await conn.run_sync(_create_model_tables)
            for table, name in await conn.run_sync(_index_names) - indexes:
                on = f" ON {table}" if conn.dialect.name != "postgresql" else ""
                await conn.execute(text(f"DROP INDEX {name}{on}"))
            await conn.execute(delete(Post))
            await conn.execute(delete(User))
        await _load(learner, users, posts)
        return True

    return restore


async def learner_rows() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The learner's users and posts (read only), for the :data:`LEARNER` dataset."""
    async with _learner_engine().connect() as conn:
        names = await conn.run_sync(lambda c: set(sa_inspect(c).get_table_names()))
        if not {"users", "posts"} <= names:
            return (), ()
        users = (await conn.execute(select(User.id, User.name, User.age).order_by(User.id))).all()
        posts = (
            await conn.execute(select(Post.id, Post.user_id, Post.title).order_by(Post.id))
        ).all()
    return tuple(tuple(r) for r in users), tuple(tuple(r) for r in posts)


# The models' own indexes. An Index(...) built in a notebook on User's columns joins the table's
# metadata too (lesson 11); a scratch database gets only these, like a fresh reset() would.
_MODEL_INDEXES = {table: frozenset(table.indexes) for table in Base.metadata.sorted_tables}


def _create_model_tables(conn: Connection) -> None:
    extra = {table: table.indexes - own for table, own in _MODEL_INDEXES.items()}
    for table, indexes in extra.items():
        table.indexes -= indexes
    try:
        Base.metadata.create_all(conn)
    finally:
        for table, indexes in extra.items():
            table.indexes |= indexes


async def _load(engine: AsyncEngine, users: tuple[Any, ...], posts: tuple[Any, ...]) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_create_model_tables)
        if users:
            await conn.execute(insert(User), [{"id": i, "name": n, "age": a} for i, n, a in users])
        if posts:
            await conn.execute(
                insert(Post), [{"id": i, "user_id": u, "title": t} for i, u, t in posts]
            )
        if conn.dialect.name == "postgresql":
            # Explicit ids do not advance PostgreSQL sequences; move them past the rows.
            for table in ("users", "posts"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                    )
                )


# The schema in one catalog query per backend (reflection would take a dozen queries per table).
_SCHEMA_QUERIES = {
    "sqlite": "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
    "postgresql": (
        "SELECT 'column', table_name, column_name, data_type || coalesce(character_maximum_length"
        "::text, '') || is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() "
        "UNION ALL SELECT 'index', tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() ORDER BY 1, 2, 3"
    ),
    "mysql": (
        "SELECT 'column', TABLE_NAME, COLUMN_NAME, CONCAT(COLUMN_TYPE, IS_NULLABLE) "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "UNION ALL SELECT 'index', TABLE_NAME, INDEX_NAME, "
        "CONCAT(SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE) FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, 3, 4"
    ),
}


def _read_fingerprint(conn: Connection) -> str:
    name = conn.dialect.name
    query = _SCHEMA_QUERIES["mysql" if name == "mariadb" else name]
    schema = [tuple(row) for row in conn.execute(text(query)).all()]
    parts: list[Any] = [schema]
    tables = {row[1] if name != "sqlite" else row[2] for row in schema}
    for table in (User.__table__, Post.__table__):
        assert isinstance(table, Table)
        if table.name in tables:
            rows = conn.execute(select(table).order_by(table.c.id)).all()
            parts.append([tuple(r) for r in rows])
    return hashlib.sha256(repr(parts).encode()).hexdigest()


async def fingerprint(engine: AsyncEngine | None = None) -> str:
    """A digest of a database's tables, columns, indexes and the kit's rows (the learner's DB)."""
    async with (engine or _learner_engine()).connect() as conn:
        return await conn.run_sync(_read_fingerprint)


@dataclass
class OtherTables:
    """The learner's tables besides the kit's (a lesson's own models), with their rows."""

    tables: list[Table]
    rows: dict[str, list[dict[str, Any]]]

    def drop(self, conn: Connection) -> None:
        for table in reversed(self.tables):
            table.drop(conn, checkfirst=True)

    def create(self, conn: Connection) -> None:
        for table in self.tables:
            table.create(conn, checkfirst=True)

    async def copy(self, engine: AsyncEngine) -> None:
        """Create the tables in ``engine``'s database; copy the rows that fit (ids may differ)."""
        async with engine.begin() as conn:
            await conn.run_sync(self.create)
        for table in self.tables:
            if self.rows[table.name]:
                with contextlib.suppress(exc.DBAPIError):  # rows pointing at the sample's ids
                    async with engine.begin() as conn:
                        await conn.execute(insert(table), self.rows[table.name])
            if engine.dialect.name == "postgresql":
                # Copied ids do not advance PostgreSQL sequences; move them past the rows.
                for column in table.primary_key.columns:
                    if not isinstance(column.type, Integer):
                        continue
                    async with engine.begin() as conn:
                        await conn.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                                f"'{column.name}'), coalesce((SELECT max({column.name}) "
                                f"FROM {table.name}), 0) + 1, false)"
                            )
                        )


async def _other_tables() -> OtherTables | None:
    def read(sync: Connection) -> OtherTables | None:
        names = set(sa_inspect(sync).get_table_names()) - {"users", "posts"}
        if not names:
            return None
        metadata = MetaData()
        metadata.reflect(sync, only=sorted(names))
        tables = [t for t in metadata.sorted_tables if t.name in names]
        rows = {t.name: [dict(r._mapping) for r in sync.execute(select(t)).all()] for t in tables}
        return OtherTables(tables, rows)

    async with _learner_engine().connect() as conn:
        return await conn.run_sync(read)


@dataclass
class Run:
    """One checker run on one dataset; ``changed`` is set after the block."""

    engine: AsyncEngine
    changed: bool = False


@asynccontextmanager
async def on_dataset(url: URL, dataset: Dataset) -> AsyncIterator[Run]:
    """Load ``dataset`` into the scratch database ``url`` and point the kit (and the learner's
    engine object) at it for the block; afterwards clean up whatever the block left behind and
    set ``Run.changed`` if the database no longer holds what was loaded (the block committed)."""
    learner = _learner_engine()
    users, posts = (await learner_rows()) if dataset.learner else (dataset.users, dataset.posts)
    others = await _other_tables()
    async with db.kit.using(url) as engine:
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _no_fsync)
        async with engine.begin() as conn:  # a previous dataset's tables (and DDL) go first
            if others is not None:
                await conn.run_sync(others.drop)
            await conn.run_sync(Base.metadata.drop_all)
        await _load(engine, users, posts)
        if others is not None:
            await others.copy(engine)
        loaded = await fingerprint(engine)
        run = Run(engine)
        checked_out: set[Any] = set()

        def checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
            checked_out.add(record)

        def checkin(dbapi_conn: Any, record: Any) -> None:
            checked_out.discard(record)

        event.listen(engine.sync_engine.pool, "checkout", checkout)
        event.listen(engine.sync_engine.pool, "checkin", checkin)
        own_sync = learner.sync_engine
        learner.sync_engine = engine.sync_engine  # `from ormkit import engine` follows the check
        tasks_before = asyncio.all_tasks()
        try:
            yield run
        finally:
            learner.sync_engine = own_sync
            await _cancel_new_tasks(tasks_before)
            if checked_out:
                with warnings.catch_warnings():
                    # An abandoned session or connection is garbage now: collect it here,
                    # silently, rather than in the learner's next cell with a "non-checked-in
                    # connection" warning; close what is still checked out.
                    warnings.simplefilter("ignore")
                    gc.collect()
                    for record in list(checked_out):
                        with contextlib.suppress(Exception):
                            await greenlet_spawn(record.invalidate)
                    gc.collect()
        run.changed = await fingerprint(engine) != loaded


def _no_fsync(dbapi_connection: Any, connection_record: Any) -> None:
    # A scratch file is thrown away after the check: no need to wait for the disk.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


async def _cancel_new_tasks(before: set[asyncio.Task[Any]]) -> None:
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    for task in left:
        task.cancel()
    if left:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await asyncio.gather(*left, return_exceptions=True)
