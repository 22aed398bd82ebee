"""Lesson 01 · Engine, sessions and models: the exercises' checkers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from .. import db
from ..models import User
from . import Wrong, exercise
from ._datasets import SAMPLE, SHIFTED
from ._support import describe, require_coroutine_function


@exercise(
    "01.1",
    "a session factory whose objects stay readable after commit",
    hint="async_sessionmaker(...) takes the engine first; one keyword decides whether commit() "
    "expires every loaded attribute.",
    datasets=[SAMPLE, SHIFTED],
)
async def _session_factory(answer: Any) -> None:
    if not callable(answer) or isinstance(answer, type):
        raise Wrong(f"expected a session factory (call it for a session), got {describe(answer)}.")
    session = answer()
    if not isinstance(session, AsyncSession):
        raise Wrong(f"calling it gave {describe(session)}, not an AsyncSession.")
    async with db.async_session() as kit_session:
        first = (await kit_session.execute(select(func.min(User.id)))).scalar_one()
    async with session:
        try:
            user = await session.get(User, first)
        except SQLAlchemyError as exc:
            raise Wrong(
                f"its session cannot read the kit's users ({type(exc).__name__}): "
                "bind it to the kit's engine."
            ) from None
        if user is None:
            raise Wrong("its session does not see the kit's users: bind it to the kit's engine.")
        await session.commit()
        # Reading an expired attribute would need IO that async code cannot do implicitly; ask
        # the object's state instead of triggering that failure.
        if sa_inspect(user).expired:
            raise Wrong(
                "after commit() the user's attributes are expired: reading user.name would need "
                "a query, which async code cannot run implicitly."
            )


def _legacy_tags() -> Table:
    # The legacy model the learner translates, built here as a plain Table to compare against.
    return Table(
        "tags",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("label", String(30), nullable=False),
        Column("note", String),
    )


@exercise(
    "01.2",
    "translate a legacy Column model to Mapped[...]",
    hint="Mapped[str] is NOT NULL and Mapped[str | None] is nullable; a length goes in "
    "mapped_column(String(n)).",
)
async def _tag_model(answer: Any) -> None:
    table = getattr(answer, "__table__", None)
    if not isinstance(answer, type) or not isinstance(table, Table):
        raise Wrong(f"expected a mapped class (class Tag(...): ...), got {describe(answer)}.")
    expected = _legacy_tags()
    if table.name != expected.name:
        raise Wrong(f"the table is called {table.name!r}, expected {expected.name!r}.")
    got_names, want_names = list(table.columns.keys()), list(expected.columns.keys())
    if sorted(got_names) != sorted(want_names):
        raise Wrong(
            f"the columns are {got_names}, expected {len(want_names)} columns: "
            f"{', '.join(want_names)}."
        )
    annotations: dict[str, Any] = {}
    for klass in reversed(answer.__mro__):
        annotations.update(getattr(klass, "__annotations__", {}))
    plain = [name for name in want_names if "Mapped" not in str(annotations.get(name, ""))]
    if plain:
        raise Wrong(f"declare {', '.join(plain)} with a Mapped[...] annotation, not Column().")
    dialect = sqlite.dialect()
    for want in expected.columns:
        got = table.columns[want.name]
        if got.primary_key != want.primary_key:
            should = "be" if want.primary_key else "not be"
            raise Wrong(f"{want.name} should {should} the primary key.")
        got_type, want_type = got.type.compile(dialect), want.type.compile(dialect)
        if got_type != want_type:
            raise Wrong(f"{want.name}: the column type is {got_type}, expected {want_type}.")
        if not want.primary_key and got.nullable != want.nullable:
            should = "accept NULL" if want.nullable else "refuse NULL"
            raise Wrong(f"{want.name} should {should} (its nullable is {got.nullable}).")
    # Behaviour: the table really accepts a row without a note and refuses one without a label.
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all, tables=[table])
            await conn.execute(table.insert(), {"label": "async"})
            try:
                async with conn.begin_nested():
                    await conn.execute(table.insert(), {"note": "no label"})
            except IntegrityError:
                pass
            else:
                raise Wrong("a row without a label was accepted: label must be NOT NULL.")
    finally:
        await engine.dispose()


@exercise(
    "01.3",
    "create the kit's tables on any engine",
    hint="Open a transaction with `async with engine.begin() as conn:` and hand the synchronous "
    "Base.metadata.create_all to conn.run_sync().",
)
async def _create_tables(answer: Any) -> None:
    require_coroutine_function(answer, "create_tables(engine)")
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        await answer(engine)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: sorted(sa_inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    if not names:
        raise Wrong(
            "no table exists in the engine passed to your function: use that engine, not "
            "the kit's, and make sure the transaction commits."
        )
    if names != ["posts", "users"]:
        raise Wrong(f"the engine has the tables {names}, expected the kit's two tables.")
