"""Restart & Run All, twice: every lesson gives the same outputs the second time.

Strict nbval checks the first run against the stored outputs. This checks what a learner does
next: run the notebook again, on the database the first run left behind (an index that outlived
``reset()``, a row added twice, a counter that kept counting would all show up here). Each run
uses a fresh kernel, as Restart & Run All does; both runs of a notebook share one private data
folder, and the notebooks run a few at a time. Cells tagged ``nbval-ignore-output`` (timings,
plots, progress bars) are executed but not compared.
"""

from __future__ import annotations

import asyncio
import copy
import os
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from ormkit.notebooks import CELL_TIMEOUT, KERNEL, coalesce_streams, discover

IGNORE_TAG = "nbval-ignore-output"
# Kernels wait on the database and on ZMQ much of the time; a little more than one per core keeps
# both cores busy without starving the rest of the test run.
CONCURRENT_KERNELS = max(2, (os.cpu_count() or 2))
# Keys of an output that legitimately differ between runs and that nbval does not compare either.
VOLATILE_KEYS = {"execution_count", "metadata", "transient"}

LESSONS = discover(solutions=False)


def _comparable(cell: Any) -> list[dict[str, Any]]:
    """A cell's outputs without volatile keys, consecutive stream chunks merged.

    How the kernel splits printed text into stream messages depends on timing ("BEGIN" and the
    rest of a line can arrive apart); nbval merges them too before comparing.
    """
    trimmed = [{k: v for k, v in out.items() if k not in VOLATILE_KEYS} for out in cell.outputs]
    return coalesce_streams(trimmed)


async def _run(nb: Any, path: Path, data_dir: Path, limit: asyncio.Semaphore) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "ORMKIT_DATABASE_URL"}
    env["ORMKIT_DATA_DIR"] = str(data_dir)
    env.pop("PYTEST_CURRENT_TEST", None)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(path.parent)}},
    )
    async with limit:
        await client.async_execute(env=env)  # a fresh kernel: Restart & Run All
    return nb


async def _run_twice(path: Path, tmp: Path, limit: asyncio.Semaphore) -> list[str]:
    original = nbformat.read(path, as_version=4)
    data_dir = tmp / path.stem
    data_dir.mkdir()
    first = await _run(copy.deepcopy(original), path, data_dir, limit)
    second = await _run(copy.deepcopy(original), path, data_dir, limit)
    differences = []
    for index, (a, b) in enumerate(zip(first.cells, second.cells, strict=True)):
        if a.cell_type != "code" or IGNORE_TAG in a.metadata.get("tags", []):
            continue
        if _comparable(a) != _comparable(b):
            source = a.source.splitlines()[0] if a.source else ""
            differences.append(
                f"{path.name} cell {index} ({source!r}):\n"
                f"  first run:  {_comparable(a)!r:.400}\n"
                f"  second run: {_comparable(b)!r:.400}"
            )
    return differences


@pytest.mark.slow
def test_every_lesson_gives_the_same_outputs_when_run_twice(tmp_path: Path) -> None:
    assert LESSONS, "no lesson notebooks found"

    async def all_lessons() -> list[list[str] | BaseException]:
        limit = asyncio.Semaphore(CONCURRENT_KERNELS)
        jobs = [_run_twice(path, tmp_path, limit) for path in LESSONS]
        return await asyncio.gather(*jobs, return_exceptions=True)

    started = time.perf_counter()
    # A plain (sync) test that owns its event loop: nbclient's kernels need their own loop.
    outcomes = asyncio.run(all_lessons())
    elapsed = time.perf_counter() - started
    problems: list[str] = []
    for path, outcome in zip(LESSONS, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            problems.append(f"{path.name}: {type(outcome).__name__}: {str(outcome)[-800:]}")
        else:
            problems.extend(outcome)
    assert not problems, "\n\n".join(problems)
    print(f"{len(LESSONS)} lessons, run twice each, in {elapsed:.0f}s")
