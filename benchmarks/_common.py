"""Shared pieces of the benchmarks: the data, the raw baselines' connections, timing helpers.

Every figure is a ratio to a raw baseline measured on the same rows, in the same run, on the same
kind of database: a temporary SQLite *file* created by the kit (same schema, CHECK constraints
included) and opened by the raw ``sqlite3`` baseline with the kit's own pragmas.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: import the checkout's ormkit
    sys.path.insert(0, str(ROOT))

from ormkit import db  # noqa: E402

INSERT_SQL = "INSERT INTO users (name, age) VALUES (?, ?)"


def make_rows(n: int) -> list[tuple[str, int]]:
    """``n`` valid ``(name, age)`` pairs, deterministic, with names of varying length."""
    return [(f"user {i:07d} {'x' * (i % 23)}", i % 100) for i in range(n)]


def kit_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def raw_connect(path: Path) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection with exactly the pragmas the kit sets on its connections."""
    con = sqlite3.connect(path, timeout=db.SQLITE_BUSY_TIMEOUT_MS / 1000)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute(f"PRAGMA busy_timeout={db.SQLITE_BUSY_TIMEOUT_MS}")
    con.execute("PRAGMA journal_mode=WAL")
    return con


def pragmas(con: sqlite3.Connection) -> str:
    """The settings that decide write cost, as ``name=value`` pairs (printed for fairness)."""
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    return " ".join(f"{n}={con.execute(f'PRAGMA {n}').fetchone()[0]}" for n in names)


async def kit_pragmas(engine) -> str:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        values = []
        for n in names:
            cursor = raw.driver_connection  # aiosqlite.Connection
            async with cursor.execute(f"PRAGMA {n}") as cur:
                values.append(f"{n}={(await cur.fetchone())[0]}")
        return " ".join(values)


async def new_kit_db(folder: Path, name: str):
    """A fresh kit database file with the kit's schema, installed as ``ormkit.db.engine``."""
    path = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    old = db.kit.engine
    engine = db.use_database(kit_url(path))
    await old.dispose()
    await db.create_all_tables()
    async with engine.connect() as conn:  # warm the pool: connecting is not what we measure
        await conn.exec_driver_sql("SELECT 1")
    return engine, path


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def atimed(fn: Callable[[], Awaitable[object]]) -> float:
    gc.collect()
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms" if seconds < 10 else f"{seconds:9.2f} s "


def temp_folder() -> tempfile.TemporaryDirectory[str]:
    # Benchmarks run against a real file on the same disk as the kit's default data folder.
    return tempfile.TemporaryDirectory(prefix="ormkit-bench-", dir=os.environ.get("TMPDIR"))
