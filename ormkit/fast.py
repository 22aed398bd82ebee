"""Fast paths for ``add_many_users`` and ``read_frame``: the backend's own bulk transfer.

The plain paths send rows through SQLAlchemy and the DB-API driver one Python object at a time.
The fast paths below move the same rows the way each database moves bulk data, and give exactly
the same results (values, column names, dtypes; a test compares them on every backend):

==============  =================================================  ============================
backend         ``add_many_users``                                 ``read_frame``
==============  =================================================  ============================
PostgreSQL      binary ``COPY users FROM STDIN`` (asyncpg)         ``COPY (SELECT ...) TO
                                                                   STDOUT`` as CSV, parsed by
                                                                   Arrow's C++ CSV reader
MySQL/MariaDB   the driver's executemany of plain tuples (sent     connectorx (Rust) into Arrow
                as a few multi-row ``INSERT`` statements)          columns; in a transaction,
                                                                   the driver's tuples made
                                                                   Arrow columns at once, with
                                                                   the garbage collector paused
SQLite          the driver's executemany of plain tuples           the driver's tuples made
                                                                   Arrow columns at once, with
                                                                   the garbage collector paused
==============  =================================================  ============================

Every fast path runs on the same connection, in the same begun transaction, as the plain path
would (``COPY`` never autocommits; ``session=`` still means "inside the caller's transaction"),
except one read that opens a connection of its own (connectorx on MariaDB/MySQL), taken only
when the connection it replaces holds no uncommitted changes. Not ADBC on SQLite, although it
reads a file fastest: its driver carries a second copy of the SQLite library, and two copies in
one process do not see each other's POSIX locks on the same file
(https://www.sqlite.org/howtocorrupt.html, 2.2.1): its connection rebuilt the WAL index under the
kit's writers, which then read "database disk image is malformed". Arrow paths need the optional
extra ``ormkit[fast]`` (pyarrow, connectorx); without it, or for anything a fast path
cannot reproduce exactly (a column type other than integer or text, an Enum, a statement that is
not a ``select()``, a parameter that needs SQLAlchemy's processing...), the plain path runs.
Which path ran is logged on the ``ormkit.fast`` logger (DEBUG), recorded by :func:`trace`, and
each statement a fast path sends is shown by ``show_sql()``.
"""

from __future__ import annotations

import contextvars
import gc
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Enum, Integer, String, exc
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from .models import User

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("ormkit.fast")

_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("ormkit_fast", default=True)
_traces: contextvars.ContextVar[tuple[list[str], ...]] = contextvars.ContextVar(
    "ormkit_fast_traces", default=()
)


@cache
def arrow_available() -> bool:
    """Whether the ``fast`` extra's Arrow libraries are installed (checked once, not imported).

    Example:
        >>> arrow_available()  # pip install "ormkit[fast]" makes it True
        True
    """
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


@contextmanager
def plain_paths() -> Iterator[None]:
    """Inside the block, ``add_many_users`` and ``read_frame`` take their plain paths.

    For comparing the two (lesson 11, the equivalence tests), or to rule a fast path out.

    Example:
        >>> with plain_paths(), trace() as ran:
        ...     df = await read_frame(select(User))
        >>> ran
        ['read_frame: plain (fast paths turned off)']
    """
    token = _enabled.set(False)
    try:
        yield
    finally:
        _enabled.reset(token)


@contextmanager
def trace() -> Iterator[list[str]]:
    """Record which path each ``add_many_users`` / ``read_frame`` call took inside the block.

    Example:
        >>> with trace() as ran:
        ...     added = await add_many_users([("Ada", 36)])
        >>> ran  # on SQLite
        ['add_many_users: executemany of plain tuples (aiosqlite)']
    """
    ran: list[str] = []
    token = _traces.set((*_traces.get(), ran))
    try:
        yield ran
    finally:
        _traces.reset(token)


def _report(operation: str, path: str) -> None:
    log.debug("%s: %s", operation, path)
    for ran in _traces.get():
        ran.append(f"{operation}: {path}")


def _announce(conn: AsyncConnection, statement: str, parameters: Any, many: bool) -> None:
    """Tell the engine's ``before_cursor_execute`` listeners (``show_sql``) what runs."""
    sync = conn.sync_connection
    if sync is not None and (sync._has_events or sync.engine._has_events):
        sync.dispatch.before_cursor_execute(sync, None, statement, parameters, None, many)


# -- add_many_users ---------------------------------------------------------------------------


