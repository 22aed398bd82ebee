"""The exercise framework: register a checker, ``check`` an answer, read the ``Verdict``.

Exercises registered here go into a copy of the registry that is thrown away after each test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import User
from ormkit import exercises as framework
from ormkit.exercises import Verdict, Wrong, check, exercise, exercises
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
