"""Show the SQL the ORM emits, deterministically: ``with show_sql(): await add_user(...)``.

``create_async_engine(..., echo=True)`` logs through ``logging`` with timestamps and timings
("[cached since 0.002s ago]"), so its output changes on every run. ``show_sql`` listens to the
engine's events instead and prints only the statement, its parameters and the transaction
boundaries, so a notebook's stored output compares verbatim.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from . import db

_MANY_SHOWN = 3


@dataclass
class SQLLog:
    """What :func:`show_sql` saw: ``statements`` (SQL text in order) and their ``parameters``."""

    statements: list[str] = field(default_factory=list)
    parameters: list[Any] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many statements ran (``BEGIN`` / ``COMMIT`` not counted)."""
        return len(self.statements)

    @property
    def selects(self) -> int:
        """How many of them were ``SELECT``s (what an N+1 problem multiplies)."""
        return sum(1 for s in self.statements if s.lstrip().upper().startswith("SELECT"))


def format_params(parameters: Any, executemany: bool) -> str:
    """Render parameters as Python literals; an executemany shows its size and first rows."""
    # An "insertmanyvalues" batch is flagged executemany but carries one flat parameter tuple.
    flat = isinstance(parameters, (list, tuple)) and not any(
        isinstance(p, (list, tuple, dict)) for p in parameters
    )
    if executemany and not flat:
        rows = list(parameters)
        shown = ", ".join(repr(_plain(p)) for p in rows[:_MANY_SHOWN])
        more = f", ... {len(rows) - _MANY_SHOWN} more" if len(rows) > _MANY_SHOWN else ""
        return f"[{len(rows)} rows: {shown}{more}]"
    return repr(_plain(parameters))


def _plain(parameters: Any) -> Any:
    if isinstance(parameters, list):
        return tuple(parameters)
    return parameters


def _tidy(statement: str) -> str:
    # Drop trailing whitespace per line and blank lines, which vary between dialects' DDL.
    lines = [line.rstrip() for line in statement.strip().splitlines()]
    return "\n".join(line for line in lines if line)


@contextmanager
def show_sql(
    engine: AsyncEngine | None = None,
    *,
    echo: bool = True,
    params: bool = True,
    transactions: bool = True,
    file: TextIO | None = None,
) -> Iterator[SQLLog]:
    """Print every statement ``engine`` runs inside the block; yield an :class:`SQLLog`.

    ``echo=False`` only records (count statements without printing them); ``params=False``
    hides parameters; ``transactions=False`` hides ``BEGIN`` / ``COMMIT`` / ``ROLLBACK``.

    Example:
        >>> with show_sql():
        ...     await get_user(1)
        BEGIN (implicit)
        SELECT users.id, users.name, users.age FROM users WHERE users.id = ?
        -- params: (1,)
        ROLLBACK
    """
    target = (engine if engine is not None else db.engine).sync_engine
    log = SQLLog()

    def out(line: str) -> None:
        if echo:
            print(line, file=file if file is not None else sys.stdout)

    def before_execute(conn, cursor, statement, parameters, context, executemany):
        log.statements.append(statement)
        log.parameters.append(parameters)
        out(_tidy(statement))
        if params and parameters:
            out(f"-- params: {format_params(parameters, executemany)}")

    def on_begin(conn):
        out("BEGIN (implicit)")

    def on_commit(conn):
        out("COMMIT")

    def on_rollback(conn):
        out("ROLLBACK")

    listeners: list[tuple[str, Any]] = [("before_cursor_execute", before_execute)]
    if transactions:
        listeners += [
            ("begin", on_begin),
            ("commit", on_commit),
            ("rollback", on_rollback),
        ]
    for name, fn in listeners:
        event.listen(target, name, fn)
    try:
        yield log
    finally:
        for name, fn in listeners:
            event.remove(target, name, fn)
