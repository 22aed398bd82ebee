"""The exercise framework: register a checker, ``check`` an answer, read the ``Verdict``.

Exercises registered here go into a copy of the registry that is thrown away after each test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, MissingGreenlet, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm.exc import DetachedInstanceError

from ormkit import User, add_user, count_users, db
from ormkit import exercises as framework
from ormkit.exercises import Verdict, Wrong, _scratch, check, exercise, exercises
from ormkit.exercises._datasets import SAMPLE, SHIFTED
from ormkit.exercises._support import compare_rows


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, framework.Exercise]:
    exercises()  # import every lesson module first, so they register in the real registry
    scratch = dict(framework.REGISTRY)
    monkeypatch.setattr(framework, "REGISTRY", scratch)
    return scratch


@pytest.fixture
def seen(registry: dict[str, framework.Exercise]) -> list[Any]:
    """Register 99.1 (answer must be 42) and 99.2 (checker crashes); record what checkers get."""
    answers: list[Any] = []

    @exercise("99.1", "The answer", hint="Think of Douglas Adams.")
    async def _answer(answer: Any) -> None:
        answers.append(answer)
        if answer != 42:
            raise Wrong("that is not the answer to everything.")

    @exercise("99.2", "Crashes", hint="none")
    async def _crash(answer: Any) -> None:
        answers.append(answer)
        raise ZeroDivisionError("division by zero")

    return answers


async def test_a_right_answer(seen: list[Any]) -> None:
    verdict = await check("99.1", 42)
    assert isinstance(verdict, Verdict)
    assert verdict.ok is True
    assert bool(verdict) is True
    assert verdict.exercise.id == "99.1"
    assert repr(verdict) == "✅ 99.1 The answer: correct."
    assert seen == [42]


async def test_a_wrong_answer_says_what_is_wrong_and_hints(seen: list[Any]) -> None:
    verdict = await check("99.1", 41)
    assert not verdict
    assert verdict.message == "that is not the answer to everything."
    assert repr(verdict) == (
        "❌ 99.1 The answer: not yet. that is not the answer to everything.\n"
        "   Hint: Think of Douglas Adams."
    )
    assert seen == [41]


@pytest.mark.parametrize("answer", [None, ...])
async def test_no_answer_yet_does_not_call_the_checker(seen: list[Any], answer: Any) -> None:
    verdict = await check("99.1", answer)
    assert not verdict
    assert "There is no answer yet" in verdict.message
    assert seen == []


async def test_default_answer_is_none(seen: list[Any]) -> None:
    assert not await check("99.1")
    assert seen == []


async def test_a_crashing_checker_is_a_wrong_answer_not_an_error(seen: list[Any]) -> None:
    verdict = await check("99.2", "anything")
    assert not verdict
    assert verdict.message == "Checking it raised ZeroDivisionError: division by zero"


async def test_unknown_id_lists_the_known_ones(seen: list[Any]) -> None:
    with pytest.raises(KeyError, match=r"no exercise '99\.9'; known exercises: .*99\.1, 99\.2"):
        await check("99.9", 1)


def test_registering_an_id_twice_is_refused(seen: list[Any]) -> None:
    with pytest.raises(ValueError, match=r"exercise '99\.1' is registered twice"):

        @exercise("99.1", "Again", hint="")
        async def _again(answer: Any) -> None:
            pass


def test_exercises_lists_by_lesson_in_order(seen: list[Any]) -> None:
    assert [e.id for e in exercises("99")] == ["99.1", "99.2"]
    everything = [e.id for e in exercises()]
    assert everything == sorted(everything)
    assert {"99.1", "99.2"} <= set(everything)


def test_registered_lesson_exercises_are_well_formed() -> None:
    for ex in exercises():
        assert re.fullmatch(r"\d\d\.\d+", ex.id), ex.id
        assert ex.title.strip(), ex.id
        assert ex.hint.strip(), ex.id
        # An exercise lives in the module of its lesson: 03.1 in ormkit.exercises.lesson03.
        lesson = ex.id.split(".")[0]
        assert ex.checker.__module__ == f"ormkit.exercises.lesson{lesson}", ex.id


# --------------------------------------------------------------- compare_rows (the checkers')


def test_compare_rows_refuses_the_right_rows_in_the_wrong_order() -> None:
    expected = [(1, "Alice"), (2, "Bob"), (3, "Carol")]
    compare_rows(list(expected), expected)
    with pytest.raises(Wrong, match="the right rows, but in the wrong order"):
        compare_rows([expected[1], expected[0], expected[2]], expected)
    compare_rows(list(reversed(expected)), expected, ordered=False)  # when order is not asked


async def test_an_answer_in_the_wrong_order_is_not_accepted(seeded: AsyncEngine) -> None:
    # 03.1 asks for the oldest first; ascending age gives the same rows the other way round.
    ascending = select(User.name, User.age).where(User.age.between(30, 45)).order_by(User.age)
    verdict = await check("03.1", ascending)
    assert not verdict.ok
    assert verdict.message == "the right rows, but in the wrong order: check your order_by()."
    descending = ascending.order_by(None).order_by(User.age.desc(), User.name)
    assert (await check("03.1", descending)).ok


# ------------------------------------------------ datasets, scratch databases, explained errors


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (
            PendingRollbackError("This Session's transaction has been rolled back"),
            "your code kept using a session after one of its statements failed "
            "(PendingRollbackError): roll back (or leave the session's block) after an error "
            "before using the session again.",
        ),
        (
            DetachedInstanceError("Instance <User at 0x7f3a> is not bound to a Session"),
            "your code read an attribute of an object whose session was already closed "
            "(DetachedInstanceError): read what you need, or load it up front, while the "
            "session is open.",
        ),
        (
            MissingGreenlet("greenlet_spawn has not been called; can't call await_() here."),
            "your code read an attribute or relationship that was not loaded, which needs a "
            "query async code cannot run implicitly (MissingGreenlet): load it up front "
            "(selectinload, refresh) or await obj.awaitable_attrs.<name>.",
        ),
    ],
)
async def test_errors_inside_an_answer_are_explained(
    registry: dict[str, framework.Exercise], file_db: AsyncEngine, error: Exception, sentence: str
) -> None:
    @exercise("99.3", "Raises", hint="none")
    async def _run_it(answer: Any) -> None:
        await answer()

    async def answer() -> None:
        raise error

    verdict = await check("99.3", answer)
    assert not verdict
    assert verdict.message == sentence


async def test_each_dataset_in_turn_in_a_scratch_database(
    registry: dict[str, framework.Exercise], file_db: AsyncEngine
) -> None:
    seen: list[tuple[int, str]] = []

    @exercise("99.4", "First user", hint="none", datasets=[SAMPLE, SHIFTED])
    async def _first(answer: Any) -> None:
        assert db.kit.engine is not file_db  # the kit points at the scratch database
        async with db.async_session() as session:
            first = (await session.execute(select(User.id, User.name).limit(1))).one()
        seen.append(tuple(first))
        if first[0] != answer:
            raise Wrong(f"the first user's id is not {answer}.")

    verdict = await check("99.4", 1)
    assert not verdict.ok
    assert verdict.datasets == 2
    assert verdict.message == "With the sample rows with other ids: the first user's id is not 1."
    assert verdict.line == (
        "❌ 99.4 First user: not yet. With the sample rows with other ids: the first user's id "
        "is not 1."
    )
    assert seen[0] == (1, "Alice")
    assert seen[1][1] == "Mallory"  # the shifted ids put Mallory first
    assert db.kit.engine is file_db


def test_an_exercise_needs_a_dataset(registry: dict[str, framework.Exercise]) -> None:
    with pytest.raises(ValueError, match=r"exercise '99\.5' needs at least one dataset"):

        @exercise("99.5", "Nothing", hint="none", datasets=[])
        async def _nothing(answer: Any) -> None:
            pass


async def test_a_commit_where_none_is_asked_for_is_reported(
    registry: dict[str, framework.Exercise], file_db: AsyncEngine
) -> None:
    @exercise("99.6", "Reads", hint="none")
    async def _reads(answer: Any) -> None:
        await answer()

    async def answer() -> None:
        await add_user("Mallet", 30)

    verdict = await check("99.6", answer)
    assert verdict.message == (
        "your answer committed changes to the database, which this exercise does not ask for "
        "(nothing was kept: the check ran on a scratch copy of the data)."
    )
    assert await count_users() == 13


async def test_without_the_right_to_create_a_database_a_sqlite_file_is_used(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []

    async def refused(admin: Any, name: str) -> None:
        raise DBAPIError("CREATE DATABASE", {}, Exception("permission denied to create database"))

    original_using = db.kit.using

    def spy(url: Any, **kwargs: Any) -> Any:
        used.append(make_url(url).get_backend_name())
        return original_using(url, **kwargs)

    monkeypatch.setattr(_scratch, "_create_server_database", refused)
    async with db.kit.using(server_url):
        await db.reset()
        monkeypatch.setattr(db.kit, "using", spy)
        right = select(User.name, User.age).where(User.age.between(30, 45))
        verdict = await check("03.1", right.order_by(User.age.desc(), User.name))
    assert verdict.ok, verdict
    assert used == ["sqlite"] * 3  # one scratch SQLite file, loaded with each of 3 datasets


async def test_the_learners_other_tables_are_in_the_scratch_database(
    registry: dict[str, framework.Exercise], kit_db: AsyncEngine
) -> None:
    # A lesson's own models (lesson 13's app) live beside the kit's tables; checks need them.
    async with kit_db.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(20))"))
        await conn.execute(text("INSERT INTO notes (id, body) VALUES (1, 'a'), (2, 'b')"))
    seen: list[Any] = []

    @exercise("99.7", "Notes", hint="none")
    async def _notes(answer: Any) -> None:
        async with db.engine.begin() as conn:
            seen.append((await conn.execute(text("SELECT body FROM notes ORDER BY id"))).all())
            await conn.execute(text("DELETE FROM notes"))  # only the scratch copy's

    try:
        assert (await check("99.7", 1)).ok
        assert [[tuple(r) for r in rows] for rows in seen] == [[("a",), ("b",)]]
        async with kit_db.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 2
    finally:  # a server's test database is shared by the run's tests
        async with kit_db.begin() as conn:
            await conn.execute(text("DROP TABLE notes"))
