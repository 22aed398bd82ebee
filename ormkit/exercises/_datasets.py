"""The datasets a checker runs an answer on: the sample data and variations made to catch cheats.

A :class:`Dataset` is a list of users ``(id, name, age)`` and posts ``(id, user_id, title)``. Each
exercise names the datasets its checker runs on (``@exercise(..., datasets=[...])``); the
framework loads each into a scratch database of its own and runs the checker there, so an answer
passes only if it expresses the query asked for, not one that happens to fit the sample rows.

The variations below are built from :mod:`ormkit.sample_data`: ids shifted away from the sample's
(pasted or hard-coded ids fail), rows sitting on each boundary, ties, duplicate names, case
variants, users without posts. :data:`LEARNER` is a copy of the learner's own rows, for answers
that are values computed in the notebook (a list, a DataFrame, three counts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .. import sample_data

UserRow = tuple[int, str, int]
PostRow = tuple[int, int, str]


@dataclass(frozen=True)
class Dataset:
    """Rows a checker loads into a scratch database; ``about`` says in a verdict what is special."""

    name: str
    about: str
    users: tuple[UserRow, ...] = ()
    posts: tuple[PostRow, ...] = ()
    learner: bool = False  # a copy of the learner's database instead of these rows

    def shifted(self, name: str, about: str, *, users: int, posts: int) -> Dataset:
        """The same rows with every user id moved by ``users`` and post id by ``posts``."""
        return Dataset(
            name,
            about,
            tuple((i + users, n, a) for i, n, a in self.users),
            tuple((i + posts, u + users, t) for i, u, t in self.posts),
        )

    def plus(
        self,
        name: str,
        about: str,
        users: Iterable[tuple[str, int]] = (),
        posts: Iterable[tuple[str, str]] = (),
    ) -> Dataset:
        """These rows plus users ``(name, age)`` and posts ``(author name, title)``.

        New ids continue after the largest; a post's author is the last user with that name.
        """
        all_users = list(self.users)
        next_user = max((u[0] for u in all_users), default=0) + 1
        for user_name, age in users:
            all_users.append((next_user, user_name, age))
            next_user += 1
        by_name = {n: i for i, n, _ in all_users}
        all_posts = list(self.posts)
        next_post = max((p[0] for p in all_posts), default=0) + 1
        for author, title in posts:
            all_posts.append((next_post, by_name[author], title))
            next_post += 1
        return Dataset(name, about, tuple(all_users), tuple(all_posts))


SAMPLE = Dataset("sample", "the sample data", sample_data.USERS, sample_data.POSTS)
LEARNER = Dataset("yours", "your database as it is", learner=True)

# Ids far from the sample's, and user ids no longer in name order: an answer that pastes or
# hard-codes ids (or relies on id order for name order) fails here.
SHIFTED = Dataset(
    "shifted ids",
    "the sample rows with other ids",
    tuple((1000 - 7 * i, n, a) for i, n, a in sample_data.USERS),
    tuple((500 + 3 * i, 1000 - 7 * u, t) for i, u, t in sample_data.POSTS),
)

# 03.1: users on both bounds (30 and 45) and just outside, ties whose ids are not in name order.
BOUNDS_AND_TIES = SAMPLE.plus(
    "bounds and ties",
    "extra users aged 29, 30, 45 and 46, and several of the same age",
    users=[("Yara", 45), ("Abel", 45), ("Omar", 29), ("Nina", 46), ("Beth", 30), ("Aaron", 38)],
)

# 03.2: more users, so page 2 holds other names, with ids in reverse name order.
MORE_USERS = SHIFTED.plus(
    "more users",
    "more users, with ids not in name order",
    users=[("Adam", 40), ("Bea", 22), ("Cleo", 33), ("Al", 50)],
)

# 03.3 and 06.2: a user with exactly two posts and one with exactly one, among shifted ids.
POST_COUNTS = SHIFTED.plus(
    "other post counts",
    "other ids and post counts (one user with exactly two posts, one with exactly one)",
    users=[("Quentin", 50), ("Uma", 27)],
    posts=[("Quentin", "First"), ("Quentin", "Second"), ("Uma", "Only")],
)

# 04.1, 06.2, 07.1: two users share a name (one with posts, one without), a case variant.
DUPLICATE_NAMES = SAMPLE.plus(
    "duplicate names",
    "two users named Alice (one without posts) and a user named 'carol'",
    users=[("Alice", 44), ("carol", 36)],
    posts=[("carol", "Lower-case carol writes")],
)

# 05.1: ages on the bound (60) and just past it (61); 05.2: more titles mentioning SQL.
AGE_BOUNDS = SHIFTED.plus(
    "ages on the bound",
    "users aged exactly 60 and 61, and other ids",
    users=[("Sixty", 60), ("Sixty-one", 61), ("Fifty-nine", 59)],
)
MORE_SQL = SHIFTED.plus(
    "more SQL titles",
    "other ids and more titles mentioning SQL",
    users=[("Sam", 40)],
    posts=[
        ("Sam", "SQL first"),
        ("Sam", "NoSQL is SQL too"),
        ("Sam", "ends in SQL"),
        ("Sam", "S Q L"),
    ],
)

# 10.1: names starting with a and A, and names with an a elsewhere.
NAME_CASES = SHIFTED.plus(
    "name cases",
    "names starting with 'a' and 'A' and names with an 'a' elsewhere",
    users=[("aaron", 20), ("ANNA", 31), ("Bart", 40), ("xa", 50), ("Ava", 29)],
)

__all__ = [
    "AGE_BOUNDS",
    "BOUNDS_AND_TIES",
    "DUPLICATE_NAMES",
    "LEARNER",
    "MORE_SQL",
    "MORE_USERS",
    "NAME_CASES",
    "POST_COUNTS",
    "SAMPLE",
    "SHIFTED",
    "Dataset",
]
