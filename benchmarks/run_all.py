"""Run every benchmark (``make bench``): ratios at 100k rows, peers per backend, scaling table.

Each script runs in its own process, one after the other, so none measures another's leftovers.
Exits non-zero if a ratio misses its target. ``--quick`` skips the 1M-row scaling runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> int:
    print(f"\n$ python benchmarks/{script} {' '.join(args)}".rstrip(), flush=True)
    return subprocess.run([sys.executable, str(HERE / script), *args], cwd=HERE).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="scaling up to 100k rows only")
    args = parser.parse_args()
    started = time.perf_counter()
    failed = []
    if run("bench_insert.py", "100000", "--naive-n", "20000"):
        failed.append("add_many_users")
    if run("bench_frames.py", "100000"):
        failed.append("read_frame")
    if run("bench_peers.py", "100000", "--rounds", "3" if args.quick else "9"):
        failed.append("ormkit vs peers")
    sizes = ["10000", "100000"] if args.quick else ["10000", "100000", "1000000"]
    if run("bench_scaling.py", "--sizes", *sizes):
        failed.append("read_frame vs ADBC (scaling)")
    print(f"\nall benchmarks: {time.perf_counter() - started:.0f}s", end="")
    print(f"; OVER TARGET: {', '.join(failed)}" if failed else "; every ratio within target")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
