"""The CRUD coroutines on real databases: return values, ``session=`` mode, cascades, concurrency.

Bad input is in ``test_validation.py``; this module is about what a correct call does.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import (
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
    list_users,
    read_frame,
    sample_data,
    update_user_age,
    update_user_name,
)

N_USERS = len(sample_data.USERS)
N_POSTS = len(sample_data.POSTS)


def is_memory(engine: AsyncEngine) -> bool:
    """An in-memory SQLite database has one connection: a second session cannot look in."""
    return engine.dialect.name == "sqlite" and not engine.url.database


async def all_users() -> list[tuple[int, str, int]]:
    async with async_session() as session:
        result = await session.execute(select(User.id, User.name, User.age).order_by(User.id))
        return [tuple(row) for row in result]


async def post_count(user_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(Post)
    if user_id is not None:
        stmt = stmt.where(Post.user_id == user_id)
    async with async_session() as session:
        return (await session.execute(stmt)).scalar_one()


# --- create -----------------------------------------------------------------------------------


async def test_add_user_returns_the_stored_user_with_its_new_id(seeded: AsyncEngine) -> None:
    user = await add_user("Ada", 36)
    assert isinstance(user, User)
    assert (user.id, user.name, user.age) == (N_USERS + 1, "Ada", 36)
    assert repr(user) == f"User(id={N_USERS + 1}, name='Ada', age=36)"
    stored = await get_user(user.id)
    assert stored is not None
    assert stored.to_dict() == {"id": N_USERS + 1, "name": "Ada", "age": 36}


async def test_add_user_into_an_empty_table_starts_at_id_1(kit_db: AsyncEngine) -> None:
    first = await add_user("Ada", 36)
    second = await add_user("Linus", 28)
    assert (first.id, second.id) == (1, 2)
    assert await count_users() == 2


async def test_add_user_accepts_the_boundary_values(kit_db: AsyncEngine) -> None:
    await add_user("A", 0)
    await add_user("x" * 50, 150)
    assert await all_users() == [(1, "A", 0), (2, "x" * 50, 150)]


async def test_add_many_users_returns_the_count_and_stores_every_row(kit_db: AsyncEngine) -> None:
    rows = [("Ada", 36), ("Linus", 28), ("Grace", 85)]
    assert await add_many_users(rows) == 3
    assert await all_users() == [(1, "Ada", 36), (2, "Linus", 28), (3, "Grace", 85)]


async def test_add_many_users_accepts_any_iterable_of_pairs(kit_db: AsyncEngine) -> None:
    assert await add_many_users(iter([["Ada", 36], ("Linus", 28)])) == 2
    assert await add_many_users((name, 40) for name in ("A", "B")) == 2
    assert await all_users() == [(1, "Ada", 36), (2, "Linus", 28), (3, "A", 40), (4, "B", 40)]


async def test_add_many_users_with_no_rows_adds_nothing(seeded: AsyncEngine) -> None:
    assert await add_many_users([]) == 0
    assert await count_users() == N_USERS


async def test_add_many_users_large_batch(kit_db: AsyncEngine) -> None:
    rows = [(f"user {i}", i % 151) for i in range(5_000)]
    assert await add_many_users(rows) == 5_000
    assert await count_users() == 5_000
    stored = await all_users()
    assert stored[0] == (1, "user 0", 0)
    assert stored[-1] == (5_000, "user 4999", 4999 % 151)


async def test_add_post_returns_the_post_linked_to_its_user(seeded: AsyncEngine) -> None:
    post = await add_post(6, "Frank's first post")
    assert isinstance(post, Post)
    assert post.to_dict() == {"id": N_POSTS + 1, "title": "Frank's first post", "user_id": 6}
    assert [p.title for p in await get_user_posts(6)] == ["Frank's first post"]


async def test_add_post_to_a_missing_user_raises_and_writes_nothing(seeded: AsyncEngine) -> None:
    with pytest.raises(ValueError, match=r"user_id .*999") as info:
        await add_post(999, "Orphan")
    assert isinstance(info.value, ValidationError)
    assert info.value.field == "user_id"
    assert info.value.value == 999
    assert await post_count() == N_POSTS


# --- read -------------------------------------------------------------------------------------


async def test_get_user_returns_the_user_or_none(seeded: AsyncEngine) -> None:
    user = await get_user(1)
    assert user is not None
    assert user.to_dict() == {"id": 1, "name": "Alice", "age": 30}
    assert await get_user(999) is None
    assert await get_user(0) is None
    assert await get_user(-1) is None


async def test_get_user_by_name(seeded: AsyncEngine) -> None:
    user = await get_user_by_name("Kieran O'Brien")
    assert user is not None
    assert user.id == 12
    assert await get_user_by_name("Nobody") is None
    duplicate = await add_user("Alice", 99)
    found = await get_user_by_name("Alice")
    assert found is not None
    assert found.id == 1  # the lowest id wins, deterministically
    assert duplicate.id != found.id


async def test_get_user_with_posts_loads_posts_for_async_use(seeded: AsyncEngine) -> None:
    user = await get_user_with_posts(1)
    assert user is not None
    # Loaded eagerly, so reading it after the session closed needs no IO.
    assert [p.id for p in user.posts] == [1, 2, 3]
    assert all(p.user_id == 1 for p in user.posts)
    frank = await get_user_with_posts(6)
    assert frank is not None
    assert frank.posts == []
    assert await get_user_with_posts(999) is None


async def test_list_users_is_ordered_and_pages(seeded: AsyncEngine) -> None:
    users = await list_users()
    assert [u.id for u in users] == list(range(1, N_USERS + 1))
    assert [u.name for u in users] == [name for _, name, _ in sample_data.USERS]
    assert [u.id for u in await list_users(limit=3)] == [1, 2, 3]
    assert [u.id for u in await list_users(limit=3, offset=3)] == [4, 5, 6]
    assert [u.id for u in await list_users(offset=N_USERS - 1)] == [N_USERS]
    assert list(await list_users(offset=N_USERS)) == []


async def test_count_users(kit_db: AsyncEngine) -> None:
    assert await count_users() == 0
    await add_user("Ada", 36)
    assert await count_users() == 1


async def test_get_user_posts_ordered_and_empty_for_none(seeded: AsyncEngine) -> None:
    posts = await get_user_posts(1)
    assert [p.id for p in posts] == [1, 2, 3]
    assert [p.title for p in posts] == [t for _, uid, t in sample_data.POSTS if uid == 1]
    assert list(await get_user_posts(6)) == []  # Frank has no posts
    assert list(await get_user_posts(999)) == []  # no such user: empty, not an error


# --- update -----------------------------------------------------------------------------------


async def test_update_user_name_returns_the_updated_user(seeded: AsyncEngine) -> None:
    user = await update_user_name(1, "Alicia")
    assert user is not None
    assert user.to_dict() == {"id": 1, "name": "Alicia", "age": 30}
    stored = await get_user(1)
    assert stored is not None
    assert stored.name == "Alicia"
    assert (await get_user(2)).name == "Bob"  # type: ignore[union-attr]


async def test_update_user_age_returns_the_updated_user(seeded: AsyncEngine) -> None:
    user = await update_user_age(2, 26)
    assert user is not None
    assert user.to_dict() == {"id": 2, "name": "Bob", "age": 26}
    assert (await get_user(2)).age == 26  # type: ignore[union-attr]


async def test_update_missing_user_returns_none_and_changes_nothing(seeded: AsyncEngine) -> None:
    before = await all_users()
    assert await update_user_name(999, "Ghost") is None
    assert await update_user_age(999, 40) is None
    assert await all_users() == before


# --- delete -----------------------------------------------------------------------------------


async def test_delete_user_returns_true_then_false(seeded: AsyncEngine) -> None:
    assert await delete_user(6) is True
    assert await get_user(6) is None
    assert await count_users() == N_USERS - 1
    assert await delete_user(6) is False
    assert await delete_user(999) is False
    assert await count_users() == N_USERS - 1


async def test_delete_user_deletes_their_posts(seeded: AsyncEngine) -> None:
    assert await post_count(1) == 3
    assert await delete_user(1) is True
    assert await post_count(1) == 0
    assert await post_count() == N_POSTS - 3
    assert list(await get_user_posts(1)) == []


async def test_delete_user_with_posts_loaded_in_the_session(seeded: AsyncEngine) -> None:
    # The ORM cascade (posts already in the identity map) and the database's ON DELETE CASCADE
    # must agree: either route leaves no orphans.
    async with async_session() as session:
        user = await get_user_with_posts(4, session=session)
        assert user is not None
        assert len(user.posts) == 3
        assert await delete_user(4, session=session) is True
        await session.commit()
    assert await post_count(4) == 0
    assert await post_count() == N_POSTS - 3


async def test_core_delete_of_a_user_cascades_to_posts(seeded: AsyncEngine) -> None:
    # A bulk DELETE bypasses the ORM entirely: only the database's ON DELETE CASCADE acts.
    async with seeded.begin() as conn:
        await conn.execute(delete(User).where(User.id.in_([1, 4])))
    assert await post_count(1) == 0
    assert await post_count(4) == 0
    assert await post_count() == N_POSTS - 6
    orphans = select(func.count()).select_from(Post).where(~Post.user_id.in_(select(User.id)))
    async with seeded.connect() as conn:
        assert (await conn.execute(orphans)).scalar_one() == 0


# --- session= : the caller's transaction -------------------------------------------------------


async def test_session_mode_does_not_commit(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        user = await add_user("Ada", 36, session=session)
        assert user.id == N_USERS + 1  # flushed: the id is known before any commit
        assert await add_many_users([("B", 1), ("C", 2)], session=session) == 2
        renamed = await update_user_name(1, "Alicia", session=session)
        assert renamed is not None
        assert renamed.name == "Alicia"
        aged = await update_user_age(2, 99, session=session)
        assert aged is not None
        assert aged.age == 99
        assert await delete_user(6, session=session) is True
        post = await add_post(7, "Draft", session=session)
        assert post.id == N_POSTS + 1
        # Inside the transaction every change is visible...
        assert await count_users(session=session) == N_USERS + 3 - 1
        assert (await get_user(1, session=session)).name == "Alicia"  # type: ignore[union-attr]
        assert await get_user(6, session=session) is None
        assert len(await get_user_posts(7, session=session)) == 2
        assert session.in_transaction()
        await session.rollback()
    # ...and none of it was committed: rolling back undid all of it.
    assert await count_users() == N_USERS
    assert (await get_user(1)).name == "Alice"  # type: ignore[union-attr]
    assert (await get_user(2)).age == 25  # type: ignore[union-attr]
    assert await get_user(6) is not None
    assert await post_count() == N_POSTS


# Not on in-memory SQLite: its one connection means there is no second session to look from.
@pytest.mark.parametrize(
    "backend_url",
    [
        "sqlite-file",
        pytest.param("postgresql", marks=pytest.mark.servers),
        pytest.param("mysql", marks=pytest.mark.servers),
    ],
    indirect=True,
)
async def test_session_mode_is_invisible_to_other_sessions_until_commit(
    seeded: AsyncEngine,
) -> None:
    async with async_session() as session:
        await add_user("Ada", 36, session=session)
        await update_user_name(1, "Alicia", session=session)
        await delete_user(6, session=session)
        # Another session (its own connection) sees the committed state only.
        assert await count_users() == N_USERS
        assert (await get_user(1)).name == "Alice"  # type: ignore[union-attr]
        assert await get_user(6) is not None
        await session.commit()
    assert await count_users() == N_USERS
    assert (await get_user_by_name("Ada")) is not None
    assert (await get_user(1)).name == "Alicia"  # type: ignore[union-attr]
    assert await get_user(6) is None


async def test_session_mode_commit_is_the_callers(seeded: AsyncEngine) -> None:
    async with async_session.begin() as session:
        await add_user("Ada", 36, session=session)
        await add_post(N_USERS + 1, "Hello", session=session)
    ada = await get_user_by_name("Ada")
    assert ada is not None
    assert [p.title for p in await get_user_posts(ada.id)] == ["Hello"]


async def test_failure_inside_callers_transaction_rolls_back_everything(
    seeded: AsyncEngine,
) -> None:
    with pytest.raises(ValueError, match="age"):
        async with async_session.begin() as session:
            await add_user("Ada", 36, session=session)
            await add_user("Bob", -5, session=session)
    assert await count_users() == N_USERS


# --- verbatim text ----------------------------------------------------------------------------

TRICKY_NAMES = [
    "Robert'); DROP TABLE users;--",
    "O'Brien",
    'say "hi"',
    "back\\slash",
    "50% _off_",
    "semi; colon -- comment /* c */",
    "emoji 🎉👩🏽‍💻",
    "中文名字",
    "日本語のなまえ",
    "עברית",
    "مرحبا",
    "e\u0301 combining",  # e + COMBINING ACUTE ACCENT, not the precomposed é
    "é precomposed",
    "zero\u200bwidth",
    "tab\tand\nnewline",
    "  padded  ",
    "x" * 49 + "🎉",  # 50 characters, one of them 4 bytes in UTF-8
]


async def test_tricky_text_round_trips_verbatim(kit_db: AsyncEngine) -> None:
    for name in TRICKY_NAMES:
        user = await add_user(name, 30)
        stored = await get_user(user.id)
        assert stored is not None
        assert stored.name == name
        assert await get_user_by_name(name) is not None
    assert [name for _, name, _ in await all_users()] == TRICKY_NAMES


async def test_tricky_text_round_trips_through_batches_updates_and_posts(
    kit_db: AsyncEngine,
) -> None:
    assert await add_many_users([(name, 20) for name in TRICKY_NAMES]) == len(TRICKY_NAMES)
    assert [name for _, name, _ in await all_users()] == TRICKY_NAMES
    for user_id, name in enumerate(reversed(TRICKY_NAMES), start=1):
        await update_user_name(user_id, name)
    assert [name for _, name, _ in await all_users()] == list(reversed(TRICKY_NAMES))
    for title in TRICKY_NAMES:
        await add_post(1, title)
    assert [p.title for p in await get_user_posts(1)] == TRICKY_NAMES
    assert await count_users() == len(TRICKY_NAMES)  # the DROP TABLE did not run


# --- concurrency ------------------------------------------------------------------------------


async def _many_writers(n: int) -> None:
    results = await asyncio.gather(
        *(add_user(f"writer {i}", i % 151) for i in range(n)), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert sorted(u.id for u in results) == list(range(N_USERS + 1, N_USERS + n + 1))  # type: ignore[union-attr]
    assert await count_users() == N_USERS + n
    async with async_session() as session:
        stored = set(
            (await session.execute(select(User.name).where(User.name.like("writer %")))).scalars()
        )
    assert stored == {f"writer {i}" for i in range(n)}


async def test_500_concurrent_add_user_on_a_file_database(file_db: AsyncEngine) -> None:
    await _many_writers(500)


async def test_500_concurrent_add_user_on_every_backend(seeded: AsyncEngine) -> None:
    await _many_writers(500)


async def test_concurrent_reads_and_writes_lose_nothing(seeded: AsyncEngine) -> None:
    # Reads end with a ROLLBACK; on a shared connection that used to undo concurrent INSERTs.
    writes = [add_user(f"w{i}", 30) for i in range(100)]
    reads = [get_user(1 + i % N_USERS) for i in range(100)]
    results = await asyncio.gather(*(c for pair in zip(writes, reads, strict=True) for c in pair))
    assert all(r is not None for r in results)
    assert await count_users() == N_USERS + 100


async def test_numbers_taken_from_a_dataframe_are_accepted(seeded: AsyncEngine) -> None:
    # read_frame gives numpy integers; feeding them back must work and store plain ints.
    import numpy as np

    df = await read_frame(select(User.id, User.age).where(User.id == 2))
    user_id, age = df["id"].iloc[0], df["age"].iloc[0]
    assert isinstance(user_id, np.integer)
    assert (await update_user_age(user_id, age + 1)).age == 26  # type: ignore[union-attr]
    added = await add_user("Numpy", np.int64(40))
    assert type(added.age) is int
    assert await add_many_users([("Np", np.int32(7))]) == 1
    assert (await get_user(np.int64(2))).name == "Bob"  # type: ignore[union-attr]
    assert await delete_user(np.int64(2)) is True
