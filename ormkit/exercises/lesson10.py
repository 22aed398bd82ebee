"""Lesson 10 · Switching databases: the exercises' checkers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.mysql import asyncmy
from sqlalchemy.dialects.postgresql import asyncpg

from ..models import User
from . import Wrong, exercise
from ._datasets import NAME_CASES, SAMPLE
from ._support import compare_rows, describe, plain_rows, require_select, scratch_session


def _one_line(sql: Any) -> str:
    return " ".join(str(sql).split())


@exercise(
    "10.1",
    "users whose name starts with 'a' or 'A', the same on every backend",
    hint="LIKE is case-insensitive on SQLite but not on PostgreSQL; ilike() is portable. "
    "Order by id.",
    datasets=[SAMPLE, NAME_CASES],
)
async def _portable_search(answer: Any) -> None:
    stmt = require_select(answer)
    expected = select(User).where(func.lower(User.name).like("a%")).order_by(User.id)
    async with scratch_session() as session:
        session.add_all([User(name="aaron", age=20), User(name="Bob", age=20)])
        await session.flush()  # a lower-case name must be found too; rolled back afterwards
        got = plain_rows((await session.execute(stmt)).all())
        want = plain_rows((await session.execute(expected)).all())
    compare_rows(got, want)
    for name, dialect in (("PostgreSQL", asyncpg.dialect()), ("MySQL", asyncmy.dialect())):
        sql = _one_line(stmt.compile(dialect=dialect)).upper()
        if " LIKE " in sql and "ILIKE" not in sql and "LOWER(" not in sql:
            raise Wrong(
                f"right rows here, but on {name} your LIKE is case-sensitive and would miss "
                "some of them."
            )


@exercise(
    "10.2",
    "the backends whose UPDATE ... RETURNING works",
    hint="a set of names from 'sqlite', 'postgresql', 'mariadb', 'mysql'; the lesson's "
    "RETURNING table says which.",
)
async def _update_returning(answer: Any) -> None:
    known = {"sqlite", "postgresql", "mariadb", "mysql"}
    if not isinstance(answer, (set, frozenset, list, tuple)):
        raise Wrong(f"expected a set of backend names, got {describe(answer)}.")
    names = {str(n).lower() for n in answer}
    if not names <= known:
        raise Wrong(f"unknown backend name(s) {sorted(names - known)}; use {sorted(known)}.")
    if names != {"sqlite", "postgresql"}:
        raise Wrong(f"{len(names)} backend(s) named, not the right ones.")


@exercise(
    "10.3",
    "the SQL text PostgreSQL (asyncpg) receives for the users aged over 40",
    hint="compile the statement with the PostgreSQL asyncpg dialect object; str() gives its text.",
)
async def _compiled(answer: Any) -> None:
    if not isinstance(answer, str):
        raise Wrong(f"expected the SQL as a string (str(compiled)), got {describe(answer)}.")
    stmt = select(User.name).where(User.age > 40).order_by(User.id)
    want = _one_line(stmt.compile(dialect=asyncpg.dialect()))
    got = _one_line(answer)
    if "?" in got or "%s" in got:
        raise Wrong("that is another dialect's paramstyle; asyncpg numbers its parameters.")
    if got != want:
        raise Wrong("not the statement asked for, or not compiled for PostgreSQL (asyncpg).")
