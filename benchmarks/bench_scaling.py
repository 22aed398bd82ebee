"""How the fast paths scale from 10k to 1M rows: time, time per row, and peak memory.

Each (operation, size) runs in a fresh subprocess, so its peak memory is its own: the figure is
the growth of the process's peak resident set size over what it held just before the operation
(the input rows already built). On Linux the peak is reset right before the operation
(``/proc/self/clear_refs``) and read from ``VmHWM``; elsewhere ``ru_maxrss`` is used, which can
carry a parent's peak into a child, so nothing big is built in the parent here. Linear cost shows
as a flat "per row" column; reads are also compared with ADBC's ``fetch_df`` (time and memory).
Run: ``python benchmarks/bench_scaling.py [--sizes 10000 100000 1000000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    INSERT_SQL,
    make_rows,
    median,
    new_kit_db,
    raw_connect,
    temp_folder,
)

OPERATIONS = {
    "raw_insert": "sqlite3 executemany",
    "kit_insert": "add_many_users",
    "raw_read": "pd.read_sql_query",
    "adbc_read": "ADBC fetch_df",
    "kit_read": "read_frame",
}
READ_TARGET = 1.3  # read_frame <= 1.3x ADBC fetch_df (issue 12), time from 100k rows up
READ_TARGET_FROM = 100_000  # below, fixed costs (a connection, a thread) are the larger part
MEMORY_TARGET = 1.5  # and peak memory growth at the largest size


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def _reset_peak() -> bool:
    """Make the kernel's peak-RSS mark (VmHWM) start again from now; False where it can't."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_kib(reset: bool) -> int:
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


async def _child(op: str, n: int, path: Path) -> dict[str, float]:
    import pandas as pd
    from sqlalchemy import select

    from ormkit import User, add_many_users, db, read_frame

    if op.endswith("insert"):
        await new_kit_db(path.parent, path.name)
        rows = make_rows(n)
    else:
        old = db.engine
        db.use_database(f"sqlite+aiosqlite:///{path}")
        await old.dispose()
    con = raw_connect(path) if op.startswith("raw") else None
    # Warm up: first calls import modules lazily and fill caches; that is not what we measure.
    if op == "raw_read":
        pd.read_sql_query("SELECT id, name, age FROM users ORDER BY id LIMIT 10", con)
    elif op == "kit_read":
        await read_frame(select(User).order_by(User.id).limit(10))
    elif op == "kit_insert":
        await add_many_users([])
        async with db.async_session() as session:
            await session.connection()
    elif op == "adbc_read":
        import adbc_driver_sqlite.dbapi

        adbc = adbc_driver_sqlite.dbapi.connect(str(path))
        cursor = adbc.cursor()
        cursor.execute("SELECT id, name, age FROM users ORDER BY id LIMIT 10")
        cursor.fetch_df()
    gc.collect()  # a full collection due mid-run would land on whichever side is unlucky
    before = _rss_kib()
    reset = _reset_peak()
    start = time.perf_counter()
    if op == "raw_insert":
        await db.engine.dispose()
        con.executemany(INSERT_SQL, rows)
        con.commit()
    elif op == "kit_insert":
        await add_many_users(rows)
    elif op == "raw_read":
        df = pd.read_sql_query("SELECT id, name, age FROM users ORDER BY id", con)
        assert len(df) == n
    elif op == "adbc_read":
        cursor.execute("SELECT id, name, age FROM users ORDER BY id")
        df = cursor.fetch_df()
        assert len(df) == n
    else:
        df = await read_frame(select(User).order_by(User.id))
        assert len(df) == n
    seconds = time.perf_counter() - start
    peak = _peak_kib(reset)
    if op == "adbc_read":
        cursor.close()
        adbc.close()
    await db.engine.dispose()
    return {"seconds": seconds, "peak_mib": max(0, peak - before) / 1024}


def _run_child(op: str, n: int, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", op, str(n), str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


async def _prepare(n: int, path: Path) -> None:
    from ormkit import add_many_users, db

    await new_kit_db(path.parent, path.name)
    await add_many_users(make_rows(n))
    await db.engine.dispose()


def _prepare_read_db(n: int, path: Path) -> None:
    # In a child: building 1M rows here would raise this process's peak, which ru_maxrss passes on.
    subprocess.run([sys.executable, __file__, "--prepare", str(n), str(path)], check=True)


def bench(sizes: list[int], repeats: int) -> bool:
    results: dict[tuple[str, int], dict[str, float]] = {}
    with temp_folder() as tmp:
        folder = Path(tmp)
        for n in sizes:
            reps = repeats if n < 1_000_000 else max(1, repeats // 2)
            read_db = folder / f"read-{n}.db"
            _prepare_read_db(n, read_db)
            runs: dict[str, list[dict[str, float]]] = {op: [] for op in OPERATIONS}
            for _ in range(reps):
                for op in OPERATIONS:
                    path = read_db if op.endswith("read") else folder / f"{op}-{n}.db"
                    runs[op].append(_run_child(op, n, path))
            for op, got in runs.items():
                results[op, n] = {
                    "seconds": median([g["seconds"] for g in got]),
                    "peak_mib": max(g["peak_mib"] for g in got),
                    "reps": len(got),
                }
    print("== scaling: SQLite file, one subprocess per run, median time, peak memory growth ==")
    print("   x base: add_many_users / sqlite3 executemany; read_frame / ADBC fetch_df")
    print(
        f"   {'operation':22} {'rows':>9} {'time':>10} {'per row':>9} {'x base':>6} "
        f"{'peak MiB':>9} {'x base':>6} {'runs':>4}"
    )
    base_of = {"kit_insert": "raw_insert", "kit_read": "adbc_read"}
    failed = []
    for n in sizes:
        for op, label in OPERATIONS.items():
            r = results[op, n]
            base = results.get((base_of.get(op, op), n), r)
            time_x = r["seconds"] / base["seconds"]
            mem_x = r["peak_mib"] / base["peak_mib"] if base["peak_mib"] else float("nan")
            print(
                f"   {label:22} {n:>9,} {r['seconds'] * 1000:8.1f}ms "
                f"{r['seconds'] / n * 1e6:7.2f}us {time_x:5.2f}x "
                f"{r['peak_mib']:9.1f} {mem_x:5.2f}x {r['reps']:>4}"
            )
            if op == "kit_read" and n >= READ_TARGET_FROM and time_x > READ_TARGET:
                failed.append(f"read_frame {n:,} rows: {time_x:.2f}x ADBC (target {READ_TARGET}x)")
            if op == "kit_read" and n == sizes[-1] and mem_x > MEMORY_TARGET:
                failed.append(f"read_frame memory {n:,} rows: {mem_x:.2f}x ADBC")
    growth = sizes[-1] / sizes[0]
    for op, label in OPERATIONS.items():
        t = results[op, sizes[-1]]["seconds"] / results[op, sizes[0]]["seconds"]
        print(f"   {label:22} {sizes[0]:,} -> {sizes[-1]:,} rows ({growth:,.0f}x): time x{t:,.1f}")
    print("   OVER TARGET: " + "; ".join(failed) if failed else "   read_frame within target")
    return not failed


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--prepare":
        asyncio.run(_prepare(int(sys.argv[2]), Path(sys.argv[3])))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        op, n, path = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
        print(json.dumps(asyncio.run(_child(op, n, path))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="runs per size below 1M")
    args = parser.parse_args()
    return 0 if bench(args.sizes, args.repeats) else 1


if __name__ == "__main__":
    raise SystemExit(main())
