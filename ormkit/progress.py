"""Progress bars for long loads, and loading a big batch in chunks inside one transaction.

``progress()`` wraps an iterable in tqdm's notebook widget when ``ipywidgets`` is installed, in
its text bar otherwise, and returns the iterable unchanged when tqdm is missing: a bar is a
nicety, never a requirement. A bar's output changes on every run, so a lesson shows it only in a
cell tagged ``nbval-ignore-output``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from . import db
from .crud import add_many_users
from .validation import check_user_rows

T = TypeVar("T")

DEFAULT_CHUNK_SIZE = 10_000


def _in_jupyter_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (where a widget can show; elsewhere it prints)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in shell.config


def _tqdm() -> Callable[..., Iterable[Any]] | None:
    if importlib.util.find_spec("tqdm") is None:
        return None
    if importlib.util.find_spec("ipywidgets") is not None and _in_jupyter_kernel():
        from tqdm.notebook import tqdm as widget  # a widget in Jupyter; tqdm.auto would pick it too

        return widget
    # Outside a kernel the widget would print its text form to stdout; tqdm.auto would warn
    # "IProgress not found" in Jupyter without ipywidgets: use the text bar (on stderr).
    from tqdm.std import tqdm as text

    return text


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str | None = None, unit: str = "it"
) -> Iterable[T]:
    """Iterate over ``iterable`` showing a progress bar (if tqdm is installed).

    Example:
        >>> rows = [(f"user {i}", i % 100) for i in range(25_000)]
        >>> added = 0
        >>> async with async_session.begin() as session:
        ...     for chunk in progress(chunked(rows, 10_000), desc="loading"):
        ...         added += await add_many_users(chunk, session=session)
        >>> added
        25000
    """
    tqdm = _tqdm()
    if tqdm is None:
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit=unit)


def chunked(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Yield consecutive slices of ``rows`` of at most ``size`` items."""
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size!r}")
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def load_users(
    users: Sequence[tuple[str, int]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    desc: str = "users",
    session: AsyncSession | None = None,
) -> int:
    """Insert ``(name, age)`` pairs like ``add_many_users``, with a progress bar per chunk.

    The chunks share one transaction, so the load is still all or nothing: a bad row in the last
    chunk rolls back the first ones too. Returns how many users were added.

    Example:
        >>> await load_users([(f"user {i}", i % 100) for i in range(100_000)])
        100000
    """
    users = check_user_rows(users)  # the whole batch, before the first chunk is written
    total = 0
    chunks = progress(
        chunked(users, chunk_size), total=-(-len(users) // chunk_size), desc=desc, unit="chunk"
    )
    if session is not None:
        for chunk in chunks:
            total += await add_many_users(chunk, session=session)
        return total
    async with db.async_session.begin() as own:
        for chunk in chunks:
            total += await add_many_users(chunk, session=own)
    return total


class CommandBar:
    """A progress bar on stderr for a command-line loop (``ormkit check``), lines on stdout.

    The bar is drawn only on a terminal (``disable=None``), so redirected output holds just the
    result lines.
    """

    def __init__(self, total: int, *, unit: str = "it") -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = tqdm(total=total, unit=unit, file=sys.stderr, disable=None, leave=False)

    def describe(self, label: str) -> None:
        self.bar.set_description_str(label[:40])

    def write(self, line: str) -> None:
        self._tqdm.write(line, file=sys.stdout)

    def update(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