async def insert_users(conn: AsyncConnection, rows: list[tuple[str, int]]) -> bool:
    """Insert validated ``(name, age)`` rows on ``conn``; ``False`` if no fast path applies.

    ``conn`` is the session's connection, its transaction already begun: the rows become visible
    (and permanent) only when the caller commits, and a refused row rolls back with the rest.
    """
    if not _enabled.get():
        _report("add_many_users", "plain (fast paths turned off)")
        return False
    dialect = conn.dialect
    table = User.__tablename__
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        return await _copy_users(conn, table, rows)
    if dialect.name in ("sqlite", "mysql", "mariadb"):
        # SQLAlchemy's per-row parameter processing is the bulk of its cost at this size, and
        # these drivers need none of it for str and int: hand them the tuples. (asyncmy rewrites
        # an executemany INSERT into multi-row INSERTs of up to 16 MiB each.)
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        await conn.exec_driver_sql(
            f"INSERT INTO {table} (name, age) VALUES ({marker}, {marker})", rows
        )
        _report("add_many_users", f"executemany of plain tuples ({dialect.driver})")
        return True
    _report("add_many_users", f"plain (no fast path for {dialect.name}+{dialect.driver})")
    return False


async def _asyncpg_in_transaction(conn: AsyncConnection) -> Any | None:
    """The asyncpg connection under ``conn``, its transaction begun; ``None`` if it can't be."""
    raw = await conn.get_raw_connection()
    adapter: Any = raw.dbapi_connection  # SQLAlchemy's AsyncAdapt_asyncpg_connection
    driver: Any = raw.driver_connection  # asyncpg.Connection
    start = getattr(adapter, "_start_transaction", None)
    if start is None or driver is None:
        return None
    if getattr(adapter, "_transaction", None) is None:
        # SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its first statement; the COPY
        # is that first statement here, so begin the adapter's transaction the adapter's way
        # (then its COMMIT / ROLLBACK covers the COPY, exactly as for an INSERT).
        async with adapter._execute_mutex:
            await start()
    return driver if driver.is_in_transaction() else None  # autocommit engine: no COPY


async def _copy_users(conn: AsyncConnection, table: str, rows: list[tuple[str, int]]) -> bool:
    driver = await _asyncpg_in_transaction(conn)
    if driver is None:
        _report("add_many_users", "plain (connection not in a transaction: COPY would autocommit)")
        return False
    statement = f"COPY {table} (name, age) FROM STDIN (FORMAT binary)"
    _announce(conn, statement, rows, True)
    adapter: Any = (await conn.get_raw_connection()).dbapi_connection
    try:
        async with adapter._execute_mutex:
            await driver.copy_records_to_table(table, records=rows, columns=("name", "age"))
    except Exception as error:
        raise _sqlalchemy_error(conn, adapter, statement, error) from error
    _report("add_many_users", "COPY FROM STDIN, binary (asyncpg copy_records_to_table)")
    return True


def _sqlalchemy_error(
    conn: AsyncConnection, adapter: Any, statement: str, error: Exception
) -> BaseException:
    """The exception the plain path would raise for ``error`` (COPY bypasses SQLAlchemy).

    The driver's error goes through SQLAlchemy's adapter (asyncpg's UniqueViolationError becomes
    the DB-API IntegrityError) and is wrapped like any statement's error, naming the constraint;
    "value too long" becomes an IntegrityError too, as the kit maps it for the plain path.
    """
    try:
        adapter._handle_exception(error)  # raises the DB-API exception the adapter would
    except Exception as dbapi_error:
        translated: BaseException = dbapi_error
    else:  # pragma: no cover - _handle_exception always raises
        translated = error
    dbapi_base: Any = conn.dialect.loaded_dbapi.Error
    if not isinstance(translated, dbapi_base):
        return translated  # not a database error (a cancellation, a bug): unchanged
    wrapped: BaseException = exc.DBAPIError.instance(statement, None, translated, dbapi_base)
    if getattr(error, "sqlstate", None) == "22001" and not isinstance(wrapped, exc.IntegrityError):
        return exc.IntegrityError(statement, None, translated)
    return wrapped


# -- read_frame -------------------------------------------------------------------------------


def _unsupported(names: Sequence[str], types: Sequence[Any]) -> str | None:
    """Why a fast read could not reproduce the plain one's frame (``None``: it can)."""
    if len(set(names)) != len(names):
        return "duplicate column names"
    for sql_type in types:
        if isinstance(sql_type, Enum) or not isinstance(sql_type, (Integer, String)):
            return f"a column of type {sql_type!r}"
    return None


def _compile(stmt: Select[Any], dialect: Any) -> tuple[str, tuple[Any, ...], list[str]] | None:
    """The SQL, positional parameters and result keys the plain path would get from the driver.

    ``None`` when a parameter needs SQLAlchemy's bind processing (dates, Decimals, ...).
    """
    compiled: Any = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    positions: list[str] = getattr(compiled, "positiontup", None) or []
    if len(positions) != len(compiled.params):
        return None
    params = tuple(compiled.params[key] for key in positions)
    if not all(p is None or type(p) in (int, str, float) for p in params):
        return None
    keys = [column[0] for column in compiled._result_columns]  # what Result.keys() reports
    return str(compiled), params, keys


