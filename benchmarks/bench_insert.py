"""How fast does ``add_many_users`` load users, compared with raw ``sqlite3.executemany``?

Every repeat loads the same rows into a fresh database file for each strategy, one strategy after
the other (side by side, so machine load hits them alike); the figure is the median of the
repeats, shown as a ratio to the raw baseline. Run: ``python benchmarks/bench_insert.py [N]``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from _common import (
    INSERT_SQL,
    atimed,
    fmt_seconds,
    kit_pragmas,
    make_rows,
    median,
    new_kit_db,
    pragmas,
    raw_connect,
    temp_folder,
    timed,
)
from sqlalchemy import insert

from ormkit import User, add_many_users, async_session, db

TARGET = 1.5  # add_many_users <= 1.5x raw executemany (issue 6)


def raw_insert(path: Path, rows: list[tuple[str, int]]) -> float:
    con = raw_connect(path)
    try:

        def load() -> None:
            con.executemany(INSERT_SQL, rows)
            con.commit()

        return timed(load)
    finally:
        con.close()


async def kit_insert(rows: list[tuple[str, int]]) -> float:
    return await atimed(lambda: add_many_users(rows))


async def core_insert(rows: list[tuple[str, int]]) -> float:
    dicts = [{"name": n, "age": a} for n, a in rows]

    async def load() -> None:
        async with db.engine.begin() as conn:
            await conn.execute(insert(User), dicts)

    return await atimed(load)


async def orm_add_all(rows: list[tuple[str, int]]) -> float:
    async def load() -> None:
        async with async_session() as session:
            session.add_all([User(name=n, age=a) for n, a in rows])
            await session.commit()

    return await atimed(load)


async def count(path: Path) -> int:
    con = raw_connect(path)
    try:
        return con.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        con.close()


async def bench(n: int, repeats: int, naive_n: int) -> float:
    rows = make_rows(n)
    naive_rows = rows[:naive_n]
    times: dict[str, list[float]] = {"raw": [], "kit": [], "core": []}
    with temp_folder() as tmp:
        folder = Path(tmp)
        engine, _ = await new_kit_db(folder, "probe.db")
        kit_settings = await kit_pragmas(engine)
        con = raw_connect(folder / "probe.db")
        raw_settings = pragmas(con)
        con.close()
        for repeat in range(repeats):

            async def raw_run() -> None:
                _, path = await new_kit_db(folder, "raw.db")
                await db.engine.dispose()  # the raw baseline has the file to itself
                times["raw"].append(raw_insert(path, rows))
                assert await count(path) == n

            async def kit_run() -> None:
                _, path = await new_kit_db(folder, "kit.db")
                times["kit"].append(await kit_insert(rows))
                assert await count(path) == n

            # Alternate who goes first, so neither side always gets the warmer (or busier) slot.
            for run in (raw_run, kit_run) if repeat % 2 == 0 else (kit_run, raw_run):
                await run()
            _, path = await new_kit_db(folder, "core.db")
            times["core"].append(await core_insert(rows))
        naive: dict[str, float] = {}
        for label, fn in (("raw", None), ("add_all", orm_add_all)):
            _, path = await new_kit_db(folder, f"naive-{label}.db")
            if fn is None:
                await db.engine.dispose()
                naive[label] = raw_insert(path, naive_rows)
            else:
                naive[label] = await fn(naive_rows)
        await db.engine.dispose()

    raw = median(times["raw"])
    kit = median(times["kit"])
    # Each repeat times both sides back to back; the median of those paired ratios is what a
    # busy machine disturbs least (a slow moment hits both halves of a pair alike).
    ratio = median([k / r for k, r in zip(times["kit"], times["raw"], strict=True)])
    print(f"== insert {n:,} users: SQLite file, median of {repeats} repeats ==")
    print("   ratio = median over repeats of (kit time / raw time), both timed back to back")
    print(f"   raw sqlite3 pragmas: {raw_settings}")
    print(f"   kit engine pragmas:  {kit_settings}")
    print(f"   {'raw sqlite3.executemany + commit':44} {fmt_seconds(raw)}   1.00x (baseline)")
    verdict = "OK" if ratio <= TARGET else "OVER TARGET"
    print(
        f"   {'ormkit add_many_users (validates every row)':44} {fmt_seconds(kit)}"
        f"  {ratio:5.2f}x  target <= {TARGET}x: {verdict}"
    )
    core = median(times["core"])
    print(
        f"   {'Core conn.execute(insert(User), dicts)':44} {fmt_seconds(core)}"
        f"  {core / raw:5.2f}x  (context)"
    )
    print(f"   naive path, {naive_n:,} rows, one run each:")
    print(f"   {'raw sqlite3.executemany + commit':44} {fmt_seconds(naive['raw'])}   1.00x")
    print(
        f"   {'session.add_all([User(...), ...]) + commit':44} {fmt_seconds(naive['add_all'])}"
        f"  {naive['add_all'] / naive['raw']:5.1f}x  (the seed's pattern)"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--naive-n", type=int, default=None, help="rows for add_all (default n)")
    args = parser.parse_args()
    ratio = asyncio.run(bench(args.n, args.repeats, args.naive_n or args.n))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
