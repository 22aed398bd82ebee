"""Check user input before it reaches the database, with messages that name the field and value.

The database enforces the same rules with CHECK and FOREIGN KEY constraints (see
:mod:`ormkit.models`); checking here first turns a driver error into a sentence a learner can act on
and lets a batch be rejected before any row of it is written.
"""

from __future__ import annotations

import numbers
import unicodedata
from typing import Any

NAME_MAX_LENGTH = 50
TITLE_MAX_LENGTH = 200
AGE_MIN = 0
AGE_MAX = 150
# Ids, LIMIT and OFFSET are bound as SQL INTEGER: 32-bit on PostgreSQL and MariaDB. Outside this
# range each driver fails differently (an overflow, a DBAPIError, a silent no-match), so refuse
# such values here, identically everywhere.
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


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
    if _blank(value):
        raise ValidationError(field, value, "must not be empty or blank")
    if len(value) > max_length:
        raise ValidationError(field, value, f"must be at most {max_length} characters")
    return check_lookup_text(value, field)


def _blank(value: str) -> bool:
    # Spaces, and characters that print as nothing: a zero-width space (U+200B) or a BOM alone
    # is as blank as "   " to a reader, though the database's TRIM() keeps it.
    return all(char.isspace() or unicodedata.category(char) == "Cf" for char in value)


def check_lookup_text(value: Any, field: str = "name") -> str:
    """Return ``value`` if a database can compare it: a string without NUL or lone surrogates.

    On its own for look-ups (a name that cannot be stored is simply not found); writes go
    through :func:`check_text`, which adds the blank and length rules.
    """
    if not isinstance(value, str):
        raise InvalidTypeError(field, value, f"must be a string, not {_type_name(value)}")
    if "\x00" in value:
        # PostgreSQL refuses NUL in text, SQLite and MariaDB store it: refuse it everywhere.
        raise ValidationError(field, value, "must not contain NUL characters ('\\x00')")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            field, value, "must be valid Unicode text (it contains a lone surrogate)"
        ) from None
    return str(value)  # numpy.str_ and other str subclasses are stored as plain str


def check_name(value: Any, field: str = "name") -> str:
    return check_text(field, value, NAME_MAX_LENGTH)


def check_title(value: Any, field: str = "title") -> str:
    return check_text(field, value, TITLE_MAX_LENGTH)


def _integer(value: Any, field: str, what: str) -> int:
    # Any integral number (int, or numpy.int64 taken from a DataFrame) but not a bool, a float
    # or a numeric string; returned as a plain int so drivers never see numpy types.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(field, value, f"must be {what}, not {_type_name(value)}")
    return int(value)


def check_age(value: Any, field: str = "age") -> int:
    """Return ``value`` as an int if it is a whole number of years from 0 to 150 (a bool is not)."""
    age = _integer(value, field, "an integer")
    if not AGE_MIN <= age <= AGE_MAX:
        raise ValidationError(field, value, f"must be between {AGE_MIN} and {AGE_MAX}")
    return age


def check_id(value: Any, field: str = "user_id") -> int:
    """Return ``value`` as an int if it is an integer id (a bool or a numeric string is not).

    An id that no row can have (0, -1) is fine: look-ups simply find nothing. One outside SQL's
    INTEGER range is refused, since no backend can even compare with it.
    """
    id_ = _integer(value, field, "an integer id")
    if not INT_MIN <= id_ <= INT_MAX:
        raise ValidationError(field, value, f"must be between {INT_MIN} and {INT_MAX}")
    return id_


def check_count(value: Any, field: str) -> int:
    """Return ``value`` as an int if it is a whole number from 0 to ``INT_MAX`` (LIMIT, OFFSET)."""
    count = _integer(value, field, "a non-negative integer")
    if not 0 <= count <= INT_MAX:
        raise ValidationError(field, value, f"must be between 0 and {INT_MAX}")
    return count


def check_user_rows(rows: Any) -> list[tuple[str, int]]:
    """Validate every ``(name, age)`` row of a batch; return them as a list of tuples.

    Raises on the first bad row, naming its index, so a batch is checked whole before any write.
    """
    if isinstance(rows, (str, bytes)) or not hasattr(rows, "__iter__"):
        raise InvalidTypeError(
            "users", rows, f"must be a list of (name, age) pairs, not {_type_name(rows)}"
        )
    rows = list(rows)
    if _all_plain_and_valid(rows) and _all_storable(rows):
        return rows  # type: ignore[no-any-return]  # just checked: (str, int) pairs
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


def _all_storable(rows: list[tuple[str, int]]) -> bool:
    """True if no name holds a NUL or a lone surrogate: one join and one encode for the batch."""
    joined = "\n".join([name for name, _ in rows])
    if "\x00" in joined:
        return False
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
