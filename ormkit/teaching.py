"""Small helpers the lessons use: show an expected error, print the versions in use.

``expect_error`` is how a lesson demonstrates a failure: the cell prints the exception's type and
message, and the cell *fails* if the exception does not happen, so a stored output can never
show an error that the current library no longer raises.
"""

from __future__ import annotations

import gc
import platform
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Caught:
    """The exception an :func:`expect_error` block caught (``exc``), once the block has ended."""

    exc: BaseException | None = None


def error_text(exc: BaseException, *, background: bool = False) -> str:
    """``"TypeName: message"``; SQLAlchemy's "Background on this error" link dropped by default."""
    message = str(exc)
    if not background:
        message = message.split("\n(Background on this error at:")[0]
        message = message.split(" (Background on this error at:")[0]
    return f"{type(exc).__name__}: {message.strip()}"


@contextmanager
def expect_error(
    *types: type[BaseException],
    match: str | None = None,
    show: bool = True,
    lines: int | None = None,
) -> Iterator[Caught]:
    """Assert that the block raises one of ``types``; print its type and message.

    ``lines=1`` prints only the message's first line (for messages whose later lines hold
    something that changes between runs, such as an address in SQLAlchemy's ``[parameters: ...]``).

    Raises ``AssertionError`` if the block finishes without raising, or if ``match`` is given and
    is not part of the message. Any other exception propagates unchanged.

    Example:
        >>> with expect_error(ValueError, match="age"):
        ...     await add_user("Bob", -5)
        ValidationError: age must be between 0 and 150, got -5
    """
    expected = types or (Exception,)
    caught = Caught()
    names = " or ".join(t.__name__ for t in expected)
    try:
        yield caught
    except expected as exc:
        caught.exc = exc
        if match is not None and match not in str(exc):
            raise AssertionError(
                f"expected {names} mentioning {match!r}, got {error_text(exc)}"
            ) from exc
        if show:
            text = error_text(exc)
            print(text if lines is None else "\n".join(text.splitlines()[:lines]))
        return
    raise AssertionError(f"expected {names}, but the block ran without raising it")


@contextmanager
def never_awaited() -> Iterator[list[str]]:
    """Collect the "coroutine ... was never awaited" warnings of the block, now, into a list.

    Python warns about a coroutine that was never awaited when it is garbage-collected, which can
    be cells later. This runs the collector as the block ends and records those warnings (others
    are re-issued), so a lesson shows them where they were caused.

    Example:
        >>> with never_awaited() as leftovers:
        ...     n = count_users()  # forgot await
        ...     del n
        >>> leftovers
        ["coroutine 'count_users' was never awaited"]
    """
    found: list[str] = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            yield found
        finally:
            gc.collect()
    for w in seen:
        if issubclass(w.category, RuntimeWarning) and "was never awaited" in str(w.message):
            found.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def versions() -> str:
    """One line with the versions a lesson's outputs depend on (SQLite's wording of query plans
    and its RETURNING support depend on the SQLite library, not on Python)."""
    import sqlite3

    import pandas
    import sqlalchemy

    from . import __version__

    return (
        f"Python {platform.python_version()} · SQLAlchemy {sqlalchemy.__version__} · "
        f"pandas {pandas.__version__} · SQLite {sqlite3.sqlite_version} · ormkit {__version__}"
    )
