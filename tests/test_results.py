"""``result_methods``: each cell is what SQLAlchemy returns or raises, stated here literally.

The expected tables are written out by hand from SQLAlchemy's documented behaviour, not computed
with ``ormkit.results``' own helpers, so a change to its formatting, or to which method a row
calls, fails here.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import User, async_session, result_methods
from ormkit.results import describe_error, describe_value

METHOD_NAMES = [
    "all()", "first()", "one()", "one_or_none()", "scalar()", "scalar_one()",
    "scalar_one_or_none()", "scalars().all()", "scalars().first()", "mappings().all()",
    "unique().all()",
]  # fmt: skip
CASES = ["0 rows", "1 row", "many rows"]

STATEMENTS = {
    "entity": select(User).order_by(User.id),
    "columns": select(User.id, User.name).order_by(User.id),
    "one-column": select(User.name).order_by(User.name),
}

EMPTY = "[] (empty list)"
NO_ROW = "raises NoResultFound: No row was found when one was required"
NOT_ONE = "raises MultipleResultsFound: Multiple rows were found when exactly one was required"
NOT_ONE_OR_NONE = (
    "raises MultipleResultsFound: Multiple rows were found when one or none was required"
)
ALICE = "User(id=1, name='Alice', age=30)"
BOB = "User(id=2, name='Bob', age=25)"
CAROL = "User(id=3, name='Carol', age=35)"

# method -> (0 rows, 1 row, many rows), for each statement of STATEMENTS (13 users seeded).
EXPECTED = {
    "entity": {
        "all()": (
            EMPTY,
            f"list of 1: [Row({ALICE})]",
            f"list of 13: [Row({ALICE}), Row({BOB}), Row({CAROL}), ... 10 more]",
        ),
        "first()": ("None", f"Row({ALICE})", f"Row({ALICE})"),
        "one()": (NO_ROW, f"Row({ALICE})", NOT_ONE),
        "one_or_none()": ("None", f"Row({ALICE})", NOT_ONE_OR_NONE),
        "scalar()": ("None", ALICE, ALICE),
        "scalar_one()": (NO_ROW, ALICE, NOT_ONE),
        "scalar_one_or_none()": ("None", ALICE, NOT_ONE_OR_NONE),
        "scalars().all()": (
            EMPTY,
            f"list of 1: [{ALICE}]",
            f"list of 13: [{ALICE}, {BOB}, {CAROL}, ... 10 more]",
        ),
        "scalars().first()": ("None", ALICE, ALICE),
        "mappings().all()": (
            EMPTY,
            f"list of 1: [{{'User': {ALICE}}}]",
            f"list of 13: [{{'User': {ALICE}}}, {{'User': {BOB}}}, {{'User': {CAROL}}}, "
            "... 10 more]",
        ),
        "unique().all()": (
            EMPTY,
            f"list of 1: [Row({ALICE})]",
            f"list of 13: [Row({ALICE}), Row({BOB}), Row({CAROL}), ... 10 more]",
        ),
    },
    "columns": {
        "all()": (
            EMPTY,
            "list of 1: [Row(1, 'Alice')]",
            "list of 13: [Row(1, 'Alice'), Row(2, 'Bob'), Row(3, 'Carol'), ... 10 more]",
        ),
        "first()": ("None", "Row(1, 'Alice')", "Row(1, 'Alice')"),
        "one()": (NO_ROW, "Row(1, 'Alice')", NOT_ONE),
        "one_or_none()": ("None", "Row(1, 'Alice')", NOT_ONE_OR_NONE),
        "scalar()": ("None", "1", "1"),
        "scalar_one()": (NO_ROW, "1", NOT_ONE),
        "scalar_one_or_none()": ("None", "1", NOT_ONE_OR_NONE),
        "scalars().all()": (EMPTY, "list of 1: [1]", "list of 13: [1, 2, 3, ... 10 more]"),
        "scalars().first()": ("None", "1", "1"),
        "mappings().all()": (
            EMPTY,
            "list of 1: [{'id': 1, 'name': 'Alice'}]",
            "list of 13: [{'id': 1, 'name': 'Alice'}, {'id': 2, 'name': 'Bob'}, "
            "{'id': 3, 'name': 'Carol'}, ... 10 more]",
        ),
        "unique().all()": (
            EMPTY,
            "list of 1: [Row(1, 'Alice')]",
            "list of 13: [Row(1, 'Alice'), Row(2, 'Bob'), Row(3, 'Carol'), ... 10 more]",
        ),
    },
    "one-column": {
        "all()": (
            EMPTY,
            "list of 1: [Row('Alice')]",
            "list of 13: [Row('Alice'), Row('Bob'), Row('Carol'), ... 10 more]",
        ),
        "first()": ("None", "Row('Alice')", "Row('Alice')"),
        "one()": (NO_ROW, "Row('Alice')", NOT_ONE),
        "one_or_none()": ("None", "Row('Alice')", NOT_ONE_OR_NONE),
        "scalar()": ("None", "'Alice'", "'Alice'"),
        "scalar_one()": (NO_ROW, "'Alice'", NOT_ONE),
        "scalar_one_or_none()": ("None", "'Alice'", NOT_ONE_OR_NONE),
        "scalars().all()": (
            EMPTY,
            "list of 1: ['Alice']",
            "list of 13: ['Alice', 'Bob', 'Carol', ... 10 more]",
        ),
        "scalars().first()": ("None", "'Alice'", "'Alice'"),
        "mappings().all()": (
            EMPTY,
            "list of 1: [{'name': 'Alice'}]",
            "list of 13: [{'name': 'Alice'}, {'name': 'Bob'}, {'name': 'Carol'}, ... 10 more]",
        ),
        "unique().all()": (
            EMPTY,
            "list of 1: [Row('Alice')]",
            "list of 13: [Row('Alice'), Row('Bob'), Row('Carol'), ... 10 more]",
        ),
    },
}


@pytest.mark.parametrize("name", list(STATEMENTS))
async def test_table_matches_sqlalchemy(seeded: AsyncEngine, name: str) -> None:
    table = await result_methods(STATEMENTS[name])
    assert list(table.columns) == CASES
    assert list(table.index) == METHOD_NAMES
    assert table.index.name == "method"
    for method in METHOD_NAMES:
        cells = tuple(table.loc[method, case] for case in CASES)
        assert cells == EXPECTED[name][method], method


async def test_table_says_what_each_method_does(seeded: AsyncEngine) -> None:
    # The facts a learner reads from the table, stated independently of the formatter.
    table = await result_methods(select(User).order_by(User.id))
    raises = {
        (m, c): table.loc[m, c].split(":")[0]
        for m in METHOD_NAMES
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
