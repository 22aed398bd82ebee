"""How fast does ``read_frame`` turn rows into a DataFrame, compared with ``pd.read_sql_query``?

The baseline is ``pandas.read_sql_query`` on a raw ``sqlite3`` connection (the kit's pragmas) to
the same file; the kit reads ``select(User).order_by(User.id)`` through its async engine. Each
repeat runs every strategy once, side by side; figures are medians, shown as ratios to the
baseline. Run: ``python benchmarks/bench_frames.py [N]``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pandas as pd
from _common import (
    atimed,
    fmt_seconds,
    make_rows,
    median,
    new_kit_db,
    raw_connect,
    temp_folder,
    timed,
)
from sqlalchemy import select

from ormkit import User, add_many_users, async_session, db, read_frame

TARGET = 1.2  # read_frame <= 1.2x pd.read_sql_query on raw sqlite3 (issue 6)
RAW_SQL = "SELECT id, name, age FROM users ORDER BY id"


def check_same(kit: pd.DataFrame, raw: pd.DataFrame) -> None:
    """The fast path must give the baseline's frame exactly: same columns, values and dtypes."""
    pd.testing.assert_frame_equal(kit, raw, check_dtype=True)


async def bench(n: int, repeats: int) -> float:
    stmt = select(User).order_by(User.id)
    times: dict[str, list[float]] = {"raw": [], "kit": [], "naive": [], "scalars": []}
    with temp_folder() as tmp:
        engine, path = await new_kit_db(Path(tmp), "frames.db")
        await add_many_users(make_rows(n))
        con = raw_connect(path)
        frames: dict[str, pd.DataFrame] = {}

        def raw() -> None:
            frames["raw"] = pd.read_sql_query(RAW_SQL, con)

        async def kit() -> None:
            frames["kit"] = await read_frame(stmt)

        async def naive() -> None:
            async with engine.connect() as conn:
                result = await conn.execute(stmt)
                frames["naive"] = pd.DataFrame(result.all())

        async def scalars() -> None:
            async with async_session() as session:
                users = (await session.execute(stmt)).scalars().all()
                frames["scalars"] = pd.DataFrame([u.to_dict() for u in users])

        for repeat in range(repeats):
            # Alternate who goes first, so neither side always gets the warmer (or busier) slot.
            if repeat % 2 == 0:
                times["raw"].append(timed(raw))
                times["kit"].append(await atimed(kit))
            else:
                times["kit"].append(await atimed(kit))
                times["raw"].append(timed(raw))
            if repeat < 3:  # slow, and only context
                times["naive"].append(await atimed(naive))
        times["scalars"].append(await atimed(scalars))  # slow: once is enough for context
        con.close()
        await db.engine.dispose()

    check_same(frames["kit"], frames["raw"])
    raw_t = median(times["raw"])
    kit_t = median(times["kit"])
    # Each repeat times both sides back to back; the median of those paired ratios is what a
    # busy machine disturbs least (a slow moment hits both halves of a pair alike).
    ratio = median([k / r for k, r in zip(times["kit"], times["raw"], strict=True)])
    print(f"== DataFrame of {n:,} users: SQLite file, median of {repeats} repeats ==")
    print("   ratio = median over repeats of (kit time / raw time), both timed back to back")
    dtypes = ", ".join(f"{c}:{t}" for c, t in frames["kit"].dtypes.items())
    print(f"   kit frame equals the baseline's frame (values and dtypes: {dtypes})")
    print(f"   {'pd.read_sql_query on raw sqlite3':44} {fmt_seconds(raw_t)}   1.00x (baseline)")
    verdict = "OK" if ratio <= TARGET else "OVER TARGET"
    print(
        f"   {'ormkit read_frame(select(User))':44} {fmt_seconds(kit_t)}"
        f"  {ratio:5.2f}x  target <= {TARGET}x: {verdict}"
    )
    naive_t = median(times["naive"])
    print(
        f"   {'pd.DataFrame((await conn.execute()).all())':44} {fmt_seconds(naive_t)}"
        f"  {naive_t / raw_t:5.2f}x  (naive, median of 3)"
    )
    sc = times["scalars"][0]
    print(
        f"   {'DataFrame of ORM objects (to_dict), once':44} {fmt_seconds(sc)}"
        f"  {sc / raw_t:5.2f}x  (naive)"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    ratio = asyncio.run(bench(args.n, args.repeats))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
