"""Progress bars for long loads, and loading a big batch in chunks inside one transaction.

``progress()`` wraps an iterable in tqdm's notebook widget when ``ipywidgets`` is installed, in
its text bar otherwise, and returns the iterable unchanged when tqdm is missing: a bar is a
nicety, never a requirement. A bar's output changes on every run, so a lesson shows it only in a
cell tagged ``nbval-ignore-output``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from . import db
from .crud import add_many_users
from .validation import check_user_rows

T = TypeVar("T")

DEFAULT_CHUNK_SIZE = 10_000


def _tqdm() -> Any | None:
    if importlib.util.find_spec("tqdm") is None:
        return None
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm  # a widget in Jupyter; tqdm.auto would pick it too

        return tqdm
    # tqdm.auto would warn "IProgress not found" in Jupyter without ipywidgets: use the text bar.
    from tqdm.std import tqdm

    return tqdm


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str | None = None, unit: str = "it"
) -> Iterable[T]:
    """Iterate over ``iterable`` showing a progress bar (if tqdm is installed).

    Example:
        >>> for chunk in progress(chunked(rows, 10_000), desc="loading"):
        ...     await add_many_users(chunk, session=session)
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
