"""How long does a cancelled ``add_many_users`` take to give control back, on each backend?

For every backend (a SQLite file, and PostgreSQL / MariaDB when reachable, each in a throwaway
database) this times ``asyncio.wait_for(add_many_users(rows), timeout)`` for timeouts from 0 to
past the batch's full duration, and after each one checks the promises of issue 16: the batch is
all there or not there at all, the outcome reported matches (``TimeoutError`` only when nothing was
committed), and a second engine can write at once. It prints the worst time-to-return per backend.
Run: ``python benchmarks/bench_cancel.py [N] [--only sqlite,postgresql,mysql]`` (default 200000
rows, every reachable backend).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from pathlib import Path

from _common import ROOT, temp_folder

sys.path.insert(0, str(ROOT / "tests"))

import backends
from sqlalchemy import text

from ormkit import add_many_users, count_users, db

SAMPLE_USERS = 13
HUNG_AFTER_S = 60
PROBE_WAIT_S = 5
PROBE_INSERT = "INSERT INTO users (name, age) VALUES ('probe', 1)"
PROBE_DELETE = "DELETE FROM users WHERE name = 'probe'"


async def _writable_elsewhere(url: str) -> float | None:
    """Seconds another connection needs to insert and commit one row (``None``: it could not)."""
    started = time.perf_counter()
    try:
        if url.startswith("sqlite"):
            await asyncio.to_thread(_sqlite_probe, url.split(":///", 1)[1])
        else:
            other = db.make_engine(url)
            try:
                async with other.begin() as conn:
                    if url.startswith("postgresql"):
                        await conn.execute(text(f"SET LOCAL lock_timeout = '{PROBE_WAIT_S}s'"))
                    else:
                        await conn.execute(
                            text(f"SET SESSION innodb_lock_wait_timeout = {PROBE_WAIT_S}")
                        )
                    await conn.execute(text(PROBE_INSERT))
                    await conn.execute(text(PROBE_DELETE))
            finally:
                await other.dispose()
    except Exception as exc:  # "database is locked", a lock wait timeout
        print(f"    another connection could not write: {type(exc).__name__}: {str(exc)[:70]}")
        return None
    return time.perf_counter() - started


def _sqlite_probe(path: str) -> None:
    con = sqlite3.connect(path, timeout=PROBE_WAIT_S)  # another process would use its own
    try:
        con.execute(PROBE_INSERT)
        con.execute(PROBE_DELETE)
        con.commit()
    finally:
        con.close()


async def measure(label: str, url: str, n: int) -> tuple[float, int]:
    """Return (worst seconds from the timeout to control coming back, consistency failures)."""
    rows = [(f"c{i}", i % 100) for i in range(n)]
    async with db.kit.using(url):
        await db.reset()
        started = time.perf_counter()
        await add_many_users(rows)
        full = time.perf_counter() - started
        worst, failures = 0.0, 0
        fractions = [0, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0, 1.2]
        for fraction in fractions:
            await db.reset()
            timeout = full * fraction
            reported = "ok"
            started = time.perf_counter()
            call = asyncio.ensure_future(asyncio.wait_for(add_many_users(rows), timeout))
            await asyncio.wait({call}, timeout=timeout + HUNG_AFTER_S)
            if not call.done():
                print(f"  {label:<10} timeout {timeout:6.2f}s: HUNG (no return in {HUNG_AFTER_S}s)")
                return float("inf"), failures + 1  # the engine cannot be disposed: stop here
            try:
                call.result()
            except TimeoutError:
                reported = "timeout"
            back = time.perf_counter() - started - timeout
            worst = max(worst, back)
            stored = await count_users() - SAMPLE_USERS
            other = await _writable_elsewhere(url)
            consistent = (reported, stored) in {("ok", n), ("timeout", 0)} and other is not None
            failures += not consistent
            print(
                f"  {label:<10} timeout {timeout:6.2f}s ({fraction:4.0%} of {full:.2f}s): "
                f"{reported:<7} rows={stored:<7} back after {back:5.2f}s, "
                f"another connection wrote: {'no' if other is None else f'{other:4.2f}s'}"
                f"{'' if consistent else '  INCONSISTENT'}",
                flush=True,
            )
    return worst, failures


async def main(n: int, only: set[str]) -> int:
    results: list[tuple[str, float, int]] = []
    if "sqlite" in only:
        with temp_folder() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'cancel.db'}"
            results.append(("sqlite", *await measure("sqlite", url, n)))
    for name, server in backends.SERVERS.items():
        if name not in only:
            continue
        try:
            server_url = backends.create_database(server)
        except Exception as exc:  # not reachable: say so and go on
            print(f"  {server.label}: skipped ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        try:
            rendered = server_url.render_as_string(hide_password=False)
            results.append((name, *await measure(name, rendered, n)))
        finally:
            backends.drop_database(server, server_url)
    print(f"\nworst time-to-return after a cancel ({n} rows):")
    for name, worst, failures in results:
        print(f"  {name:<10} {worst:6.2f}s   inconsistent outcomes: {failures}")
    return 1 if any(failures for _, _, failures in results) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    parser.add_argument(
        "--only", default="sqlite,postgresql,mysql", help="comma list of backends to measure"
    )
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.n, set(args.only.split(",")))))
