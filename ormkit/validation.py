"""Check user input before it reaches the database, with messages that name the field and value.

The database enforces the same rules with CHECK and FOREIGN KEY constraints (see
:mod:`ormkit.models`); checking here first turns a driver error into a sentence a learner can act on
and lets a batch be rejected before any row of it is written.
"""

from __future__ import annotations

from typing import Any

NAME_MAX_LENGTH = 50
TITLE_MAX_LENGTH = 200
AGE_MIN = 0
AGE_MAX = 150


class ValidationError(ValueError):
    """A value that ormkit refuses to store; ``field`` and ``value`` say which and what."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field} {problem}, got {_short_repr(value)}")


class InvalidTypeError(ValidationError, TypeError):
    """A value of the wrong type; both a ``ValueError`` and a ``TypeError``."""


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return f"{text[: limit - 4]}...{text[-1]}{size}"


def _type_name(value: Any) -> str:
    return type(value).__name__


def check_text(field: str, value: Any, max_length: int) -> str:
    """Return ``value`` if it is a non-blank string of at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise InvalidTypeError(field, value, f"must be a string, not {_type_name(value)}")
    if not value.strip():
        raise ValidationError(field, value, "must not be empty or blank")
    if len(value) > max_length:
        raise ValidationError(field, value, f"must be at most {max_length} characters")
    return value


def check_name(value: Any, field: str = "name") -> str:
    return check_text(field, value, NAME_MAX_LENGTH)


def check_title(value: Any, field: str = "title") -> str:
    return check_text(field, value, TITLE_MAX_LENGTH)


def check_age(value: Any, field: str = "age") -> int:
    """Return ``value`` if it is a whole number of years from 0 to 150 (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(field, value, f"must be an integer, not {_type_name(value)}")
    if not AGE_MIN <= value <= AGE_MAX:
        raise ValidationError(field, value, f"must be between {AGE_MIN} and {AGE_MAX}")
    return value


def check_id(value: Any, field: str = "user_id") -> int:
    """Return ``value`` if it is an integer id (a bool or a numeric string is not)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(field, value, f"must be an integer id, not {_type_name(value)}")
    return value


def check_user_rows(rows: Any) -> list[tuple[str, int]]:
    """Validate every ``(name, age)`` row of a batch; return them as a list of tuples.

    Raises on the first bad row, naming its index, so a batch is checked whole before any write.
    """
    if isinstance(rows, (str, bytes)) or not hasattr(rows, "__iter__"):
        raise InvalidTypeError(
            "users", rows, f"must be a list of (name, age) pairs, not {_type_name(rows)}"
        )
    rows = list(rows)
    if _all_plain_and_valid(rows):
        return rows
    checked: list[tuple[str, int]] = []
    append = checked.append
    for index, row in enumerate(rows):
        try:
            if isinstance(row, (str, bytes)):  # "Bo" would unpack into name "B", age "o"
                raise TypeError
            name, age = row
        except (TypeError, ValueError):
            raise InvalidTypeError(f"users[{index}]", row, "must be a (name, age) pair") from None
        append((check_name(name, f"users[{index}].name"), check_age(age, f"users[{index}].age")))
    return checked


def _all_plain_and_valid(rows: list[Any]) -> bool:
    """True if every row is a ``(str, int)`` tuple passing the checks: one tight loop, no copies.

    This is the common case of a big batch, and its cost is part of ``add_many_users``'s (see
    ``benchmarks/bench_insert.py``). On the first row that is not plainly valid it returns
    ``False`` and :func:`check_user_rows` runs the full checks, which name the bad row.
    """
    max_len = NAME_MAX_LENGTH
    for row in rows:
        if type(row) is tuple and len(row) == 2:
            name, age = row
            if (
                type(name) is str
                and type(age) is int
                and AGE_MIN <= age <= AGE_MAX
                and 0 < len(name) <= max_len
                and not name.isspace()
            ):
                continue
        return False
    return True
