"""``result_methods``: each cell is what SQLAlchemy really returns or raises, computed here too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import false, select
from sqlalchemy.engine import Result, Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import User, async_session, result_methods
from ormkit.results import describe_error, describe_value

# The methods the issue names, called the way a learner writes them.
CALLS: dict[str, Callable[[Result[Any]], Any]] = {
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
CASES = ["0 rows", "1 row", "many rows"]


def variants(stmt: Any) -> dict[str, Any]:
    return {"0 rows": stmt.where(false()), "1 row": stmt.limit(1), "many rows": stmt}


async def actual_table(stmt: Any) -> dict[tuple[str, str], tuple[str, Any]]:
    """Run every method on a fresh result: ("value", v) or ("raises", exception)."""
    table: dict[tuple[str, str], tuple[str, Any]] = {}
    async with async_session() as session:
        for case, variant in variants(stmt).items():
            for method, call in CALLS.items():
                result = await session.execute(variant)
                try:
                    table[method, case] = ("value", call(result))
                except Exception as exc:
                    table[method, case] = ("raises", exc)
    return table


def expected_error_text(exc: BaseException) -> str:
    message = str(exc).split("\n")[0].split(" (Background on this error")[0].strip()
    return f"raises {type(exc).__name__}: {message}"


@pytest.mark.parametrize(
    "stmt",
    [
        select(User).order_by(User.id),
        select(User.id, User.name).order_by(User.id),
        select(User.name).order_by(User.name),
    ],
    ids=["entity", "columns", "one-column"],
)
async def test_table_matches_sqlalchemy(seeded: AsyncEngine, stmt: Any) -> None:
    table = await result_methods(stmt)
    assert list(table.columns) == CASES
    assert list(table.index) == list(CALLS)
    assert table.index.name == "method"
    actual = await actual_table(stmt)
    for (method, case), (kind, value) in actual.items():
        cell = table.loc[method, case]
        if kind == "raises":
            assert cell == expected_error_text(value), (method, case)
        else:
            assert not cell.startswith("raises"), (method, case, cell)
            assert cell == describe_value(value), (method, case)


async def test_table_says_what_each_method_does(seeded: AsyncEngine) -> None:
    # The facts a learner reads from the table, stated independently of the formatter.
    table = await result_methods(select(User).order_by(User.id))
    raises = {
        (m, c): table.loc[m, c].split(":")[0]
        for m in CALLS
        for c in CASES
        if table.loc[m, c].startswith("raises")
    }
    assert raises == {
        ("one()", "0 rows"): "raises NoResultFound",
        ("scalar_one()", "0 rows"): "raises NoResultFound",
        ("one()", "many rows"): "raises MultipleResultsFound",
        ("one_or_none()", "many rows"): "raises MultipleResultsFound",
        ("scalar_one()", "many rows"): "raises MultipleResultsFound",
        ("scalar_one_or_none()", "many rows"): "raises MultipleResultsFound",
    }
    for method in ("first()", "one_or_none()", "scalar()", "scalar_one_or_none()"):
        assert table.loc[method, "0 rows"] == "None"
    assert table.loc["scalars().first()", "many rows"] == "User(id=1, name='Alice', age=30)"
    assert table.loc["scalar()", "many rows"] == "User(id=1, name='Alice', age=30)"
    assert table.loc["scalar_one()", "1 row"] == "User(id=1, name='Alice', age=30)"
    assert table.loc["all()", "0 rows"] == "[] (empty list)"
    assert table.loc["all()", "many rows"].startswith("list of 13: [Row(User(id=1,")
    assert table.loc["mappings().all()", "1 row"] == (
        "list of 1: [{'User': User(id=1, name='Alice', age=30)}]"
    )
    for cell in table.to_numpy().ravel():
        assert "0x" not in cell
        assert "Background on this error" not in cell


async def test_methods_subset_and_callers_session(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        table = await result_methods(
            select(User.name).order_by(User.id), session=session, methods=["scalar_one()"]
        )
        assert session.is_active
    assert list(table.index) == ["scalar_one()"]
    assert table.loc["scalar_one()", "1 row"] == "'Alice'"


async def test_unknown_method_is_refused(seeded: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="unknown result method"):
        await result_methods(select(User), methods=["two()"])


def test_describe_value() -> None:
    user = User(id=1, name="Ada", age=36)
    assert describe_value(None) == "None"
    assert describe_value([]) == "[] (empty list)"
    assert describe_value([1, 2, 3, 4, 5]) == "list of 5: [1, 2, 3, ... 2 more]"
    assert describe_value(user) == "User(id=1, name='Ada', age=36)"
    assert describe_value("x") == "'x'"


async def test_describe_value_of_rows_and_mappings(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        row = (await session.execute(select(User.id, User.name).where(User.id == 2))).one()
        mapping = (await session.execute(select(User.id).where(User.id == 2))).mappings().one()
    assert isinstance(row, Row)
    assert isinstance(mapping, RowMapping)
    assert describe_value(row) == "Row(2, 'Bob')"
    assert describe_value(mapping) == "{'id': 2}"


def test_describe_error_drops_the_background_link() -> None:
    error = ValueError("Something broke (Background on this error at: https://sqlalche.me/e/x)")
    assert describe_error(error) == "raises ValueError: Something broke"
    assert describe_error(KeyError("k")) == "raises KeyError: 'k'"
