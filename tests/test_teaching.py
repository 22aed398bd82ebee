"""``expect_error`` fails loudly when the expected error does not happen; ``versions``."""

from __future__ import annotations

import gc
import re
import warnings

import pandas
import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.exc import NoResultFound

import ormkit
from ormkit import add_user, count_users, make_engine
from ormkit.teaching import Caught, error_text, expect_error, never_awaited, versions


def test_expect_error_prints_type_and_message(capsys: pytest.CaptureFixture) -> None:
    with expect_error(ValueError, match="age") as caught:
        raise ValueError("age must be between 0 and 150, got -5")
    assert capsys.readouterr().out == "ValueError: age must be between 0 and 150, got -5\n"
    assert isinstance(caught, Caught)
    assert isinstance(caught.exc, ValueError)


async def test_expect_error_around_an_await(capsys: pytest.CaptureFixture) -> None:
    # Validation raises before any database is touched, so no fixture is needed.
    with expect_error(ValueError, match="age"):
        await add_user("Bob", -5)
    assert capsys.readouterr().out == "ValidationError: age must be between 0 and 150, got -5\n"


def test_expect_error_fails_when_nothing_is_raised(capsys: pytest.CaptureFixture) -> None:
    with (
        pytest.raises(AssertionError, match="expected ValueError, but the block ran without"),
        expect_error(ValueError),
    ):
        pass
    assert capsys.readouterr().out == ""


def test_expect_error_fails_when_the_message_does_not_match() -> None:
    with (
        pytest.raises(AssertionError, match="expected ValueError mentioning 'age'") as info,
        expect_error(ValueError, match="age"),
    ):
        raise ValueError("name must not be empty")
    assert "name must not be empty" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_expect_error_lets_other_errors_through() -> None:
    with pytest.raises(KeyError), expect_error(ValueError):
        raise KeyError("not the expected kind")


def test_expect_error_accepts_several_types_and_subclasses(capsys: pytest.CaptureFixture) -> None:
    with expect_error(KeyError, NoResultFound) as caught:
        raise NoResultFound("No row was found when one was required")
    assert type(caught.exc) is NoResultFound
    with (
        pytest.raises(AssertionError, match="expected KeyError or TypeError"),
        expect_error(KeyError, TypeError),
    ):
        pass
    with expect_error(LookupError):
        raise IndexError("subclass of LookupError")
    assert capsys.readouterr().out.splitlines() == [
        "NoResultFound: No row was found when one was required",
        "IndexError: subclass of LookupError",
    ]


def test_expect_error_without_types_expects_any_exception() -> None:
    with expect_error(show=False) as caught:
        1 / 0  # noqa: B018
    assert isinstance(caught.exc, ZeroDivisionError)
    with pytest.raises(AssertionError, match="expected Exception"), expect_error():
        pass


def test_expect_error_show_false_prints_nothing(capsys: pytest.CaptureFixture) -> None:
    with expect_error(ValueError, show=False):
        raise ValueError("quiet")
    assert capsys.readouterr().out == ""


async def test_error_text_drops_sqlalchemys_background_link() -> None:
    # A real error from a real statement: DBAPIError puts the link on a line of its own.
    engine = make_engine("sqlite+aiosqlite://")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM nowhere"))
    except sqlalchemy.exc.OperationalError as exc:
        error = exc
    finally:
        await engine.dispose()
    assert "\n(Background on this error at: https://sqlalche.me/e/" in str(error)
    assert error_text(error) == (
        "OperationalError: (sqlite3.OperationalError) no such table: nowhere\n"
        "[SQL: SELECT * FROM nowhere]"
    )
    assert error_text(error, background=True) == f"OperationalError: {error}"
    # SQLAlchemy's own errors that carry a code put the link on the message's line.
    inline = sqlalchemy.exc.InvalidRequestError("This session is in 'inactive' state", code="xd2s")
    assert " (Background on this error at: https://sqlalche.me/e/" in str(inline)
    assert error_text(inline) == "InvalidRequestError: This session is in 'inactive' state"
    assert error_text(inline, background=True) == f"InvalidRequestError: {inline}"


def test_never_awaited_collects_a_coroutine_held_in_a_reference_cycle() -> None:
    # A coroutine caught in a cycle (a traceback, a frame, a dict holding itself) is freed, and
    # warned about, only by the garbage collector: never_awaited must run it as the block ends.
    # Automatic collection is off so that only never_awaited's own collection can find it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with never_awaited() as leftovers:
            holder: dict[str, object] = {"coroutine": count_users()}
            holder["itself"] = holder
            del holder
        assert leftovers == ["coroutine 'count_users' was never awaited"]
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # whatever a broken never_awaited left behind
            gc.collect()
        if was_enabled:
            gc.enable()


def test_never_awaited_reissues_other_warnings() -> None:
    with pytest.warns(UserWarning, match="unrelated"), never_awaited() as leftovers:
        warnings.warn("unrelated", UserWarning, stacklevel=1)
    assert leftovers == []


def test_versions_is_one_deterministic_line() -> None:
    line = versions()
    assert "\n" not in line
    assert f"SQLAlchemy {sqlalchemy.__version__}" in line
    assert f"pandas {pandas.__version__}" in line
    assert f"ormkit {ormkit.__version__}" in line
    assert re.match(r"Python \d+\.\d+\.\d+", line)
    assert versions() == line