async def read(conn: AsyncConnection, stmt: Any, *, unwritten: bool = False) -> pd.DataFrame | None:
    """``stmt``'s rows as ``read_frame`` would give them, by a fast path; ``None``: none applies.

    ``unwritten``: ``conn`` is the caller's own, in a transaction that has written nothing (so a
    reader on another connection sees the same rows).
    """
    if not _enabled.get():
        _report("read_frame", "plain (fast paths turned off)")
        return None
    if not isinstance(stmt, Select):
        _report("read_frame", "plain (not a select())")
        return None
    from .frames import _columns

    dialect = conn.dialect
    compiled = _compile(stmt, dialect)
    if compiled is None:
        _report("read_frame", "plain (a parameter that needs SQLAlchemy's processing)")
        return None
    sql, params, keys = compiled
    names, types = _columns(stmt, keys)
    why = _unsupported(names, types)
    if why is not None:
        _report("read_frame", f"plain ({why})")
        return None
    if dialect.name in ("mysql", "mariadb"):
        if _connectorx_applies(conn, params, unwritten):
            df = await _read_connectorx(conn, stmt, names, types)
            if df is not None:
                return df
        return await _read_cursor(conn, sql, params, names, types)
    if not arrow_available():
        _report("read_frame", "plain (pyarrow not installed: pip install 'ormkit[fast]')")
        return None
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        return await _read_copy(conn, sql, params, names, types)
    if dialect.name == "sqlite":
        # On the kit's own connection (see the module docstring: never a second SQLite library).
        return await _read_cursor(conn, sql, params, names, types)
    _report("read_frame", f"plain (no fast path for {dialect.name}+{dialect.driver})")
    return None


async def _read_cursor(
    conn: AsyncConnection, sql: str, params: tuple[Any, ...], names: Sequence[str], types: Any
) -> pd.DataFrame:
    # The statement still goes through SQLAlchemy (its events, error mapping, transaction); what
    # changes is what happens to the rows: the driver's tuples become Arrow columns at once, with
    # the garbage collector paused, and are freed before it resumes. (100k fresh tuples would
    # otherwise set off collections that traverse all of them, several times over.)
    with _gc_paused():
        result = await conn.exec_driver_sql(sql, params)
        cursor: Any = result.cursor
        records = cursor.fetchall()
        result.close()
        df = _tuples_frame(records, names, types)
        if df is None:
            import pandas as pd

            from .frames import _fix_integer_dtypes, _tidy_dtypes

            df = pd.DataFrame.from_records(records, columns=list(names), coerce_float=False)
            integer = [isinstance(t, Integer) for t in types]
            df = _tidy_dtypes(_fix_integer_dtypes(df, integer), types)
            _report("read_frame", f"plain tuples into pandas ({conn.dialect.driver})")
        else:
            _report(
                "read_frame", f"plain tuples into Arrow columns, GC paused ({conn.dialect.driver})"
            )
        del records, result, cursor  # freed by reference counting, never seen by the GC
    return df


@cache
def _connectorx_available() -> bool:
    import importlib.util

    return arrow_available() and importlib.util.find_spec("connectorx") is not None


def _connectorx_applies(conn: AsyncConnection, params: tuple[Any, ...], unwritten: bool) -> bool:
    # connectorx reads on a connection of its own: only when this one has written nothing
    # (nothing uncommitted to miss; its transaction has read nothing yet either, so both see the
    # same committed rows), and only with
    # integer parameters, which it needs written into the SQL (it takes no bound parameters).
    return (
        _connectorx_available()
        and (unwritten or not conn.in_transaction())
        and all(type(p) is int for p in params)
    )


