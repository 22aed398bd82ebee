"""The models: tables, typed columns, constraints, ``to_dict``, a ``__repr__`` without addresses."""

from __future__ import annotations

import re

from sqlalchemy import CheckConstraint, Integer, String, inspect, select
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncEngine
from sqlalchemy.orm import DeclarativeBase, selectinload

from ormkit import Base, Post, User, async_session, get_user, get_user_posts, sample_data

ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}| at 0x|object at")


def test_base_is_declarative_with_async_attrs() -> None:
    assert issubclass(Base, DeclarativeBase)
    assert issubclass(Base, AsyncAttrs)
    assert set(Base.metadata.tables) == {"users", "posts"}


def test_user_and_post_columns() -> None:
    users = User.__table__
    assert [c.name for c in users.columns] == ["id", "name", "age"]
    assert users.c.id.primary_key
    assert isinstance(users.c.name.type, String)
    assert users.c.name.type.length == 50
    assert not users.c.name.nullable
    assert isinstance(users.c.age.type, Integer)
    assert not users.c.age.nullable
    posts = Post.__table__
    assert [c.name for c in posts.columns] == ["id", "title", "user_id"]
    assert not posts.c.user_id.nullable
    (fk,) = posts.c.user_id.foreign_keys
    assert fk.target_fullname == "users.id"
    assert fk.ondelete == "CASCADE"


def test_relationships_are_declared_on_both_sides() -> None:
    user_posts = inspect(User).relationships["posts"]
    post_user = inspect(Post).relationships["user"]
    assert user_posts.back_populates == "user"
    assert post_user.back_populates == "posts"
    assert user_posts.mapper.class_ is Post
    assert post_user.mapper.class_ is User
    assert user_posts.cascade.delete
    assert user_posts.cascade.delete_orphan


def test_check_constraints_are_declared() -> None:
    names = {
        c.name for c in User.__table__.constraints if isinstance(c, CheckConstraint) and c.name
    }
    assert {"ck_users_name_length", "ck_users_age_range"} <= names


def test_user_to_dict_has_the_seed_shape() -> None:
    user = User(id=1, name="Ada", age=36)
    assert user.to_dict() == {"id": 1, "name": "Ada", "age": 36}
    assert list(user.to_dict()) == ["id", "name", "age"]


def test_post_to_dict() -> None:
    post = Post(id=2, title="Hello", user_id=1)
    assert post.to_dict() == {"id": 2, "title": "Hello", "user_id": 1}


def test_to_dict_of_a_new_object_has_no_id_yet() -> None:
    assert User(name="Ada", age=36).to_dict() == {"id": None, "name": "Ada", "age": 36}


def test_repr_shows_fields_and_no_memory_address() -> None:
    assert repr(User(id=1, name="Ada", age=36)) == "User(id=1, name='Ada', age=36)"
    assert repr(Post(id=2, title="Hi", user_id=1)) == "Post(id=2, title='Hi', user_id=1)"
    assert repr(User(name="O'Brien", age=1)) == 'User(id=None, name="O\'Brien", age=1)'
    assert not ADDRESS.search(repr(User(name="Ada", age=36)))


async def test_loaded_objects_to_dict_and_repr(seeded: AsyncEngine) -> None:
    user = await get_user(12)
    assert user is not None
    assert user.to_dict() == {"id": 12, "name": "Kieran O'Brien", "age": 38}
    assert repr(user) == 'User(id=12, name="Kieran O\'Brien", age=38)'
    posts = await get_user_posts(1)
    assert [p.to_dict() for p in posts] == [
        {"id": pid, "title": title, "user_id": uid}
        for pid, uid, title in sample_data.POSTS
        if uid == 1
    ]
    for obj in (user, *posts):
        assert not ADDRESS.search(repr(obj))
    # repr of a loaded object never triggers lazy loading (no relationship in it).
    assert "posts" not in repr(user)


async def test_awaitable_attrs_loads_a_relationship(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        user = await session.get(User, 1)
        assert user is not None
        posts = await user.awaitable_attrs.posts
        assert [p.id for p in posts] == [1, 2, 3]
        post = await session.get(Post, 4)
        assert post is not None
        author = await post.awaitable_attrs.user
        assert author.name == "Bob"


async def test_posts_relationship_is_ordered_by_id(seeded: AsyncEngine) -> None:
    async with async_session() as session:
        result = await session.execute(
            select(User).options(selectinload(User.posts)).order_by(User.id)
        )
        users = result.scalars().all()
    for user in users:
        ids = [p.id for p in user.posts]
        assert ids == sorted(ids)
    assert {u.id for u in users if not u.posts} == {6, 10, 13}
