"""Show the SQL the ORM emits, deterministically: ``with show_sql(): await add_user(...)``.

``create_async_engine(..., echo=True)`` logs through ``logging`` with timestamps and timings
("[cached since 0.002s ago]"), so its output changes on every run. ``show_sql`` listens to the
engine's events instead and prints only the statement, its parameters and the transaction
boundaries, so a notebook's stored output compares verbatim.

``await query_plan(stmt)`` asks the database how it would run a statement (``EXPLAIN``), in the
dialect's own words, one line per step.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement, Executable

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

    @property
    def inserts(self) -> int:
        """How many of them were ``INSERT``s (what a batch sent row by row multiplies).

        A PostgreSQL ``COPY ... FROM STDIN`` (``add_many_users``' bulk load) counts as one.
        """
        return sum(1 for s in self.statements if _is_insert(s.lstrip().upper()))


def _is_insert(statement: str) -> bool:
    return statement.startswith("INSERT") or (
        statement.startswith("COPY ") and " FROM STDIN" in statement
    )


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
        ...     user = await get_user(1)
        BEGIN (implicit)
        SELECT users.id, users.name, users.age
        FROM users
        WHERE users.id = ?
        -- params: (1,)
        ROLLBACK
    """
    target = db._engine(engine).sync_engine
    log = SQLLog()

    def out(line: str) -> None:
        if echo:
            print(line, file=file if file is not None else sys.stdout)

    def before_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        log.statements.append(statement)
        log.parameters.append(parameters)
        out(_tidy(statement))
        if params and parameters:
            out(f"-- params: {format_params(parameters, executemany)}")

    def on_begin(conn: Any) -> None:
        out("BEGIN (implicit)")

    def on_commit(conn: Any) -> None:
        out("COMMIT")

    def on_rollback(conn: Any) -> None:
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


async def query_plan(
    stmt: Executable, engine: AsyncEngine | AsyncConnection | None = None
) -> list[str]:
    """Return the database's plan for ``stmt`` without running it: one line per step.

    SQLite answers ``EXPLAIN QUERY PLAN`` (``SCAN users`` reads the whole table,
    ``SEARCH users USING INDEX ...`` looks rows up); PostgreSQL ``EXPLAIN (COSTS OFF)``
    (``Seq Scan on users`` / ``Index Scan using ...``); MySQL and MariaDB ``EXPLAIN``, shown as
    ``table: type=..., key=..., extra``. The words differ; what a plan says depends on the
    schema and, on a server, on the table's statistics: a planner may still scan a tiny table
    that has an index, because reading it all is cheaper.

    Example:
        >>> await query_plan(select(User).where(User.age == 42))  # on SQLite
        ['SCAN users']
    """
    if isinstance(engine, AsyncConnection):
        return await _explain(engine, stmt)
    async with db._engine(engine).connect() as conn:
        return await _explain(conn, stmt)


async def _explain(conn: AsyncConnection, stmt: Executable) -> list[str]:
    dialect = conn.dialect
    # Render IN (...) lists as plain parameters, so the SQL and its parameters match one to one.
    if not isinstance(stmt, ClauseElement):
        raise TypeError(f"query_plan needs a SQL statement, not {type(stmt).__name__}")
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    positions: list[str] = getattr(compiled, "positiontup", None) or []  # positional dialects
    params = tuple(compiled.params[key] for key in positions)
    if dialect.name == "sqlite":
        result = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
        return [row.detail for row in result]
    if dialect.name == "postgresql":
        result = await conn.exec_driver_sql(f"EXPLAIN (COSTS OFF) {compiled}", params)
        return [row[0] for row in result]
    result = await conn.exec_driver_sql(f"EXPLAIN {compiled}", params)
    return [
        f"{row['table']}: type={row['type']}, key={row['key']}"
        + (f", {row['Extra']}" if row["Extra"] else "")
        for row in result.mappings()
    ]
