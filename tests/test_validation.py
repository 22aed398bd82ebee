"""Bad input is refused with a message naming the field and the value, and nothing is written.

Python validation first (clear messages), then the database's own CHECK / FOREIGN KEY constraints,
exercised by writing around the Python layer with Core ``insert()`` / ``update()``.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import (
    InvalidTypeError,
    Post,
    User,
    ValidationError,
    add_many_users,
    add_post,
    add_user,
    async_session,
    count_users,
    delete_user,
    get_user,
    get_user_by_name,
    get_user_posts,
    get_user_with_posts,
    sample_data,
    update_user_age,
    update_user_name,
)

N_USERS = len(sample_data.USERS)
LONG = "x" * 100_000

# Python validation raises before any SQL is sent, so the big input matrices run on in-memory
# SQLite only (the backend_url fixture overridden); one case per kind runs on every backend.
memory_only = pytest.mark.parametrize("backend_url", ["sqlite+aiosqlite://"], ids=["memory"])


async def table_snapshot() -> list[tuple[Any, ...]]:
    async with async_session() as session:
        users = await session.execute(select(User.id, User.name, User.age).order_by(User.id))
        posts = await session.execute(select(Post.id, Post.user_id, Post.title).order_by(Post.id))
        return [tuple(r) for r in users] + [tuple(r) for r in posts]


# --- add_user ---------------------------------------------------------------------------------

BAD_USERS = [
    # (name, age, field, text the message must contain, also a TypeError)
    ("", 30, "name", "''", False),
    ("   ", 30, "name", "'   '", False),
    ("\t\n", 30, "name", r"'\t\n'", False),
    (None, 30, "name", "None", True),
    (42, 30, "name", "42", True),
    (True, 30, "name", "True", True),
    (b"Bob", 30, "name", "b'Bob'", True),
    (LONG, 30, "name", "100,000 characters", False),
    ("x" * 51, 30, "name", "51 characters", False),
    ("Bob", -5, "age", "-5", False),
    ("Bob", 151, "age", "151", False),
    ("Bob", "thirty", "age", "'thirty'", True),
    ("Bob", "30", "age", "'30'", True),
    ("Bob", 30.0, "age", "30.0", True),
    ("Bob", 30.5, "age", "30.5", True),
    ("Bob", None, "age", "None", True),
    ("Bob", True, "age", "True", True),
    ("Bob", False, "age", "False", True),
]


@memory_only
@pytest.mark.parametrize(
    ("name", "age", "field", "shown", "is_type"),
    BAD_USERS,
    ids=[f"{f}={n!r:.12}|{a!r:.8}" for n, a, f, _, _ in BAD_USERS],
)
async def test_add_user_refuses_bad_input(
    seeded: AsyncEngine, name: Any, age: Any, field: str, shown: str, is_type: bool
) -> None:
    before = await table_snapshot()
    with pytest.raises(ValueError) as info:
        await add_user(name, age)
    error = info.value
    assert isinstance(error, ValidationError)
    assert error.field == field
    assert error.value is name if field == "name" else error.value is age
    message = str(error)
    assert message.startswith(f"{field} ")
    assert shown in message
    assert isinstance(error, TypeError) is is_type
    assert len(message) < 200  # a 100,000-character name is not echoed whole
    assert await table_snapshot() == before


async def test_messages_read_well() -> None:
    with pytest.raises(ValidationError) as info:
        await add_user("", 30)
    assert str(info.value) == "name must not be empty or blank, got ''"
    with pytest.raises(ValidationError) as info:
        await add_user("Bob", -5)
    assert str(info.value) == "age must be between 0 and 150, got -5"
    with pytest.raises(InvalidTypeError) as info:
        await add_user("Bob", "thirty")
    assert str(info.value) == "age must be an integer, not str, got 'thirty'"
    with pytest.raises(InvalidTypeError) as info:
        await add_user(None, 30)  # type: ignore[arg-type]
    assert str(info.value) == "name must be a string, not NoneType, got None"
    with pytest.raises(ValidationError) as info:
        await add_user(LONG, 30)
    assert str(info.value).startswith("name must be at most 50 characters, got 'xxx")
    assert str(info.value).endswith("(100,000 characters)")


# --- add_many_users: all or nothing -----------------------------------------------------------

GOOD = [("Ada", 36), ("Linus", 28), ("Grace", 85), ("Alan", 41)]
BAD_ROWS = [
    # (bad row, field suffix, text the message must contain)
    (("", 30), "name", "''"),
    ((None, 30), "name", "None"),
    (("Bob", -5), "age", "-5"),
    (("Bob", "thirty"), "age", "'thirty'"),
    ((LONG, 30), "name", "100,000 characters"),
    (("Bob", True), "age", "True"),
    (("  ", 30), "name", "'  '"),
    (("Bob",), "", "('Bob',)"),
    (("Bob", 30, "extra"), "", "('Bob', 30, 'extra')"),
    (None, "", "None"),
    ("Bo", "", "'Bo'"),  # a 2-character string unpacks into two values: still not a pair
]


@memory_only
@pytest.mark.parametrize("position", ["start", "middle", "end"])
@pytest.mark.parametrize(
    ("bad", "field", "shown"), BAD_ROWS, ids=[f"{b!r:.20}" for b, _, _ in BAD_ROWS]
)
async def test_add_many_users_bad_row_rejects_the_whole_batch(
    seeded: AsyncEngine, position: str, bad: Any, field: str, shown: str
) -> None:
    index = {"start": 0, "middle": 2, "end": len(GOOD)}[position]
    rows = [*GOOD[:index], bad, *GOOD[index:]]
    before = await table_snapshot()
    with pytest.raises(ValueError) as info:
        await add_many_users(rows)
    error = info.value
    assert isinstance(error, ValidationError)
    expected_field = f"users[{index}].{field}" if field else f"users[{index}]"
    assert error.field == expected_field
    assert str(error).startswith(expected_field + " ")
    assert shown in str(error)
    assert await table_snapshot() == before
    assert await count_users() == N_USERS


@memory_only
@pytest.mark.parametrize("rows", [None, 42, "Ada", b"Ada", ("Ada", 36)])
async def test_add_many_users_refuses_what_is_not_a_list_of_pairs(
    seeded: AsyncEngine, rows: Any
) -> None:
    with pytest.raises(ValueError):
        await add_many_users(rows)
    assert await count_users() == N_USERS


async def test_add_many_users_in_callers_session_refuses_before_writing(
    seeded: AsyncEngine,
) -> None:
    async with async_session() as session:
        await add_user("Kept", 20, session=session)
        with pytest.raises(ValueError, match=r"users\[1\]\.age"):
            await add_many_users([("A", 1), ("B", -1)], session=session)
        # Nothing of the batch reached the transaction; the caller's own work is intact.
        assert await count_users(session=session) == N_USERS + 1
        await session.commit()
    assert await count_users() == N_USERS + 1


# --- ids --------------------------------------------------------------------------------------

BAD_IDS = ["1", 1.0, None, True, False, b"1", [1]]
ID_FUNCTIONS = {
    "get_user": lambda i: get_user(i),
    "get_user_with_posts": lambda i: get_user_with_posts(i),
    "get_user_posts": lambda i: get_user_posts(i),
    "update_user_name": lambda i: update_user_name(i, "New"),
    "update_user_age": lambda i: update_user_age(i, 40),
    "delete_user": lambda i: delete_user(i),
    "add_post": lambda i: add_post(i, "Title"),
}


@memory_only
@pytest.mark.parametrize("bad_id", BAD_IDS, ids=repr)
@pytest.mark.parametrize("function", list(ID_FUNCTIONS))
async def test_wrong_id_type_is_a_type_and_value_error(
    seeded: AsyncEngine, function: str, bad_id: Any
) -> None:
    before = await table_snapshot()
    with pytest.raises(TypeError) as info:
        await ID_FUNCTIONS[function](bad_id)
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, InvalidTypeError)
    assert error.field == "user_id"
    assert str(error).startswith("user_id must be an integer id")
    assert repr(bad_id) in str(error)
    assert await table_snapshot() == before


async def test_update_refuses_bad_values_and_changes_nothing(seeded: AsyncEngine) -> None:
    before = await table_snapshot()
    for bad in ("", "  ", None, 7, LONG):
        with pytest.raises(ValueError, match=r"^new_name "):
            await update_user_name(1, bad)  # type: ignore[arg-type]
    for bad in (-1, 151, "40", 40.0, None, True):
        with pytest.raises(ValueError, match=r"^new_age "):
            await update_user_age(1, bad)  # type: ignore[arg-type]
    # Checked before looking the user up: a missing id does not hide a bad value.
    with pytest.raises(ValueError, match=r"^new_name "):
        await update_user_name(999, "")
    assert await table_snapshot() == before


async def test_add_post_refuses_bad_titles(seeded: AsyncEngine) -> None:
    before = await table_snapshot()
    for bad in ("", "   ", None, 3, "t" * 201):
        with pytest.raises(ValueError, match=r"^title "):
            await add_post(1, bad)  # type: ignore[arg-type]
    assert await table_snapshot() == before


async def test_setting_a_bad_attribute_on_a_model_raises_at_once() -> None:
    user = User(name="Ada", age=36)
    with pytest.raises(ValidationError, match=r"^age "):
        user.age = -1
    with pytest.raises(ValidationError, match=r"^name "):
        user.name = ""
    with pytest.raises(InvalidTypeError, match=r"^user_id "):
        Post(title="T", user_id="1")
    assert (user.name, user.age) == ("Ada", 36)


# --- the database's own constraints ------------------------------------------------------------

DB_BAD_USERS = [
    {"name": "", "age": 30},
    {"name": "x" * 51, "age": 30},
    {"name": "Bob", "age": -1},
    {"name": "Bob", "age": 151},
    {"name": None, "age": 30},
    {"name": "Bob", "age": None},
]


@pytest.mark.parametrize("values", DB_BAD_USERS, ids=lambda v: f"{v['name']!r:.10}|{v['age']}")
async def test_database_refuses_bad_users_written_around_python(
    seeded: AsyncEngine, values: dict[str, Any]
) -> None:
    with pytest.raises(IntegrityError):
        async with seeded.begin() as conn:
            await conn.execute(insert(User).values(**values))
    assert await count_users() == N_USERS


async def test_database_refuses_bad_updates_written_around_python(seeded: AsyncEngine) -> None:
    for values in ({"name": ""}, {"name": "y" * 51}, {"age": 200}):
        with pytest.raises(IntegrityError):
            async with seeded.begin() as conn:
                await conn.execute(update(User).where(User.id == 1).values(**values))
    assert (await get_user(1)).to_dict() == {"id": 1, "name": "Alice", "age": 30}  # type: ignore[union-attr]


async def test_one_bad_input_of_each_kind_writes_nothing_on_every_backend(
    seeded: AsyncEngine,
) -> None:
    before = await table_snapshot()
    for call in (
        lambda: add_user("", 30),
        lambda: add_user("Bob", "thirty"),
        lambda: add_many_users([*GOOD, ("Bob", -5)]),
        lambda: update_user_name("1", "X"),
        lambda: delete_user(True),
        lambda: add_post(999, "Orphan"),
    ):
        with pytest.raises(ValueError):
            await call()
    assert await table_snapshot() == before


async def test_database_name_limit_counts_characters_not_bytes(seeded: AsyncEngine) -> None:
    async with seeded.begin() as conn:
        await conn.execute(insert(User).values(name="é" * 50, age=30))
        await conn.execute(insert(User).values(name="🎉" * 50, age=30))
    assert await count_users() == N_USERS + 2


async def test_database_refuses_an_orphan_post(seeded: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with seeded.begin() as conn:
            await conn.execute(insert(Post).values(id=100, title="Orphan", user_id=999))
    async with seeded.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Post))).scalar_one() == len(
            sample_data.POSTS
        )


async def test_database_refuses_moving_a_post_to_a_missing_user(seeded: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with seeded.begin() as conn:
            await conn.execute(update(Post).where(Post.id == 1).values(user_id=999))


async def test_sqlite_connections_enforce_foreign_keys(sqlite_db: AsyncEngine) -> None:
    async with sqlite_db.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1


@pytest.mark.parametrize("name", ["\u200b", "\ufeff", " \u200b\u2060 ", "\u200d"])
async def test_a_name_that_prints_as_nothing_is_blank(seeded: AsyncEngine, name: str) -> None:
    with pytest.raises(ValidationError, match="must not be empty or blank"):
        await add_user(name, 30)
    assert await count_users() == 13


async def test_a_numpy_string_name_is_stored_as_a_plain_str(seeded: AsyncEngine) -> None:
    import numpy as np

    user = await add_user(np.str_("Numpy"), 30)
    assert type(user.name) is str
    stored = await get_user_by_name("Numpy")
    assert stored is not None and type(stored.name) is str


@pytest.mark.parametrize(
    ("name", "error", "shown"),
    [
        ("Bob\x00", ValidationError, "NUL"),
        ("Bob\udc80", ValidationError, "lone surrogate"),
        (42, InvalidTypeError, "must be a string"),
    ],
)
async def test_get_user_by_name_refuses_what_no_database_can_compare(
    seeded: AsyncEngine, name: Any, error: type[Exception], shown: str
) -> None:
    with pytest.raises(error, match=shown):
        await get_user_by_name(name)


async def test_get_user_by_name_finds_nothing_for_names_that_cannot_be_stored(
    seeded: AsyncEngine,
) -> None:
    assert await get_user_by_name("") is None
    assert await get_user_by_name("x" * 500) is None
