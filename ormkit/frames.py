"""Results to pandas DataFrames: ``await read_frame(stmt)`` and ``to_frame(result_or_rows)``.

pandas cannot read from an ``AsyncConnection`` (``pd.read_sql(stmt, async_engine)`` fails), and
``pd.DataFrame(result.all())`` is several times slower than it needs to be because every ``Row``
is unpacked one by one. ``read_frame`` executes the statement through SQLAlchemy (so bound
parameters, dialects and the caller's transaction all work) and, when no column needs SQLAlchemy's
result processing, hands the driver's plain tuples to pandas directly.

Dtypes: integer columns stay ``int64``; an integer column with NULLs becomes pandas' nullable
``Int64`` (NULL -> ``<NA>``) instead of silently turning into floats; text columns get pandas'
string dtype (NULL -> ``NaN``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, String, inspect, text
from sqlalchemy.engine import CursorResult, Result, Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from . import db, fast

if TYPE_CHECKING:  # pandas is imported on first use: `import ormkit` stays quick
    import pandas as pd


class NotAQueryError(ValueError):
    """``read_frame`` was given something other than one row-returning statement."""


# A query's first word; anything else (INSERT, DROP, CREATE, SET, BEGIN...) is refused.
_QUERY_STARTS = {"select", "with", "values", "table", "explain", "show", "describe", "desc"}
# Words that make a query write: a data-modifying CTE (WITH d AS (DELETE ...)), SELECT ... INTO
# a new table, EXPLAIN ANALYZE of an UPDATE. ("FOR UPDATE" only locks rows: allowed.)
_WRITING_WORDS = {
    "insert", "update", "delete", "merge", "upsert", "drop", "create", "alter", "truncate",
    "into", "grant", "revoke", "rename", "attach", "detach", "vacuum", "reindex", "copy", "call",
}  # fmt: skip
# Comments, string literals and quoted names (their contents are not SQL words), then words and
# semicolons. Dollar quotes are PostgreSQL's, backticks MySQL's. A backslash escapes a quote in
# MySQL's strings but not in PostgreSQL's or SQLite's: the text must pass read both ways.
_SQL_TOKENS = [
    re.compile(
        r"(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))"
        rf"|(?P<quoted>'(?:{string})*(?:'|\Z)|\"(?:[^\"]|\"\")*(?:\"|\Z)|`(?:[^`]|``)*(?:`|\Z)"
        r"|\$(?P<tag>\w*)\$.*?(?:\$(?P=tag)\$|\Z))"
        r"|(?P<word>[A-Za-z_][A-Za-z_0-9$]*)|(?P<semicolon>;)|(?P<other>\S)",
        re.S,
    )
    for string in (r"[^'\\]|''|\\.", r"[^']|''")
]


def check_query(stmt: Any) -> Any:
    """Return ``stmt`` (a string as ``text()``) if it is one row-returning query; raise if not.

    Accepted: a ``select()`` (or a union of them), and SQL text that is one ``SELECT`` /
    ``WITH`` / ``VALUES`` / ``TABLE`` / ``EXPLAIN`` / ``SHOW`` statement without data-changing
    words, or a ``PRAGMA name`` read on SQLite. Refused with :class:`NotAQueryError` before
    anything reaches the database: DDL and DML (even with ``RETURNING``), and several
    statements at once. (``read_frame("DROP TABLE posts")`` used to drop the table on SQLite and
    MariaDB before failing.)

    Example:
        >>> try:
        ...     check_query("SELECT 1; DELETE FROM posts")
        ... except NotAQueryError as error:
        ...     print(error)
        read_frame runs one query, and this has 2 statements: 'SELECT 1; DELETE FROM posts'
    """
    if isinstance(stmt, str):
        stmt = text(stmt)
    if isinstance(stmt, TextualSelect):
        _check_sql_text(str(getattr(stmt.element, "text", "")))
    elif isinstance(stmt, TextClause):
        _check_sql_text(stmt.text)
    elif not getattr(stmt, "is_select", False):
        raise NotAQueryError(
            "read_frame runs queries that return rows (select(...) or SQL text), not a "
            f"{type(stmt).__name__}; to change data use a session (await session.execute(...)) "
            "or the CRUD coroutines"
        )
    return stmt


def _check_sql_text(sql: str) -> None:
    for tokens in _SQL_TOKENS:
        _check_tokens(sql, tokens)


def _check_tokens(sql: str, tokens: re.Pattern[str]) -> None:
    shown = sql if len(sql) <= 60 else sql[:57] + "..."
    words: list[str] = []
    statements, pending = 0, False
    for match in tokens.finditer(sql):
        if match.group("semicolon"):
            statements, pending = statements + pending, False
        elif not match.group("comment"):
            pending = True
            if match.group("word"):
                words.append(match.group("word").lower())
    statements += pending
    if statements != 1:
        raise NotAQueryError(
            f"read_frame runs one query, and this has {statements} statements: {shown!r}"
        )
    first = words[0] if words else ""
    if first == "pragma" and "=" not in sql:
        return
    writing = sorted(
        {w for i, w in enumerate(words) if w in _WRITING_WORDS and not _locking(words, i)}
    )
    if first not in _QUERY_STARTS or writing:
        what = ", ".join(writing).upper() if first in _QUERY_STARTS else first.upper()
        raise NotAQueryError(
            f"read_frame only reads, and this would change the database ({what}): {shown!r}; "
            "run it with a session instead (await session.execute(text(...)))"
        )


def _locking(words: list[str], i: int) -> bool:
    """``FOR UPDATE`` / ``FOR NO KEY UPDATE``: a lock on the rows read, not a change."""
    return words[i] == "update" and "for" in words[max(0, i - 3) : i]


def _entity_columns(stmt: Any) -> tuple[list[str], list[Any]] | None:
    """Return (column names, SQL types) for an ORM select, naming entity attributes."""
    descriptions = getattr(stmt, "column_descriptions", None)
    if not descriptions:
        return None
    entities = [d for d in descriptions if d.get("entity") is not None and d["expr"] is d["entity"]]
    names: list[str] = []
    types: list[Any] = []
    for d in descriptions:
        if d.get("entity") is not None and d["expr"] is d["entity"]:
            mapper = inspect(d["entity"])
            for attr in mapper.column_attrs:
                key = attr.key if len(entities) == 1 else f"{d['name']}.{attr.key}"
                names.append(key)
                types.append(attr.columns[0].type)
        else:
            names.append(d["name"])
            types.append(d.get("type"))
    return names, types


def _sql_types(stmt: Any) -> list[Any]:
    columns = getattr(stmt, "selected_columns", None)
    return [c.type for c in columns] if columns is not None else []


def _is_integer(sql_type: Any) -> bool:
    return isinstance(sql_type, Integer)


def _frame_from_columns(
    names: Sequence[str], columns: Sequence[Sequence[Any]], integer: Sequence[bool | None]
) -> pd.DataFrame:
    """One column per name; ``integer``: True/False when the SQL type is known, None if not."""
    import pandas as pd

    data: dict[str, Any] = {}
    for name, values, is_int in zip(names, columns, integer, strict=True):
        data[name] = _series(values, is_int)
    return pd.DataFrame(data, columns=list(names))


def _series(values: Sequence[Any], is_int: bool | None) -> Any:
    if is_int is None:  # type unknown: integers with gaps still become Int64, not floats
        non_null = [v for v in values if v is not None]
        has_null = len(non_null) != len(values)
        is_int = bool(non_null) and has_null and all(type(v) is int for v in non_null)
        if not is_int:
            return list(values)
    if is_int and any(v is None for v in values):
        import pandas as pd

        return pd.array(values, dtype="Int64")
    return list(values)


def _fix_integer_dtypes(df: pd.DataFrame, integer: Sequence[bool]) -> pd.DataFrame:
    for name, is_int in zip(df.columns, integer, strict=True):
        if is_int and df[name].dtype.kind != "i":
            # NULLs need the nullable Int64; an empty column has none and stays plain int64.
            df[name] = df[name].astype("Int64" if df[name].isna().any() else "int64")
    return df


def _needs_processing(types: Sequence[Any], dialect: Any) -> bool:
    for sql_type in types:
        if sql_type is None:
            return True
        try:
            processor = sql_type.dialect_impl(dialect).result_processor(dialect, None)
        except TypeError:  # asyncpg's NUMERIC needs the column's type code: take the safe path
            return True
        if processor is not None:
            return True
    return False


async def read_frame(
    stmt: Any,
    *,
    session: AsyncSession | None = None,
    engine: AsyncEngine | None = None,
) -> pd.DataFrame:
    """Execute ``stmt`` and return the rows as a DataFrame, one column per selected column.

    An ORM entity select (``select(User)``) gives one column per mapped attribute; selecting
    several entities names the columns ``"User.id"``, ``"Post.title"``, ... A plain SQL string is
    accepted too. With ``session=`` it runs in that session's transaction (and sees its
    uncommitted changes); otherwise on a fresh connection of ``engine`` (default: the kit's).

    Example:
        >>> df = await read_frame(select(User).order_by(User.id))
        >>> list(df.columns)
        ['id', 'name', 'age']
    """
    stmt = check_query(stmt)

    async def work(s: AsyncSession) -> pd.DataFrame:
        # Without session= the connection is this call's own and has written nothing.
        return await _read(await s.connection(), stmt, unwritten=session is None)

    return await db.run_transaction(work, session=session, engine=engine, write=False)


def _columns(stmt: Any, keys: Sequence[str]) -> tuple[list[str], list[Any]]:
    """The frame's column names and their SQL types (``None`` where unknown) for ``keys``."""
    described = _entity_columns(stmt) if isinstance(stmt, Select) else None
    if described is not None and len(described[0]) == len(keys):
        names, types = described
    else:
        names, types = list(keys), _sql_types(stmt) if not isinstance(stmt, TextClause) else []
    if len(types) != len(names):
        types = [None] * len(names)
    return names, types


async def _read(conn: Any, stmt: Any, *, unwritten: bool = False) -> pd.DataFrame:
    # ormkit.fast: COPY / Arrow / plain tuples, when it can give exactly this function's frame.
    fast_df = await fast.read(conn, stmt, unwritten=unwritten)
    if fast_df is not None:
        return fast_df
    import pandas as pd

    result: CursorResult[Any] = await conn.execute(stmt)
    names, types = _columns(stmt, list(result.keys()))
    integer = [_is_integer(t) for t in types]
    cursor = result.cursor
    if cursor is not None and not _needs_processing(types, conn.dialect):
        # Fast path: the async driver adapters have already buffered plain tuples; no column needs
        # SQLAlchemy's per-value processing, so pandas can take them as they are.
        records = cursor.fetchall()
        result.close()
        df = pd.DataFrame.from_records(records, columns=names, coerce_float=False)
        return _tidy_dtypes(_fix_integer_dtypes(df, integer), types)
    rows = result.all()
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    typed: list[bool | None] = [
        True if i else (None if t is None else False) for i, t in zip(integer, types, strict=True)
    ]
    return _tidy_dtypes(_frame_from_columns(names, columns, typed), types)


def _tidy_dtypes(df: pd.DataFrame, types: Sequence[Any] = ()) -> pd.DataFrame:
    """Give every backend the same dtypes: Decimal -> float64, and typed empty columns."""
    for position, name in enumerate(df.columns):
        column = df.iloc[:, position]
        if column.dtype == object:
            sample = next((v for v in column if v is not None), None)
            if isinstance(sample, Decimal):
                # AVG() and NUMERIC come back as Decimal from PostgreSQL and MariaDB but as float
                # from SQLite; float64 is what pandas computes with anyway.
                df[name] = column.astype("float64")
                continue
        if df.empty and position < len(types) and isinstance(types[position], String):
            df[name] = column.astype("str")  # what a non-empty text column gets
    return df


def _mapped_columns(obj: Any) -> list[str]:
    return [attr.key for attr in inspect(type(obj)).column_attrs]


def _is_mapped(obj: Any) -> bool:
    return isinstance(obj, DeclarativeBase)


def to_frame(data: Result[Any] | Iterable[Any] | Any) -> pd.DataFrame:
    """Convert results already in hand to a DataFrame.

    Accepts a ``Result`` (from ``await session.execute(...)``; it is consumed), a list of
    ``Row``s, a list of ORM objects (one column per mapped attribute), a single ORM object, a
    list of dicts / ``RowMapping``s, or a list of scalars (one column named ``value``).

    Example:
        >>> users = await list_users(limit=2)
        >>> to_frame(users).columns.tolist()
        ['id', 'name', 'age']
    """
    import pandas as pd

    if isinstance(data, (str, bytes)):
        raise TypeError(
            f"to_frame needs rows (a Result, or a list of rows, objects, dicts or values), "
            f"not a {type(data).__name__}; for SQL text use: await read_frame(text(...))"
        )
    if _is_mapped(data):
        data = [data]
    keys: list[str] | None = None
    if isinstance(data, Result):
        keys = list(data.keys())
        # An ORM result knows its statement: an empty select(User) still has id, name, age.
        described = _entity_columns(getattr(getattr(data, "context", None), "query", None))
        data = data.all()
        if described is not None:
            keys = described[0]
    items = list(data)
    if not items:
        return pd.DataFrame(columns=keys or [])
    first = items[0]
    if isinstance(first, Row):
        keys = list(first._fields)
        columns: list[Sequence[Any]] = list(zip(*items, strict=True))
        names: list[str] = []
        expanded: list[Sequence[Any]] = []
        # An outer join's entity column may start with None: look at its first object.
        samples = [next((v for v in column if v is not None), None) for column in columns]
        entities = [sample for sample in samples if _is_mapped(sample)]
        for key, column, sample in zip(keys, columns, samples, strict=True):
            if _is_mapped(sample):
                attrs = _mapped_columns(sample)
                for attr in attrs:
                    names.append(attr if len(entities) == 1 and len(keys) == 1 else f"{key}.{attr}")
                    expanded.append(
                        [getattr(obj, attr) if obj is not None else None for obj in column]
                    )
            else:
                names.append(key)
                expanded.append(column)
        return _tidy_dtypes(_frame_from_columns(names, expanded, [None] * len(names)))
    if _is_mapped(first):
        attrs = _mapped_columns(first)
        columns = [[getattr(obj, attr) for obj in items] for attr in attrs]
        mapper = inspect(type(first))
        integer = [_is_integer(mapper.column_attrs[a].columns[0].type) for a in attrs]
        return _frame_from_columns(attrs, columns, integer)
    if isinstance(first, (dict, RowMapping)):
        keys = list(first.keys())
        columns = [[item.get(k) for item in items] for k in keys]
        return _tidy_dtypes(_frame_from_columns(keys, columns, [None] * len(keys)))
    return _tidy_dtypes(_frame_from_columns(["value"], [items], [None]))
