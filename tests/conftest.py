"""Database fixtures: every test gets its own database, swapped in as the kit's default.

``kit_db`` is parametrized over the backends: a SQLite file, SQLite in memory, and (when
reachable) PostgreSQL and MariaDB/MySQL, each in a database or schema of its own that is dropped
after the test run (see ``tests/backends.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import db

SQLITE_BACKENDS = ["sqlite-file", "sqlite-memory"]


def sqlite_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite-file":
        return f"sqlite+aiosqlite:///{tmp_path / 'kit.db'}"
    return "sqlite+aiosqlite://"


async def _swap_in(url: str) -> tuple[AsyncEngine, AsyncEngine]:
    old = db.engine
    new = db.make_engine(url)
    db.engine = new
    db.async_session.configure(bind=new)
    return old, new


async def _swap_out(old: AsyncEngine, new: AsyncEngine) -> None:
    await new.dispose()
    db.engine = old
    db.async_session.configure(bind=old)


@pytest.fixture(params=SQLITE_BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sqlite_url(request.param, tmp_path)


@pytest.fixture
async def kit_db(backend_url: str) -> AsyncIterator[AsyncEngine]:
    """An empty schema on a fresh database, installed as ``ormkit.db.engine``."""
    old, new = await _swap_in(backend_url)
    try:
        await db.drop_all_tables()
        await db.create_all_tables()
        yield new
    finally:
        await _swap_out(old, new)


@pytest.fixture
async def seeded(kit_db: AsyncEngine) -> AsyncEngine:
    """``kit_db`` loaded with :mod:`ormkit.sample_data` through ``reset()``, as notebooks do."""
    await db.reset()
    return kit_db


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A seeded SQLite *file* database (WAL, busy timeout): where real concurrency happens."""
    old, new = await _swap_in(sqlite_url("sqlite-file", tmp_path))
    try:
        await db.reset()
        yield new
    finally:
        await _swap_out(old, new)
