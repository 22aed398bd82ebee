"""Lesson 04 · Result methods: the exercises' checkers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import MultipleResultsFound, NoResultFound

from ..models import User
from ..sql import show_sql
from . import Wrong, exercise
from ._datasets import DUPLICATE_NAMES, LEARNER, SAMPLE, SHIFTED
from ._support import describe, refuse_commit, require_coroutine_function, scratch_session


@exercise(
    "04.1",
    "exactly one user by name, or an error",
    hint="select the User entity and pick the result method that insists on exactly one row "
    "and gives the object, not a Row.",
    datasets=[SAMPLE, SHIFTED, DUPLICATE_NAMES],
)
async def _exactly_one(answer: Any) -> None:
    require_coroutine_function(answer, "find_one(session, name) -> User")
    async with scratch_session() as session:
        carol = await answer(session, "Carol")
        refuse_commit(session)
        if isinstance(carol, Row):
            raise Wrong("it returned a Row (a tuple); return the User object inside it.")
        if not isinstance(carol, User) or carol.name != "Carol":
            raise Wrong(f"for 'Carol' it returned {describe(carol)}, expected Carol's User.")
        try:
            nobody = await answer(session, "Nobody")
        except NoResultFound:
            pass
        else:
            raise Wrong(
                f"for a name nobody has it returned {nobody!r}; it should raise NoResultFound."
            )
        session.add(User(name="Carol", age=60))
        await session.flush()
        try:
            twice = await answer(session, "Carol")
        except MultipleResultsFound:
            pass
        else:
            raise Wrong(
                f"with two users called Carol it returned {describe(twice)}; it should "
                "raise MultipleResultsFound instead of picking one."
            )


@exercise(
    "04.2",
    "users younger than 25 as dictionaries",
    hint="select only name and age, order by age; result.mappings().all() gives dict-like rows.",
    datasets=[LEARNER],  # the answer is a list computed in the notebook, from the learner's data
)
async def _mappings(answer: Any) -> None:
    async with scratch_session() as session:
        stmt = select(User.name, User.age).where(User.age < 25).order_by(User.age)
        expected = [dict(m) for m in (await session.execute(stmt)).mappings().all()]
    if not isinstance(answer, Sequence) or isinstance(answer, str):
        raise Wrong(f"expected a list of dict-like rows, got {describe(answer)}.")
    if answer and isinstance(answer[0], Row):
        raise Wrong("these are Row tuples; ask the result for mappings instead.")
    if answer and isinstance(answer[0], User):
        raise Wrong("these are User objects; select the two columns and ask for mappings.")
    if not all(isinstance(item, Mapping) for item in answer):
        raise Wrong("some items are not dict-like: each row should map column names to values.")
    got = [dict(item) for item in answer]
    if got and set(got[0]) != {"name", "age"}:
        raise Wrong(f"each row has the keys {sorted(got[0])}, expected 'name' and 'age' only.")
    if sorted(map(repr, got)) != sorted(map(repr, expected)):
        raise Wrong(f"{len(got)} rows, not the {len(expected)} expected: check the filter.")
    if got != expected:
        raise Wrong("the right rows in the wrong order: youngest first.")


@exercise(
    "04.3",
    "every user with their posts, in one SELECT",
    hint="options(joinedload(User.posts)) loads the posts in the same query; its result needs "
    "one extra method call before scalars().all().",
    datasets=[SAMPLE, SHIFTED],
)
async def _unique(answer: Any) -> None:
    require_coroutine_function(answer, "users_with_posts(session) -> list[User]")
    async with scratch_session() as session:
        with show_sql(echo=False, transactions=False) as log:
            users = await answer(session)
        refuse_commit(session)
        expected_ids = list((await session.execute(select(User.id).order_by(User.id))).scalars())
        # Inspect the objects before the rollback at the end of the block expires them.
        if not isinstance(users, Sequence) or not all(isinstance(u, User) for u in users):
            raise Wrong(f"it returned {describe(users)}, expected a list of User objects.")
        ids = [u.id for u in users]
        unloaded = any("posts" in inspect(u).unloaded for u in users)
    if len(ids) != len(set(ids)):
        raise Wrong(
            f"{len(ids)} objects for {len(set(ids))} users: some users appear more than "
            "once (one per post)."
        )
    if ids != expected_ids:
        raise Wrong(f"the users' ids are {ids}, expected every user once, ordered by id.")
    if unloaded:
        raise Wrong("the posts are not loaded: reading user.posts would need another query.")
    if log.selects != 1:
        raise Wrong(
            f"it ran {log.selects} SELECT statements; load the users and their posts in one."
        )
