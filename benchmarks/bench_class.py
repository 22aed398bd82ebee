"""A class at once: N learners run lesson 02 together on one hub and one PostgreSQL server.

    sudo .venv/bin/python benchmarks/bench_class.py --learners 1,4,8

Builds (or reuses) the hub environment of ``make test-hub`` (``tests/hub.py``), provisions one
PostgreSQL database per learner with ``ormkit provision`` (the server of
``$ORMKIT_TEST_POSTGRESQL_URL``, default ``postgres@127.0.0.1:5432/test``), starts one JupyterHub
(``SimpleLocalProcessSpawner``, one throwaway Unix user) with the README's
``c.Spawner.environment`` snippet, and starts every learner's server through the REST API. Then,
for each N, N learners' kernels run lesson 02 at the same time, free-running (not in step), and
every learner's outputs are compared with a run of the lesson alone on a fresh PostgreSQL database
(the stored outputs are SQLite's; see ``tests/test_hub.py``). Each round starts from new kernels.

Printed per N: the wall time of the whole class's lesson and its ratio to one learner alone
(measured side by side in this run), the slowest learner, how many learners' outputs matched,
and where the CPU went during the round: the learners' processes (kernels and servers), the
PostgreSQL server, and everything else on the machine (other jobs), in cores. When the
machine's cores are all busy, the figure is CPU-bound, and the share that went to other jobs
says how much of it was ours. Memory is the servers' and kernels' resident size.

Needs root (it creates and removes a Unix user), npm and a reachable PostgreSQL. Everything it
starts is stopped by PID; the user, databases and folders are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import pwd
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import hub  # noqa: E402
from backends import SERVERS, create_database, drop_database  # noqa: E402

from ormkit import cli  # noqa: E402
from ormkit.notebooks import execute  # noqa: E402
from ormkit.provision import spawner_snippet  # noqa: E402

LESSON = ROOT / "notebooks" / "02_inserts.ipynb"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds_of(uid: int) -> float:
    """CPU time of every process of ``uid``, with their reaped children's (``cutime``)."""
    total = 0
    for pid in hub.processes_of(uid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / TICKS


def rss_mb_of(uid: int) -> float:
    total = 0
    for pid in hub.processes_of(uid):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except OSError:
            continue
    return total * PAGE / 2**20


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


async def round_of(running: hub.Hub, users: list[str], reference: dict, owner: int, pg: int):
    async with AsyncExitStack() as stack:
        started = time.perf_counter()
        kernels = [
            await stack.enter_async_context(hub.Kernel(running, user, "ormkit-lessons"))
            for user in users
        ]
        kernels_up = time.perf_counter() - started
        stored = json.loads(LESSON.read_text())
        cpu0 = cpu_seconds_of(owner), cpu_seconds_of(pg), machine_busy_seconds()
        t0 = time.perf_counter()

        async def one(kernel: hub.Kernel) -> tuple[float, list[hub.Mismatch]]:
            begun = time.perf_counter()
            mismatches = await hub.run_notebook(kernel, stored, expected=reference)
            return time.perf_counter() - begun, mismatches

        results = await asyncio.gather(*(one(kernel) for kernel in kernels))
        wall = time.perf_counter() - t0
        cpu1 = cpu_seconds_of(owner), cpu_seconds_of(pg), machine_busy_seconds()
        memory = rss_mb_of(owner)
    ours, server, busy = (b - a for a, b in zip(cpu0, cpu1, strict=True))
    return {
        "n": len(users),
        "kernels_up": kernels_up,
        "wall": wall,
        "slowest": max(seconds for seconds, _ in results),
        "median": statistics.median(seconds for seconds, _ in results),
        "matched": sum(not bad for _, bad in results),
        "first_mismatches": [str(bad[0]) for _, bad in results if bad],
        "learner_cores": ours / wall,
        "pg_cores": server / wall,
        "other_cores": max(busy - ours - server, 0.0) / wall,
        "rss_mb": memory,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", default="1,4,8", help="class sizes, comma-separated")
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.learners.split(",")})
    if os.geteuid() != 0:
        print("bench_class.py needs root (it creates a Unix user for the hub)", file=sys.stderr)
        return 2
    env = hub.prepare()
    postgres = SERVERS["postgresql"]
    pg_uid = pwd.getpwnam("postgres").pw_uid  # the local server's backends (for its CPU time)
    workspace = Path(tempfile.mkdtemp(prefix="ormkit-class-"))
    workspace.chmod(0o755)
    owner = None
    reference_db = create_database(postgres)
    admin = postgres.admin_url.render_as_string(hide_password=False)
    prefix = f"okb{secrets.token_hex(3)}_"
    names = [f"learner{i:03d}" for i in range(max(sizes))]
    roster, out = workspace / "roster.csv", workspace / "class.json"
    roster.write_text("user\n" + "\n".join(names) + "\n")
    running = None
    try:
        owner = hub.add_unix_user(f"okb{secrets.token_hex(3)}", workspace / "hubhome")
        shared = workspace / "shared-home"
        shared.mkdir()
        os.chown(shared, owner.uid, owner.gid)
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["provision", str(roster), "--admin", admin, "--out", str(out),
                             "--prefix", prefix]) == 0  # fmt: skip
        os.chown(out, owner.uid, owner.gid)
        copy = workspace / LESSON.name
        shutil.copy(LESSON, copy)
        alone = execute(copy, database_url=reference_db.render_as_string(hide_password=False),
                        write=True)  # fmt: skip
        assert alone.ok, alone.error
        reference = json.loads(copy.read_text())
        running = hub.Hub(
            env, "simple", workspace / "hub", run_as=owner, shared_home=shared,
            recipe=spawner_snippet(out),
            lessons_dir='"$HOME/ormkit-lessons/$JUPYTERHUB_USER"',
        )  # fmt: skip
        running.start()
        started = time.perf_counter()
        for name in names:  # the hub spawns them side by side
            running.request_server(name)
        for name in names:
            running.wait_ready(name, timeout=600)
        spawn = time.perf_counter() - started
        print(f"{len(names)} learners' servers started through the hub in {spawn:.1f}s "
              f"({os.cpu_count()} cores; load average before the rounds: "
              f"{os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
        header = (
            f"{'N':>3} {'kernels up':>10} {'lesson wall':>11} {'x alone':>7} {'slowest':>7} "
            f"{'matched':>7} {'cores: learners':>15} {'postgres':>8} {'others':>6} {'RSS MB':>7}"
        )
        print(header)
        alone_wall = None
        for n in sizes:
            row = asyncio.run(round_of(running, names[:n], reference, owner.uid, pg_uid))
            alone_wall = alone_wall or row["wall"]
            print(
                f"{n:>3} {row['kernels_up']:>9.1f}s {row['wall']:>10.1f}s "
                f"{row['wall'] / alone_wall:>6.1f}x {row['slowest']:>6.1f}s "
                f"{row['matched']:>3}/{n:<3} {row['learner_cores']:>15.2f} "
                f"{row['pg_cores']:>8.2f} {row['other_cores']:>6.2f} {row['rss_mb']:>7.0f}",
                flush=True,
            )
            for text in sorted(set(row["first_mismatches"]))[:3]:
                print(f"      first difference: {text}"[:2000], flush=True)
        return 0
    finally:
        if running is not None:
            for name in names:
                running.stop_server(name)
            left = running.stop()
            if left:
                print(f"stopped {len(left)} process(es) that outlived the hub", file=sys.stderr)
        if out.exists():
            with contextlib.redirect_stdout(io.StringIO()):
                cli.main(["provision", str(roster), "--admin", admin, "--out", str(out),
                          "--prefix", prefix, "--remove"])  # fmt: skip
        drop_database(postgres, reference_db)
        if owner is not None:
            hub.stop_pids(hub.processes_of(owner.uid))
            hub.remove_unix_user(owner)
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
