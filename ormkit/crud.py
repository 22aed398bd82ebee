"""CRUD coroutines with the cheat sheet's names and call forms, plus what the lessons need.

Every coroutine takes an optional keyword ``session=``. Without it, it opens its own session from
``async_session`` and commits. With it, it works inside the caller's transaction and does *not*
commit: the caller decides (``async with async_session.begin() as session: ...``).

Input is validated before anything reaches the database (:mod:`ormkit.validation`); a bad value
raises a ``ValueError`` subclass that names the field and the value, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy import CursorResult, delete, exc, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from . import db, fast
from .models import Post, User
from .validation import (
    ValidationError,
    check_age,
    check_count,
    check_id,
    check_lookup_text,
    check_name,
    check_title,
    check_user_rows,
)

T = TypeVar("T")


async def _run(
    work: Callable[[AsyncSession], Awaitable[T]], session: AsyncSession | None, *, write: bool
) -> T:
    """Run ``work`` in the caller's session, or in a new one committed (if writing) and closed.

    Through :func:`ormkit.db.run_transaction`: a cancel or kernel interrupt at any moment leaves
    the database all-or-nothing, unlocked, and the call's outcome truthful.
    """
    return await db.run_transaction(work, session=session, write=write)


async def add_user(name: str, age: int, *, session: AsyncSession | None = None) -> User:
    """Insert one user and return it with its new ``id``.

    Example:
        >>> user = await add_user("Ada", 36)
        >>> user.id
        14
    """
    user = User(name=name, age=age)  # @validates checks name and age here

    async def work(s: AsyncSession) -> User:
        s.add(user)
        await s.flush()  # assigns user.id, also when the caller commits later
        return user

    return await _run(work, session, write=True)


async def add_many_users(
    users: Iterable[tuple[str, int]], *, session: AsyncSession | None = None
) -> int:
    """Insert many ``(name, age)`` pairs in one transaction; return how many were added.

    Every row is validated first, so a bad row anywhere rejects the whole batch and nothing is
    written. The rows go to the database in bulk, never as ORM objects (building 100k ``User``
    objects costs far more than storing them): ``COPY`` on PostgreSQL, one executemany of plain
    tuples elsewhere (see :mod:`ormkit.fast` and ``benchmarks/``).

    Example:
        >>> await add_many_users([("Ada", 36), ("Linus", 28)])
        2
    """
    rows = check_user_rows(users)
    if not rows:
        return 0

    async def work(s: AsyncSession) -> int:
        conn = await s.connection()
        # ormkit.fast: COPY on PostgreSQL, the driver's executemany elsewhere, in this same
        # transaction; the plain Core executemany below when no fast path applies.
        if not await fast.insert_users(conn, rows):
            await conn.execute(insert(User), [{"name": n, "age": a} for n, a in rows])
        return len(rows)

    return await _run(work, session, write=True)


async def get_user(user_id: int, *, session: AsyncSession | None = None) -> User | None:
    """Return the user with ``user_id``, or ``None``.

    Example:
        >>> await get_user(1)
        User(id=1, name='Alice', age=30)
        >>> await get_user(999) is None
        True
    """
    user_id = check_id(user_id)

    async def work(s: AsyncSession) -> User | None:
        return await s.get(User, user_id)

    return await _run(work, session, write=False)


async def get_user_by_name(name: str, *, session: AsyncSession | None = None) -> User | None:
    """Return the first user (lowest id) called exactly ``name``, or ``None``.

    Example:
        >>> await get_user_by_name("Bob")
        User(id=2, name='Bob', age=25)
    """
    name = check_lookup_text(name)  # a string the driver can compare (no NUL, no lone surrogate)

    async def work(s: AsyncSession) -> User | None:
        result = await s.execute(select(User).where(User.name == name).order_by(User.id).limit(1))
        return result.scalar_one_or_none()

    return await _run(work, session, write=False)


async def get_user_with_posts(user_id: int, *, session: AsyncSession | None = None) -> User | None:
    """Return the user with ``user.posts`` already loaded (``selectinload``), or ``None``.

    Example:
        >>> user = await get_user_with_posts(2)
        >>> [post.title for post in user.posts]  # no lazy load: already in memory
        ['My first ORM query', 'Why expire_on_commit=False?']
    """
    user_id = check_id(user_id)
    stmt = select(User).where(User.id == user_id).options(selectinload(User.posts))

    async def work(s: AsyncSession) -> User | None:
        return (await s.execute(stmt)).scalar_one_or_none()

    return await _run(work, session, write=False)


async def list_users(
    *, limit: int | None = None, offset: int = 0, session: AsyncSession | None = None
) -> Sequence[User]:
    """Return users ordered by ``id`` (optionally one page of them).

    Example:
        >>> [user.name for user in await list_users(limit=3, offset=1)]
        ['Bob', 'Carol', 'Dave']
    """
    stmt = select(User).order_by(User.id).offset(check_count(offset, "offset"))
    if limit is not None:
        stmt = stmt.limit(check_count(limit, "limit"))

    async def work(s: AsyncSession) -> Sequence[User]:
        return (await s.execute(stmt)).scalars().all()

    return await _run(work, session, write=False)


async def count_users(*, session: AsyncSession | None = None) -> int:
    """Return the number of users.

    Example:
        >>> await count_users()
        13
    """

    async def work(s: AsyncSession) -> int:
        return (await s.execute(select(func.count()).select_from(User))).scalar_one()

    return await _run(work, session, write=False)


async def update_user_name(
    user_id: int, new_name: str, *, session: AsyncSession | None = None
) -> User | None:
    """Rename a user; return the updated user, or ``None`` if there is no such id.

    Example:
        >>> (await update_user_name(1, "Alicia")).name
        'Alicia'
    """
    user_id = check_id(user_id)
    check_name(new_name, "new_name")
    return await _change_user(user_id, session, name=new_name)


async def update_user_age(
    user_id: int, new_age: int, *, session: AsyncSession | None = None
) -> User | None:
    """Change a user's age; return the updated user, or ``None`` if there is no such id.

    Example:
        >>> await update_user_age(2, 26)
        User(id=2, name='Bob', age=26)
    """
    user_id = check_id(user_id)
    new_age = check_age(new_age, "new_age")
    return await _change_user(user_id, session, age=new_age)


async def _change_user(user_id: int, session: AsyncSession | None, **values: object) -> User | None:
    # The cheat sheet's change-and-commit: load the object, set attributes, let the unit of work
    # emit the UPDATE (only the changed columns) at flush.
    async def work(s: AsyncSession) -> User | None:
        if session is not None:
            return await _change_in_callers_transaction(s, user_id, values)
        user = await s.get(User, user_id)
        if user is None:
            return None
        for key, value in values.items():
            setattr(user, key, value)
        try:
            await s.flush()
        except StaleDataError:  # deleted by someone else between the SELECT and the UPDATE
            await s.rollback()  # nothing left to commit
            return None
        return user

    return await _run(work, session, write=True)


async def _change_in_callers_transaction(
    s: AsyncSession, user_id: int, values: dict[str, object]
) -> User | None:
    # A failed flush would end the caller's whole transaction; one UPDATE decides atomically
    # whether the row is still there, and then holds its lock until the caller commits.
    result = await s.execute(
        update(User).where(User.id == user_id).values(**values),
        execution_options={"synchronize_session": "fetch"},
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        return None
    return await s.get(User, user_id)


async def delete_user(user_id: int, *, session: AsyncSession | None = None) -> bool:
    """Delete a user and (by ``ON DELETE CASCADE``) their posts; ``False`` if no such id.

    Example:
        >>> await delete_user(6)
        True
        >>> await delete_user(6)
        False
    """
    user_id = check_id(user_id)

    async def work(s: AsyncSession) -> bool:
        # One DELETE, not "load, then session.delete()": the database decides atomically whether
        # the row existed, so two concurrent deletes of one id cannot both report True.
        result = await s.execute(delete(User).where(User.id == user_id))
        assert isinstance(result, CursorResult)  # a DELETE's result reports its rowcount
        return result.rowcount == 1

    return await _run(work, session, write=True)


async def add_post(user_id: int, title: str, *, session: AsyncSession | None = None) -> Post:
    """Add a post by ``user_id``; an unknown ``user_id`` raises instead of leaving an orphan.

    Example:
        >>> await add_post(6, "Frank's first post")
        Post(id=17, title="Frank's first post", user_id=6)
    """
    user_id = check_id(user_id)
    check_title(title)

    async def work(s: AsyncSession) -> Post:
        if await s.get(User, user_id) is None:
            raise ValidationError("user_id", user_id, "does not match any user")
        post = Post(user_id=user_id, title=title)
        s.add(post)
        try:
            await s.flush()
        except exc.IntegrityError as error:
            # The title was checked above, so only the foreign key can refuse the row: the user
            # was deleted by someone else after the look-up.
            raise ValidationError("user_id", user_id, "does not match any user") from error
        return post

    return await _run(work, session, write=True)


async def get_user_posts(user_id: int, *, session: AsyncSession | None = None) -> Sequence[Post]:
    """Return the user's posts ordered by ``id`` (empty for a user without posts or no user).

    Example:
        >>> [post.id for post in await get_user_posts(1)]
        [1, 2, 3]
    """
    user_id = check_id(user_id)
    stmt = select(Post).where(Post.user_id == user_id).order_by(Post.id)

    async def work(s: AsyncSession) -> Sequence[Post]:
        return (await s.execute(stmt)).scalars().all()

    return await _run(work, session, write=False)
