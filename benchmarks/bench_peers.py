"""ormkit against the tools people would pick for speed, per backend, side by side.

For each reachable backend (a SQLite file; PostgreSQL and MariaDB/MySQL from the tests' URLs,
``ORMKIT_TEST_POSTGRESQL_URL`` / ``ORMKIT_TEST_MYSQL_URL``, each in a throwaway database dropped
afterwards), every round times ormkit and each peer once, back to back, alternating who goes
first. Printed per pair: the min of each side, the ratio of the mins, and the median over rounds
of the paired ratio (ormkit / peer), which a busy machine disturbs least; the verdict uses the
median. Also ``import ormkit`` against ``import sqlalchemy``, each in fresh processes. Two
"floor" lines (context, no target) time what any read on the kit's own connection must do
before it builds anything: Python's sqlite3 stepping through the rows, asyncpg's ``COPY TO
STDOUT`` without parsing; each against ADBC's whole read.

Peers (``pip install -e ".[bench]"``): asyncpg ``copy_records_to_table``, asyncmy executemany of
plain tuples, raw ``sqlite3`` executemany, ADBC ``fetch_df`` (SQLite, PostgreSQL), connectorx.
Run: ``python benchmarks/bench_peers.py [N] [--rounds R] [--backends sqlite postgresql mysql]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, make_rows, raw_connect, temp_folder

sys.path.insert(0, str(ROOT / "tests"))

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import make_url

from ormkit import User, add_many_users, db, read_frame

SELECT_SQL = "SELECT id, name, age FROM users ORDER BY id"
INSERT_TARGETS = {"sqlite": 1.2, "postgresql": 1.3, "mysql": 1.1}
READ_TARGETS = {"sqlite": 1.3, "postgresql": 1.3, "mysql": 1.2}
IMPORT_TARGET = 1.7

Job = Callable[[], Awaitable[object]]


@dataclass
class Pair:
    label: str
    target: float | None
    kit: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)

    @property
    def min_ratio(self) -> float:
        return min(self.kit) / min(self.peer)

    @property
    def median_ratio(self) -> float:
        return statistics.median(k / p for k, p in zip(self.kit, self.peer, strict=True))

    @property
    def ok(self) -> bool:
        return self.target is None or self.median_ratio <= self.target

    def line(self) -> str:
        target = f"<= {self.target}x" if self.target else "context"
        verdict = "" if self.target is None else ("OK" if self.ok else "OVER TARGET")
        return (
            f"   {self.label:52} {min(self.kit) * 1000:8.1f} {min(self.peer) * 1000:8.1f} "
            f"{self.min_ratio:6.2f}x {self.median_ratio:6.2f}x  {target:8} {verdict}"
        )


HEADER = f"   {'ormkit vs peer':52} {'kit ms':>8} {'peer ms':>8} {'min':>7} {'median':>7}  target"


async def timed(job: Job) -> float:
    gc.collect()
    start = time.perf_counter()
    await job()
    return time.perf_counter() - start


async def interleave(pairs: list[tuple[Pair, Job, Job, Job | None]], rounds: int) -> None:
    """Run every pair ``rounds`` times; ``reset`` (if any) runs, untimed, before each side."""
    for round_ in range(rounds):
        for pair, kit, peer, reset in pairs:
            sides = [(pair.kit, kit), (pair.peer, peer)]
            for times, job in sides if round_ % 2 == 0 else sides[::-1]:
                if reset is not None:
                    await reset()
                times.append(await timed(job))


# -- the backends ------------------------------------------------------------------------------


async def sqlite_pairs(rows: list[tuple[str, int]], rounds: int, folder: Path) -> list[Pair]:
    import adbc_driver_sqlite.dbapi

    path = folder / "peers.db"
    engine = db.use_database(f"sqlite+aiosqlite:///{path}")
    await db.create_all_tables()
    raw = raw_connect(path)

    async def reset() -> None:
        raw.execute("DELETE FROM users")
        raw.commit()

    async def raw_insert() -> None:
        raw.executemany("INSERT INTO users (name, age) VALUES (?, ?)", rows)
        raw.commit()

    insert = Pair("add_many_users / sqlite3 executemany", INSERT_TARGETS["sqlite"])
    await interleave([(insert, lambda: add_many_users(rows), raw_insert, reset)], rounds)
    await reset()
    await add_many_users(rows)
    adbc = adbc_driver_sqlite.dbapi.connect(str(path))
    cursor = adbc.cursor()

    async def adbc_read() -> None:
        cursor.execute(SELECT_SQL)
        check(cursor.fetch_df(), len(rows))

    async def pandas_read() -> None:
        check(pd.read_sql_query(SELECT_SQL, raw), len(rows))

    stmt = select(User).order_by(User.id)

    async def kit_read() -> None:
        check(await read_frame(stmt), len(rows))

    async def step_only() -> None:
        # The floor of any reader on Python's sqlite3 (the kit's connection): rows stepped, kept
        # nowhere. Slower than ADBC's whole read, so no reader on the kit's connection can match
        # ADBC; and ADBC's own SQLite in this process is unsafe (see ormkit/fast.py).
        for _ in raw.execute(SELECT_SQL):
            pass

    read = Pair("read_frame / ADBC SQLite fetch_df", READ_TARGETS["sqlite"])
    context = Pair("read_frame / pd.read_sql_query (raw sqlite3)", None)
    floor = Pair("floor: sqlite3 stepping rows, none kept / ADBC", None)
    await interleave(
        [
            (read, kit_read, adbc_read, None),
            (context, kit_read, pandas_read, None),
            (floor, step_only, adbc_read, None),
        ],
        rounds,
    )
    cursor.close()
    adbc.close()
    raw.close()
    await engine.dispose()
    return [insert, read, context, floor]


async def postgresql_pairs(rows: list[tuple[str, int]], rounds: int, url: str) -> list[Pair]:
    import adbc_driver_postgresql.dbapi
    import asyncpg
    import connectorx

    engine = db.use_database(url)
    await db.create_all_tables()
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    raw = await asyncpg.connect(plain)

    async def reset() -> None:
        await raw.execute("TRUNCATE users RESTART IDENTITY CASCADE")

    async def copy_insert() -> None:
        async with raw.transaction():
            await raw.copy_records_to_table("users", records=rows, columns=["name", "age"])

    insert = Pair("add_many_users / asyncpg copy_records_to_table", INSERT_TARGETS["postgresql"])
    await interleave([(insert, lambda: add_many_users(rows), copy_insert, reset)], rounds)
    await reset()
    await add_many_users(rows)
    adbc = adbc_driver_postgresql.dbapi.connect(plain)
    cursor = adbc.cursor()

    async def adbc_read() -> None:
        cursor.execute(SELECT_SQL)
        check(cursor.fetch_df(), len(rows))
        adbc.rollback()

    async def cx_read() -> None:
        check(connectorx.read_sql(plain, SELECT_SQL), len(rows))

    stmt = select(User).order_by(User.id)

    async def kit_read() -> None:
        check(await read_frame(stmt), len(rows))

    async def copy_only() -> None:
        # What read_frame's COPY costs before any parsing: asyncpg's COPY TO STDOUT, kept as bytes.
        chunks: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            chunks.append(chunk)

        async with raw.transaction():
            await raw.copy_from_query(SELECT_SQL, output=keep, format="csv")

    read_adbc = Pair("read_frame / ADBC PostgreSQL fetch_df", READ_TARGETS["postgresql"])
    read_cx = Pair("read_frame / connectorx", READ_TARGETS["postgresql"])
    floor = Pair("floor: asyncpg COPY TO STDOUT, unparsed / ADBC", None)
    await interleave(
        [
            (read_adbc, kit_read, adbc_read, None),
            (read_cx, kit_read, cx_read, None),
            (floor, copy_only, adbc_read, None),
        ],
        rounds,
    )
    cursor.close()
    adbc.close()
    await raw.close()
    await engine.dispose()
    return [insert, read_adbc, read_cx, floor]


async def mysql_pairs(rows: list[tuple[str, int]], rounds: int, url: str) -> list[Pair]:
    import asyncmy
    import connectorx

    engine = db.use_database(url)
    await db.create_all_tables()
    u = make_url(url)
    raw = await asyncmy.connect(
        host=u.host,
        port=u.port or 3306,
        user=u.username,
        password=u.password or "",
        database=u.database,
        charset="utf8mb4",
    )

    async def reset() -> None:
        async with raw.cursor() as cur:
            await cur.execute("DELETE FROM users")
        await raw.commit()

    async def executemany_insert() -> None:
        async with raw.cursor() as cur:
            await cur.executemany("INSERT INTO users (name, age) VALUES (%s, %s)", rows)
        await raw.commit()

    insert = Pair("add_many_users / asyncmy executemany (tuples)", INSERT_TARGETS["mysql"])
    await interleave([(insert, lambda: add_many_users(rows), executemany_insert, reset)], rounds)
    await reset()
    await add_many_users(rows)
    cx_url = u.set(drivername="mysql").render_as_string(hide_password=False)

    async def cx_read() -> None:
        check(connectorx.read_sql(cx_url, SELECT_SQL), len(rows))

    stmt = select(User).order_by(User.id)

    async def kit_read() -> None:
        check(await read_frame(stmt), len(rows))

    read = Pair("read_frame / connectorx", READ_TARGETS["mysql"])
    await interleave([(read, kit_read, cx_read, None)], rounds)
    raw.close()
    await raw.ensure_closed()
    await engine.dispose()
    return [insert, read]


def check(df: pd.DataFrame, n: int) -> None:
    assert df.shape == (n, 3), df.shape


# -- import time ------------------------------------------------------------------------------


def import_seconds(module: str) -> float:
    code = f"import time; s = time.perf_counter(); import {module}; print(time.perf_counter() - s)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def import_pair(rounds: int) -> Pair:
    pair = Pair("import ormkit / import sqlalchemy (fresh processes)", IMPORT_TARGET)
    import_seconds("ormkit")  # warm the file cache and .pyc files once
    for round_ in range(rounds):
        sides = [(pair.kit, "ormkit"), (pair.peer, "sqlalchemy")]
        for times, module in sides if round_ % 2 == 0 else sides[::-1]:
            times.append(import_seconds(module))
    return pair


# -- main -------------------------------------------------------------------------------------


async def run_backend(name: str, rows: list[tuple[str, int]], rounds: int) -> list[Pair] | str:
    import backends

    old = db.kit.engine
    try:
        if name == "sqlite":
            with temp_folder() as tmp:
                return await sqlite_pairs(rows, rounds, Path(tmp))
        server = backends.SERVERS[name]
        try:
            url = backends.create_database(server)
        except Exception as error:
            if backends.is_unreachable(error):
                return f"skipped: {backends.unreachable_reason(server, error)}"
            raise
        try:
            rendered = url.render_as_string(hide_password=False)
            if name == "postgresql":
                return await postgresql_pairs(rows, rounds, rendered)
            return await mysql_pairs(rows, rounds, rendered)
        finally:
            await db.kit.engine.dispose()
            backends.drop_database(server, url)
    finally:
        await old.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql", "mysql"])
    args = parser.parse_args()
    rows = make_rows(args.n)
    failed: list[str] = []
    print(f"== ormkit vs peers, {args.n:,} rows, {args.rounds} interleaved rounds ==")
    print("   min = min(kit) / min(peer); median = median over rounds of kit / peer (the verdict)")
    for name in args.backends:
        result = asyncio.run(run_backend(name, rows, args.rounds))
        print(f"-- {name}")
        if isinstance(result, str):
            print(f"   {result}")
            continue
        print(HEADER)
        for pair in result:
            print(pair.line())
            if not pair.ok:
                failed.append(f"{name}: {pair.label}")
    pair = import_pair(max(args.rounds, 11))
    print("-- import")
    print(HEADER)
    print(pair.line())
    if not pair.ok:
        failed.append(pair.label)
    if failed:
        print("OVER TARGET: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