async def _read_connectorx(
    conn: AsyncConnection, stmt: Select[Any], names: Sequence[str], types: Any
) -> pd.DataFrame | None:
    import asyncio

    import connectorx

    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    sql = str(compiled)
    url = conn.engine.url.set(drivername="mysql", query={}).render_as_string(hide_password=False)
    _announce(conn, sql, None, False)
    try:
        # Rust reads the rows straight into Arrow columns, in a worker thread (it blocks).
        table = await asyncio.to_thread(connectorx.read_sql, url, sql, return_type="arrow")
    except Exception as error:  # e.g. URL options connectorx does not know
        log.debug("read_frame: connectorx refused it (%s): the driver's cursor", error)
        return None
    df = _arrow_frame(table, names, types)
    if df is None:
        log.debug("read_frame: connectorx gave other column types: the driver's cursor")
        return None
    _report("read_frame", "connectorx, rows straight into Arrow columns")
    return df


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _tuples_frame(
    records: Sequence[tuple[Any, ...]], names: Sequence[str], types: Sequence[Any]
) -> pd.DataFrame | None:
    """Integer and text columns of ``records`` as the plain path's frame; ``None``: can't."""
    if not arrow_available():
        return None
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    data: dict[str, Any] = {}
    columns = list(zip(*records, strict=True)) if records else [() for _ in names]
    for name, values, sql_type in zip(names, columns, types, strict=True):
        if isinstance(sql_type, Integer):
            try:
                data[name] = np.fromiter(values, np.int64, len(values))
            except TypeError:  # NULLs: pandas' nullable Int64, as the plain path gives
                data[name] = pd.array(values, dtype="Int64")
            continue
        try:
            array = pa.array(values, pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None  # not all str: let pandas decide, as the plain path does
        if records and array.null_count == len(array):
            return None  # all NULL: the plain path keeps Python's None (object dtype)
        data[name] = array.to_pandas()
    return pd.DataFrame(data, columns=list(names))


async def _read_copy(
    conn: AsyncConnection, sql: str, params: tuple[Any, ...], names: Sequence[str], types: Any
) -> pd.DataFrame | None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    driver = await _asyncpg_in_transaction(conn)
    if driver is None:
        _report("read_frame", "plain (connection not in a transaction)")
        return None
    statement = f"COPY ({sql}) TO STDOUT (FORMAT csv)"
    _announce(conn, statement, params, False)
    chunks: list[bytes] = []

    async def collect(chunk: bytes) -> None:
        chunks.append(chunk)

    adapter: Any = (await conn.get_raw_connection()).dbapi_connection
    try:
        async with adapter._execute_mutex:
            await driver.copy_from_query(sql, *params, output=collect, format="csv")
    except Exception as error:
        raise _sqlalchemy_error(conn, adapter, statement, error) from error
    columns = [f"c{i}" for i in range(len(names))]
    arrow_types = [pa.int64() if isinstance(t, Integer) else pa.large_string() for t in types]
    if not chunks:  # no rows: Arrow's CSV reader refuses an empty input
        empty = pa.table({c: pa.array([], t) for c, t in zip(columns, arrow_types, strict=True)})
        _report("read_frame", "COPY TO STDOUT as CSV, parsed by pyarrow.csv (Arrow columns)")
        return _arrow_frame(empty, names, types)
    data = b"".join(chunks)
    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=columns),
        # A line break inside a value comes quoted; without any quote, the reader may split the
        # input at any line break and parse the pieces in parallel.
        parse_options=pacsv.ParseOptions(newlines_in_values=b'"' in data),
        convert_options=pacsv.ConvertOptions(
            column_types=dict(zip(columns, arrow_types, strict=True)),
            # PostgreSQL's CSV writes NULL unquoted and empty, an empty string as "".
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    df = _arrow_frame(table, names, types)
    if df is None:
        _report("read_frame", "plain (a column Arrow cannot type as the plain path does)")
        return None
    _report("read_frame", "COPY TO STDOUT as CSV, parsed by pyarrow.csv (Arrow columns)")
    return df


def _arrow_frame(table: Any, names: Sequence[str], types: Sequence[Any]) -> pd.DataFrame | None:
    """The frame the plain path would build, from an Arrow table; ``None`` if types differ."""
    import pandas as pd
    import pyarrow as pa

    columns = []
    nullable: list[int] = []  # integer columns with NULLs: pandas' Int64, as the plain path
    empty = table.num_rows == 0
    for position, sql_type in enumerate(types):
        column = table.column(position)
        all_null = not empty and column.null_count == len(column)
        if isinstance(sql_type, Integer):
            if empty or all_null:
                column = column.cast(pa.int64())  # no values to infer a type from
            if pa.types.is_integer(column.type) and column.type != pa.int64():
                try:  # connectorx gives MySQL's INT as int32; the plain path gives int64
                    column = column.cast(pa.int64())
                except pa.ArrowInvalid:  # an unsigned value beyond int64
                    return None
            if column.type != pa.int64():
                return None
            if column.null_count:
                nullable.append(position)
        else:
            if all_null:
                return None  # the plain path keeps Python's None (object dtype)
            if empty:
                column = column.cast(pa.large_string())
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                return None
        columns.append(column)
    # One conversion of the whole table: pandas gets its blocks without a copy per column.
    df: pd.DataFrame = pa.table(columns, names=[f"c{i}" for i in range(len(columns))]).to_pandas()
    df.columns = pd.Index(list(names))
    for position in nullable:
        df.isetitem(
            position, columns[position].to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        )
    return df
