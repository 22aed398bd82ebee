"""Lesson 12's claims, measured: sequential vs ``asyncio.gather``, and streaming vs ``.all()``.

For each backend (a temporary SQLite file; PostgreSQL and MariaDB in a throwaway database of their
own when reachable, see ``tests/backends.py``), side by side in one run:

- ``N`` look-ups by id, one session each, each waiting ``--latency`` seconds inside the database
  (``pg_sleep`` / ``SLEEP`` / a ``sleep()`` registered on SQLite's connections), one after the
  other and gathered: the ratio is what overlapping the waiting buys;
- ``N`` aggregates over ``--rows`` users, no sleep: what gather buys when nothing waits but the
  database's CPU;
- the peak memory Python allocates (tracemalloc) to sum the users' ages through ORM objects, with
  ``.all()`` and with ``stream_scalars`` + ``yield_per(1000)``.

Run: ``python benchmarks/bench_async_scale.py [--backends sqlite postgresql mysql]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from pathlib import Path

from _common import ROOT, median, temp_folder
from sqlalchemy import event, func, select

from ormkit import User, add_many_users, db, make_engine, make_sessionmaker, reset

sys.path.insert(0, str(ROOT / "tests"))
import backends  # tests/backends.py: throwaway server databases


def sleep_stmt(dialect: str, seconds: float):  # type: ignore[no-untyped-def]
    if dialect == "postgresql":
        return select(func.pg_sleep(seconds))
    return select(func.sleep(seconds))


async def gather_ratio(url: str, n: int, latency: float, repeat: int) -> tuple[float, float]:
    """(sequential seconds, gathered seconds), medians, for ``n`` look-ups."""
    engine = make_engine(url, pool_size=n, max_overflow=0)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def add_sleep(dbapi_connection, record):  # type: ignore[no-untyped-def]
            dbapi_connection.create_function("sleep", 1, lambda s: time.sleep(s) or 0)

    sessions = make_sessionmaker(engine)

    async def one(i: int) -> object:
        async with sessions() as session:
            if latency:  # a cheap look-up behind a wait, as in lesson 12
                await session.execute(sleep_stmt(engine.dialect.name, latency))
                return await session.get(User, i + 1)
            stmt = select(func.count(), func.avg(User.age)).where(User.age >= i % 50)
            return (await session.execute(stmt)).one()  # real work, nothing to wait for

    await asyncio.gather(*(one(i) for i in range(n)))  # warm the pool: n connections open
    sequential, gathered = [], []
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            for i in range(n):
                await one(i)
            sequential.append(time.perf_counter() - start)
            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            gathered.append(time.perf_counter() - start)
    finally:
        await engine.dispose()
    return median(sequential), median(gathered)


async def peak(job) -> int:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        await job()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def streaming_peaks() -> tuple[int, int]:
    stmt = select(User).order_by(User.id)

    async def with_all() -> int:
        async with db.async_session() as session:
            return sum(u.age for u in (await session.scalars(stmt)).all())

    async def streamed() -> int:
        async with db.async_session() as session:
            total = 0
            async for user in await session.stream_scalars(stmt.execution_options(yield_per=1000)):
                total += user.age
            return total

    return await peak(with_all), await peak(streamed)


async def measure(label: str, url: str, args: argparse.Namespace) -> None:
    async with db.kit.using(url):
        await reset()
        await add_many_users([(f"user {i:07d}", i % 100) for i in range(args.rows)])
        seq, gat = await gather_ratio(url, args.n, args.latency, args.repeat)
        print(
            f"{label:11} {args.n} look-ups waiting {args.latency * 1000:.0f} ms: sequential "
            f"{seq:6.3f} s, gathered {gat:6.3f} s -> gather {seq / gat:5.2f}x faster"
        )
        seq, gat = await gather_ratio(url, args.n, 0, args.repeat)
        print(
            f"{label:11} {args.n} aggregates over {args.rows:,} rows, no wait: sequential "
            f"{seq:6.3f} s, gathered {gat:6.3f} s -> gather {seq / gat:5.2f}x faster"
        )
        all_peak, stream_peak = await streaming_peaks()
        print(
            f"{label:11} sum of ages through {args.rows:,} ORM objects, peak memory: .all() "
            f"{all_peak / 1e6:7.1f} MB, stream_scalars(yield_per=1000) {stream_peak / 1e6:5.1f} MB "
            f"({all_peak / stream_peak:.0f}x less)"
        )
        await reset()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql", "mysql"])
    parser.add_argument("--n", type=int, default=8, help="concurrent look-ups (default 8)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds (default 0.1)")
    parser.add_argument("--rows", type=int, default=100_000, help="users (default 100,000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}")
    for name in args.backends:
        if name == "sqlite":
            with temp_folder() as folder:
                url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
                backends.run(measure("SQLite", url, args))
            continue
        server = backends.SERVERS[name]
        try:
            url_obj = backends.create_database(server)
        except Exception as exc:
            if backends.is_unreachable(exc):
                print(f"{server.label}: skipped ({backends.unreachable_reason(server, exc)})")
                continue
            raise
        try:
            backends.run(measure(server.label, url_obj.render_as_string(hide_password=False), args))
        finally:
            backends.drop_database(server, url_obj)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
