"""Run every cell twice in a row, then Restart & Run All: the outputs stay the same.

Strict nbval checks one top-to-bottom run against the stored outputs. This checks what a learner
does next:

- **each code cell run again at once** (Shift+Enter twice): a cell that needs state an earlier
  cell had (a table it dropped, a name it deleted, a file it removed) raises the second time,
  and a cell whose output depends on how often it ran (ids climbing, a row already deleted)
  drifts. Only the cells in :data:`DRIFT_IS_THE_LESSON`, whose markdown says why, may differ;
- **the whole notebook again**, in a fresh kernel on the database the first run left behind (an
  index that outlived ``reset()``, a row added twice, a counter that kept counting).

Each lesson and each solution notebook in ``notebooks/`` is covered, including ones added later;
both runs of a notebook share one private data folder, and notebooks run a few at a time. Text
goes through ``notebooks/sanitize.cfg`` as under nbval; cells tagged ``nbval-ignore-output``
(timings, plots, progress bars) are executed twice but not compared.
"""

from __future__ import annotations

import asyncio
import configparser
import copy
import os
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ormkit.notebooks import (
    CELL_TIMEOUT,
    KERNEL,
    NOTEBOOK_DIR,
    coalesce_streams,
    discover,
    start_kernel,
)

IGNORE_TAG = "nbval-ignore-output"
# Kernels wait on the database and on ZMQ much of the time; a little more than one per core keeps
# both cores busy without starving the rest of the test run.
CONCURRENT_KERNELS = max(2, (os.cpu_count() or 2))
# Keys of an output that legitimately differ between runs and that nbval does not compare either.
VOLATILE_KEYS = {"execution_count", "metadata", "transient"}

NOTEBOOKS = discover(solutions=True)

# (notebook, cell id) -> why its second run may print something else. Each of these cells' markdown
# tells the learner so; keep the list short: a cell that can set up its own state should.
DRIFT_IS_THE_LESSON: dict[tuple[str, str], str] = {}


def _sanitizers() -> list[tuple[re.Pattern[str], str]]:
    parser = configparser.ConfigParser()
    parser.read(NOTEBOOK_DIR / "sanitize.cfg")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


SANITIZERS = _sanitizers()


def _sanitize(value: Any) -> Any:
    if isinstance(value, str):
        for regex, replace in SANITIZERS:
            value = regex.sub(replace, value)
        return value
    if isinstance(value, list):
        return [_sanitize(v) for v in value]
    if isinstance(value, dict):
        return {k: _sanitize(v) for k, v in value.items()}
    return value


def _comparable(outputs: list[Any]) -> list[dict[str, Any]]:
    """Outputs without volatile keys, consecutive stream chunks merged, text sanitized.

    How the kernel splits printed text into stream messages depends on timing ("BEGIN" and the
    rest of a line can arrive apart); nbval merges them too before comparing.
    """
    trimmed = [{k: v for k, v in out.items() if k not in VOLATILE_KEYS} for out in outputs]
    merged = coalesce_streams(copy.deepcopy(trimmed))
    for out in merged:
        if isinstance(out.get("text"), list):
            out["text"] = "".join(out["text"])
    return [_sanitize(out) for out in merged]


