"""Statements and results to DataFrames: column names, dtypes (integers stay integers), NULLs."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import Numeric, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import (
    Post,
    User,
    add_user,
    async_session,
    get_user,
    list_users,
    read_frame,
    sample_data,
    to_frame,
)

USER_COLUMNS = ["id", "name", "age"]
N_USERS = len(sample_data.USERS)


def is_str(dtype: object) -> bool:
    """pandas 3 gives text its ``str`` dtype (missing values are NaN)."""
    return pd.api.types.is_string_dtype(dtype) and str(dtype) == "str"


def assert_users_frame(df: pd.DataFrame, n: int = N_USERS) -> None:
    assert list(df.columns) == USER_COLUMNS
    assert str(df["id"].dtype) == "int64"
    assert str(df["age"].dtype) == "int64"
    assert is_str(df["name"].dtype)
    expected = [list(u) for u in sample_data.USERS[:n]]
    assert df.to_numpy().tolist() == expected


# --- read_frame -------------------------------------------------------------------------------


async def test_read_frame_of_an_entity_select(seeded: AsyncEngine) -> None:
    df = await read_frame(select(User).order_by(User.id))
    assert_users_frame(df)
    assert list(df.index) == list(range(N_USERS))


async def test_read_frame_of_columns_and_labels(seeded: AsyncEngine) -> None:
    stmt = select(User.age.label("years"), User.name).where(User.age > 40).order_by(User.age.desc())
    df = await read_frame(stmt)
    assert list(df.columns) == ["years", "name"]
    assert str(df["years"].dtype) == "int64"
    assert df.to_numpy().tolist() == sorted(
        ([a, n] for _, n, a in sample_data.USERS if a > 40), reverse=True
    )


async def test_read_frame_of_an_aggregate(seeded: AsyncEngine) -> None:
    stmt = (
        select(Post.user_id, func.count(Post.id).label("posts"))
        .group_by(Post.user_id)
        .order_by(Post.user_id)
    )
    df = await read_frame(stmt)
    assert list(df.columns) == ["user_id", "posts"]
    assert str(df["user_id"].dtype) == "int64"
    assert str(df["posts"].dtype) == "int64"
    assert df.set_index("user_id")["posts"].to_dict() == {
        1: 3, 2: 2, 3: 1, 4: 3, 5: 1, 7: 1, 8: 2, 9: 1, 11: 1, 12: 1,
    }  # fmt: skip


async def test_read_frame_of_several_entities_uses_dotted_names(seeded: AsyncEngine) -> None:
    stmt = select(User, Post).join(Post, Post.user_id == User.id).order_by(Post.id)
    df = await read_frame(stmt)
    assert list(df.columns) == [
        "User.id", "User.name", "User.age", "Post.id", "Post.title", "Post.user_id",
    ]  # fmt: skip
    assert len(df) == len(sample_data.POSTS)
    for column in ("User.id", "User.age", "Post.id", "Post.user_id"):
        assert str(df[column].dtype) == "int64"
    assert (df["User.id"] == df["Post.user_id"]).all()
    assert df.iloc[0].tolist() == [1, "Alice", 30, 1, "Hello, async world", 1]


async def test_read_frame_outer_join_nulls_are_missing_values(seeded: AsyncEngine) -> None:
    stmt = (
        select(User.name, Post.id.label("post_id"), Post.title)
        .outerjoin(Post, Post.user_id == User.id)
        .order_by(User.id, Post.id)
    )
    df = await read_frame(stmt)
    assert list(df.columns) == ["name", "post_id", "title"]
    # An integer column with NULLs becomes nullable Int64 (<NA>), not float64.
    assert str(df["post_id"].dtype) == "Int64"
    assert is_str(df["title"].dtype)
    no_posts = df[df["post_id"].isna()]
    assert no_posts["name"].tolist() == ["Frank", "Judy", "Mallory"]
    assert no_posts["title"].isna().all()
    assert no_posts["post_id"].tolist() == [pd.NA, pd.NA, pd.NA]
    assert df["post_id"].dropna().tolist() == list(range(1, len(sample_data.POSTS) + 1))
    assert len(df) == len(sample_data.POSTS) + 3


async def test_read_frame_of_a_sql_string(seeded: AsyncEngine) -> None:
    df = await read_frame("SELECT id, name, age FROM users ORDER BY id")
    assert_users_frame(df)


async def test_read_frame_of_an_empty_entity_select_keeps_columns(seeded: AsyncEngine) -> None:
    df = await read_frame(select(User).where(User.id < 0))
    assert list(df.columns) == USER_COLUMNS
    assert len(df) == 0
    assert str(df["id"].dtype) == "int64"
    assert str(df["age"].dtype) == "int64"


async def test_read_frame_in_a_session_sees_uncommitted_rows(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        await add_user("Uncommitted", 33, session=session)
        df = await read_frame(select(User).order_by(User.id), session=session)
        assert df["name"].tolist()[-1] == "Uncommitted"
        assert len(df) == N_USERS + 1
        await session.rollback()
    assert len(await read_frame(select(User))) == N_USERS


async def test_read_frame_on_another_engine(seeded: AsyncEngine) -> None:
    df = await read_frame(select(User).order_by(User.id).limit(2), engine=seeded)
    assert_users_frame(df, n=2)


# --- to_frame ---------------------------------------------------------------------------------


async def test_to_frame_of_a_result(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        result = await session.execute(select(User).order_by(User.id))
        df = to_frame(result)
    assert_users_frame(df)


async def test_to_frame_of_rows(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        result = await session.execute(select(User.id, User.name).order_by(User.id).limit(3))
        rows = result.all()
    df = to_frame(rows)
    assert list(df.columns) == ["id", "name"]
    assert str(df["id"].dtype) == "int64"
    assert df.to_numpy().tolist() == [[1, "Alice"], [2, "Bob"], [3, "Carol"]]


async def test_to_frame_of_rows_with_two_entities(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        stmt = select(User, Post).join(Post, Post.user_id == User.id).order_by(Post.id).limit(2)
        rows = (await session.execute(stmt)).all()
    df = to_frame(rows)
    assert list(df.columns)[:4] == ["User.id", "User.name", "User.age", "Post.id"]
    assert df.iloc[1].tolist() == [1, "Alice", 30, 2, "Sessions are not thread-safe", 1]


async def test_to_frame_of_orm_objects(seeded: AsyncEngine) -> None:
    users = await list_users()
    assert_users_frame(to_frame(users))
    assert_users_frame(to_frame(list(users)[:1]), n=1)


async def test_to_frame_of_a_single_object(seeded: AsyncEngine) -> None:
    user = await get_user(1)
    df = to_frame(user)
    assert_users_frame(df, n=1)


async def test_to_frame_of_mappings(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        result = await session.execute(select(User.name, User.age).order_by(User.id).limit(2))
        mappings = result.mappings().all()
    df = to_frame(mappings)
    assert df.to_dict("records") == [{"name": "Alice", "age": 30}, {"name": "Bob", "age": 25}]


def test_to_frame_of_dicts_with_missing_values() -> None:
    df = to_frame([{"id": 1, "score": 10}, {"id": 2, "score": None}])
    assert list(df.columns) == ["id", "score"]
    assert str(df["id"].dtype) == "int64"
    assert str(df["score"].dtype) == "Int64"
    assert df["score"].tolist() == [10, pd.NA]


def test_to_frame_of_scalars() -> None:
    df = to_frame([3, 1, 2])
    assert list(df.columns) == ["value"]
    assert df["value"].tolist() == [3, 1, 2]
    assert str(df["value"].dtype) == "int64"


def test_to_frame_of_nothing() -> None:
    for empty in ([], (), iter([])):
        df = to_frame(empty)
        assert df.empty
        assert list(df.columns) == []


async def test_to_frame_of_an_empty_result_keeps_its_columns(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        result = await session.execute(select(User.id, User.name).where(User.id < 0))
        assert list(to_frame(result).columns) == ["id", "name"]
        result = await session.execute(select(User).where(User.id < 0))
        df = to_frame(result)
    assert list(df.columns) == USER_COLUMNS
    assert df.empty


def test_to_frame_of_new_objects_without_ids() -> None:
    df = to_frame([User(name="Ada", age=36), User(name="Linus", age=28)])
    assert list(df.columns) == USER_COLUMNS
    assert df["id"].isna().all()
    assert df["age"].tolist() == [36, 28]


@pytest.mark.parametrize("bad", [object(), 42])
def test_to_frame_of_something_else_is_an_error(bad: object) -> None:
    with pytest.raises(TypeError):
        to_frame(bad)


async def test_to_frame_expands_an_entity_whose_first_row_is_null(seeded: AsyncEngine) -> None:
    # Newest user first: Mallory (13) has no posts, so the Post column starts with None.
    stmt = select(User, Post).outerjoin(Post).order_by(User.id.desc(), Post.id)
    async with async_session() as session:
        df = to_frame(await session.execute(stmt))
    assert list(df.columns) == [
        "User.id",
        "User.name",
        "User.age",
        "Post.id",
        "Post.title",
        "Post.user_id",
    ]
    assert pd.isna(df.loc[0, "Post.id"])
    assert str(df["Post.id"].dtype) == "Int64"


async def test_averages_are_floats_on_every_backend(seeded: AsyncEngine) -> None:
    # PostgreSQL and MariaDB return AVG() as Decimal, SQLite as float: the frame is float64 on all.
    df = await read_frame(select(func.avg(User.age).label("avg_age")))
    assert df["avg_age"].dtype == "float64"
    assert df["avg_age"].iloc[0] == pytest.approx(506 / 13, abs=1e-3)


async def test_an_empty_result_keeps_the_text_dtype(seeded: AsyncEngine) -> None:
    empty = await read_frame(select(User).where(User.id < 0))
    full = await read_frame(select(User))
    assert empty.dtypes.to_dict() == full.dtypes.to_dict()


async def test_numeric_columns_are_floats_not_decimals(seeded: AsyncEngine) -> None:
    # NUMERIC comes back as Decimal on every backend, SQLite included (SQLAlchemy converts it):
    # pandas would keep Decimal objects in an object column, slow and unusable for arithmetic.
    # (On PostgreSQL this once raised TypeError: asyncpg's NUMERIC processor needs a type code.)
    stmt = select(User.id, cast(User.age, Numeric(10, 2)).label("age")).order_by(User.id)
    async with async_session() as session:
        rows = (await session.execute(stmt)).all()
    assert isinstance(rows[0].age, Decimal)
    expected = [float(age) for _, _, age in sample_data.USERS]
    df = await read_frame(stmt)
    assert str(df["age"].dtype) == "float64"
    assert df["age"].tolist() == expected
    from_rows = to_frame(rows)
    assert str(from_rows["age"].dtype) == "float64"
    assert from_rows["age"].tolist() == expected


def test_decimals_in_hand_become_floats() -> None:
    df = to_frame([{"price": Decimal("1.50")}, {"price": Decimal("2.25")}])
    assert str(df["price"].dtype) == "float64"
    assert df["price"].tolist() == [1.5, 2.25]
    scalars = to_frame([Decimal("0.1"), Decimal("3")])
    assert str(scalars["value"].dtype) == "float64"
    assert scalars["value"].tolist() == [0.1, 3.0]


@pytest.mark.parametrize("data", ["abc", b"abc"])
def test_to_frame_refuses_a_string_instead_of_rows(data: object) -> None:
    # A string is iterable: without the check it became one row per character.
    with pytest.raises(TypeError, match="needs rows"):
        to_frame(data)
