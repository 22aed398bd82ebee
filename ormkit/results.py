"""The cheat sheet's result-method table, made live: what each method returns or raises.

``await result_methods(select(User))`` runs the statement with 0, 1 and many matching rows and
calls every method on a fresh result each time. Exceptions are SQLAlchemy's own, caught and shown
by type and message, so the table is the library's real behaviour, not a summary of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import false
from sqlalchemy.engine import Result, Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from . import db

if TYPE_CHECKING:  # pandas is imported on first use: `import ormkit` stays quick
    import pandas as pd

METHODS: dict[str, Callable[[Result[Any]], Any]] = {
    "all()": lambda r: r.all(),
    "first()": lambda r: r.first(),
    "one()": lambda r: r.one(),
    "one_or_none()": lambda r: r.one_or_none(),
    "scalar()": lambda r: r.scalar(),
    "scalar_one()": lambda r: r.scalar_one(),
    "scalar_one_or_none()": lambda r: r.scalar_one_or_none(),
    "scalars().all()": lambda r: r.scalars().all(),
    "scalars().first()": lambda r: r.scalars().first(),
    "mappings().all()": lambda r: r.mappings().all(),
    "unique().all()": lambda r: r.unique().all(),
}


def describe_value(value: Any, limit: int = 3) -> str:
    """A short, deterministic description of a result value (no memory addresses)."""
    if isinstance(value, RowMapping):
        return "{" + ", ".join(f"{k!r}: {describe_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Row):
        inner = ", ".join(describe_value(v) for v in value)
        return f"Row({inner})"
    if isinstance(value, (list, tuple, Sequence)) and not isinstance(value, (str, bytes)):
        items = list(value)
        shown = ", ".join(describe_value(v) for v in items[:limit])
        more = f", ... {len(items) - limit} more" if len(items) > limit else ""
        return f"list of {len(items)}: [{shown}{more}]" if items else "[] (empty list)"
    return repr(value)


def describe_error(exc: BaseException) -> str:
    """``"raises TypeName: first line of the message"`` without SQLAlchemy's doc link."""
    message = str(exc).split("\n")[0]
    message = message.split(" (Background on this error")[0].strip()
    return f"raises {type(exc).__name__}: {message}"


def outcome(fn: Callable[[Result[Any]], Any], result: Result[Any]) -> str:
    """Call ``fn(result)`` and describe what it returned, or what it raised."""
    try:
        return describe_value(fn(result))
    except Exception as exc:  # the exception *is* the answer we report
        return describe_error(exc)


def _variants(stmt: Select[Any]) -> dict[str, Select[Any]]:
    return {"0 rows": stmt.where(false()), "1 row": stmt.limit(1), "many rows": stmt}


async def result_methods(
    stmt: Select[Any],
    *,
    session: AsyncSession | None = None,
    methods: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return a DataFrame: one row per result method, one column per case (0, 1, many rows).

    The "many rows" case is ``stmt`` itself, so give a statement that matches two or more rows;
    "0 rows" adds ``WHERE false``, "1 row" adds ``LIMIT 1``.

    Example:
        >>> table = await result_methods(select(User).order_by(User.id))
        >>> table.loc["scalar_one()", "many rows"]
        'raises MultipleResultsFound: Multiple rows were found when exactly one was required'
    """
    chosen = list(methods) if methods is not None else list(METHODS)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown result method(s) {unknown}; choose from {list(METHODS)}")
    table: dict[str, list[str]] = {}
    own = session is None
    s = db.async_session() if session is None else session
    try:
        for case, variant in _variants(stmt).items():
            column = []
            for name in chosen:
                result = await s.execute(variant)
                column.append(outcome(METHODS[name], result))
            table[case] = column
    finally:
        if own:
            await s.close()
    import pandas as pd

    return pd.DataFrame(table, index=pd.Index(chosen, name="method"))