def _client(nb: Any, path: Path) -> NotebookClient:
    return NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(path.parent)}},
    )


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ORMKIT_DATABASE_URL"}
    env["ORMKIT_DATA_DIR"] = str(data_dir)
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _plain(exc: BaseException) -> str:
    """The end of a cell's traceback, without the terminal colours IPython puts in it."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc))[-600:]


def _describe(path: Path, index: int, cell: Any) -> str:
    first = cell.source.splitlines()[0] if cell.source else ""
    return f"{path.name} cell {index} (id {cell.get('id')}, {first!r})"


async def _each_cell_twice(path: Path, data_dir: Path, problems: list[str]) -> Any:
    """One top-to-bottom run, each code cell executed twice in a row; the first outputs kept."""
    nb = nbformat.read(path, as_version=4)
    client = _client(nb, path)
    await start_kernel(client, env=_environment(data_dir))
    async with client.async_setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                await client.async_execute_cell(cell, index)
            except CellExecutionError as exc:
                problems.append(f"{_describe(path, index, cell)} raised:\n  {_plain(exc)}")
                return nb
            again = copy.deepcopy(cell)
            try:
                await client.async_execute_cell(again, index)
            except CellExecutionError as exc:
                problems.append(
                    f"{_describe(path, index, cell)} raised when run a second time:\n"
                    f"  {_plain(exc)}"
                )
                continue
            exempt = (path.name, cell.get("id")) in DRIFT_IS_THE_LESSON
            if IGNORE_TAG in cell.metadata.get("tags", []) or exempt:
                continue
            first, second = _comparable(cell.outputs), _comparable(again.outputs)
            if first != second:
                problems.append(
                    f"{_describe(path, index, cell)} printed something else when run a second "
                    f"time:\n  first:  {first!r:.500}\n  second: {second!r:.500}"
                )
    return nb


async def _restart_and_run_all(path: Path, data_dir: Path) -> Any:
    nb = nbformat.read(path, as_version=4)
    client = _client(nb, path)
    await start_kernel(client, env=_environment(data_dir))
    await client.async_execute()
    return nb


async def _check(path: Path, tmp: Path, limit: asyncio.Semaphore) -> list[str]:
    folder = "solutions-" if path.parent.name == "solutions" else ""
    data_dir = tmp / f"{folder}{path.stem}"
    data_dir.mkdir()
    problems: list[str] = []
    async with limit:
        first = await _each_cell_twice(path, data_dir, problems)
    if problems:
        return problems
    async with limit:
        second = await _restart_and_run_all(path, data_dir)
    for index, (a, b) in enumerate(zip(first.cells, second.cells, strict=True)):
        if a.cell_type != "code" or IGNORE_TAG in a.metadata.get("tags", []):
            continue
        if _comparable(a.outputs) != _comparable(b.outputs):
            problems.append(
                f"{_describe(path, index, a)} differs between the run with every cell run "
                "twice and a Restart & Run All after it (an earlier cell leaves other state "
                "behind when run twice, or state outlived reset()):\n"
                f"  first run:  {_comparable(a.outputs)!r:.400}\n"
                f"  second run: {_comparable(b.outputs)!r:.400}"
            )
    return problems


def test_the_drift_exemptions_name_cells_that_exist_and_say_why() -> None:
    cells = {}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            cells[(path.name, cell.get("id"))] = (nb, index)
    for key, why in DRIFT_IS_THE_LESSON.items():
        assert key in cells, f"exempted cell {key} no longer exists"
        nb, index = cells[key]
        assert nb.cells[index].cell_type == "code", key
        markdown = nb.cells[index - 1]
        assert markdown.cell_type == "markdown" and "run it again" in markdown.source.lower(), (
            f"{key} ({why}): the markdown above it must tell the learner what a second run shows"
        )


@pytest.mark.slow
def test_every_cell_gives_the_same_output_twice_and_every_notebook_on_a_rerun(
    tmp_path: Path,
) -> None:
    assert len(NOTEBOOKS) > 20, "lesson notebooks missing"

    async def all_notebooks() -> list[list[str] | BaseException]:
        limit = asyncio.Semaphore(CONCURRENT_KERNELS)
        jobs = [_check(path, tmp_path, limit) for path in NOTEBOOKS]
        return await asyncio.gather(*jobs, return_exceptions=True)

    started = time.perf_counter()
    # A plain (sync) test that owns its event loop: nbclient's kernels need their own loop.
    outcomes = asyncio.run(all_notebooks())
    elapsed = time.perf_counter() - started
    problems: list[str] = []
    for path, outcome in zip(NOTEBOOKS, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            problems.append(f"{path.name}: {type(outcome).__name__}: {str(outcome)[-800:]}")
        else:
            problems.extend(outcome)
    assert not problems, "\n\n".join(problems)
    print(f"{len(NOTEBOOKS)} notebooks, each cell twice and each notebook again, in {elapsed:.0f}s")
