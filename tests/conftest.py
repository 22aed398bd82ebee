"""Database fixtures: every test gets its own database, swapped in as the kit's default.

``kit_db`` is parametrized over the backends: a SQLite file, SQLite in memory, and (when
reachable) PostgreSQL and MariaDB/MySQL, each in a database or schema of its own that is dropped
after the test run (see ``tests/backends.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import backends
import pytest
from backends import SERVERS, UNREACHABLE, ServerDatabases
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import db

SQLITE_BACKENDS = ["sqlite-file", "sqlite-memory"]
SERVER_BACKENDS = list(SERVERS)  # "postgresql", "mysql"
# Server params carry the "servers" marker: `pytest -m servers` runs only them, `-m "not servers"`
# only SQLite.
BACKENDS = [
    *SQLITE_BACKENDS,
    *(pytest.param(name, marks=pytest.mark.servers) for name in SERVER_BACKENDS),
]


def sqlite_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite-file":
        return f"sqlite+aiosqlite:///{tmp_path / 'kit.db'}"
    return "sqlite+aiosqlite://"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    # Report every "server not reachable" skip at one location, so `-ra` folds them into one line
    # per server ("SKIPPED [170] ...") instead of one line per test.
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]
        if UNREACHABLE in reason:
            report.longrepr = (backends.__file__, 1, reason)
    return report


@pytest.fixture(scope="session")
def server_databases() -> Iterator[ServerDatabases]:
    """This run's own database on each server, created on first use and dropped at the end."""
    databases = ServerDatabases()
    try:
        yield databases
    finally:
        databases.close()


def backend_url_for(kind: str, tmp_path: Path, server_databases: ServerDatabases) -> str:
    if kind in SQLITE_BACKENDS:
        return sqlite_url(kind, tmp_path)
    return server_databases.url(kind)  # skips (or fails, if required) when unreachable


@pytest.fixture(params=BACKENDS)
def backend_url(
    request: pytest.FixtureRequest, tmp_path: Path, server_databases: ServerDatabases
) -> str:
    """The URL of every backend in turn: SQLite file, SQLite memory, PostgreSQL, MariaDB/MySQL."""
    return backend_url_for(request.param, tmp_path, server_databases)


@pytest.fixture(params=[pytest.param(n, marks=pytest.mark.servers) for n in SERVER_BACKENDS])
def server_url(request: pytest.FixtureRequest, server_databases: ServerDatabases) -> str:
    """The URL of each database server in turn (for tests about server-only behaviour)."""
    return server_databases.url(request.param)


@pytest.fixture(params=SQLITE_BACKENDS)
def sqlite_url_param(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sqlite_url(request.param, tmp_path)


@pytest.fixture
async def sqlite_db(sqlite_url_param: str) -> AsyncIterator[AsyncEngine]:
    """Like ``kit_db`` but SQLite only (file and memory): for tests about SQLite itself."""
    async with db.kit.using(sqlite_url_param) as new:
        await db.create_all_tables()
        yield new


@pytest.fixture
async def kit_db(backend_url: str) -> AsyncIterator[AsyncEngine]:
    """An empty schema on a fresh database, installed as ``ormkit.db.engine``."""
    async with db.kit.using(backend_url) as new:
        await db.drop_all_tables()
        await db.create_all_tables()
        yield new


@pytest.fixture
async def seeded(kit_db: AsyncEngine) -> AsyncEngine:
    """``kit_db`` loaded with :mod:`ormkit.sample_data` through ``reset()``, as notebooks do."""
    await db.reset()
    return kit_db


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A seeded SQLite *file* database (WAL, busy timeout): where real concurrency happens."""
    async with db.kit.using(sqlite_url("sqlite-file", tmp_path)) as new:
        await db.reset()
        yield new
