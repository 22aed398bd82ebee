"""The one deterministic dataset shared by the notebooks, the tests and the playground.

Ids are fixed so that "user 1" means Alice everywhere. Ages spread from 19 to 71; posts per user
range from none (Frank, Judy, Mallory) to three. Two names test quoting and Unicode on purpose.
"""

from __future__ import annotations

# (id, name, age)
USERS: tuple[tuple[int, str, int], ...] = (
    (1, "Alice", 30),
    (2, "Bob", 25),
    (3, "Carol", 35),
    (4, "Dave", 42),
    (5, "Eve", 28),
    (6, "Frank", 55),
    (7, "Grace", 19),
    (8, "Heidi", 63),
    (9, "Ivan", 31),
    (10, "Judy", 47),
    (11, "Zoë", 22),
    (12, "Kieran O'Brien", 38),
    (13, "Mallory", 71),
)

# (id, user_id, title)
POSTS: tuple[tuple[int, int, str], ...] = (
    (1, 1, "Hello, async world"),
    (2, 1, "Sessions are not thread-safe"),
    (3, 1, "selectinload vs joinedload"),
    (4, 2, "My first ORM query"),
    (5, 2, "Why expire_on_commit=False?"),
    (6, 3, "Indexes explained"),
    (7, 4, "Bulk inserts in SQLAlchemy 2.1"),
    (8, 4, "JOIN or subquery?"),
    (9, 4, "Counting rows with func.count"),
    (10, 5, "DataFrames from queries"),
    (11, 7, "Learning SQL at 19"),
    (12, 8, "Transactions and savepoints"),
    (13, 8, "What RETURNING returns"),
    (14, 9, "Greenlets, briefly"),
    (15, 11, "Unicode names: Zoë says hi ☕"),
    (16, 12, "It's all about quoting: 'single' and \"double\""),
)


def user_dicts() -> list[dict[str, object]]:
    return [{"id": id_, "name": name, "age": age} for id_, name, age in USERS]


def post_dicts() -> list[dict[str, object]]:
    return [{"id": id_, "user_id": user_id, "title": title} for id_, user_id, title in POSTS]
