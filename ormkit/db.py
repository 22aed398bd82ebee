"""Engines, sessions and the schema: ``engine``, ``async_session``, ``create_all_tables()``, ``reset()``.

The module-level ``engine`` and ``async_session`` are the cheat sheet's names, built for the
configured URL (see :mod:`ormkit.config`). Creating an engine never connects; the first
``await`` that needs the database does. ``make_engine`` / ``make_sessionmaker`` build others
(tests, a second database).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

from . import sample_data
from .config import default_url, display_url, resolve_url, sqlite_file
from .models import Base, Post, User

SQLITE_BUSY_TIMEOUT_MS = 30_000


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
            kwargs.setdefault("poolclass", StaticPool)
        else:
            kwargs.setdefault("connect_args", {}).setdefault(
                "timeout", SQLITE_BUSY_TIMEOUT_MS / 1000
            )
        engine = create_async_engine(resolved, **kwargs)
        _setup_sqlite(engine, path, create_folder=resolved == default_url())
    else:
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_async_engine(resolved, **kwargs)
    return engine


def _setup_sqlite(engine: AsyncEngine, path: Path | None, *, create_folder: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _check_location(dialect, conn_rec, cargs, cparams):  # noqa: ANN001
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
    def _set_pragmas(dbapi_connection, connection_record):  # noqa: ANN001
        # SQLite ignores FOREIGN KEY constraints unless each connection turns them on.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if path is not None:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except Exception:  # noqa: BLE001 - a read-only file keeps its journal mode
                pass
        cursor.close()

    @event.listens_for(sync_engine, "handle_error")
    def _explain_file_errors(context):  # noqa: ANN001
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
    """
    return async_sessionmaker(engine, expire_on_commit=False)


def describe(engine: AsyncEngine) -> str:
    """Return the engine's URL with the password hidden."""
    return display_url(engine.url)


engine: AsyncEngine = make_engine()
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
    """Drop the kit's tables (only those; other tables in the database are left alone)."""
    async with _engine(engine).begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)


async def seed(engine: AsyncEngine | None = None) -> None:
    """Insert :mod:`ormkit.sample_data` into empty tables."""
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
    """
    global engine
    engine = make_engine(url, **kwargs)
    async_session.configure(bind=engine)
    return engine
