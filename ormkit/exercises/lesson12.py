"""Lesson 12 · Async at scale: the exercises' checkers (bounded concurrency, a streamed export).

12.1 hands the learner's coroutine a session factory whose sessions report when they start using
the database and when they close, and checks that the look-ups overlapped, never more than the
limit at once. 12.2 runs the learner's export in a session the checker rolls back and watches how
many ``User`` objects the session holds each time a line is written.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import db
from ..models import User
from . import Wrong, exercise
from ._support import (
    CHECKER_PREFIX,
    describe,
    refuse_commit,
    require_coroutine_function,
    scratch_session,
)

# 12.2: how many User objects a streamed export may hold at once (two batches of 100 and change)
STREAM_HOLD_MAX = 300
EXPORT_EXTRA_USERS = 2_500


@dataclass
class _Tracker:
    """Sessions that have sent a statement and are not closed yet; the most at once."""

    active: int = 0
    peak: int = 0
    opened: int = 0
    unclosed: set[int] = field(default_factory=set)
    sessions: list[AsyncSession] = field(default_factory=list)  # to close what the answer left


def _tracked_factory(tracker: _Tracker) -> async_sessionmaker[AsyncSession]:
    class TrackedSession(AsyncSession):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            tracker.sessions.append(self)
            self._in_use = False
            event.listen(self.sync_session, "do_orm_execute", self._first_use)

        def _first_use(self, state: Any) -> None:
            if not self._in_use:
                self._in_use = True
                tracker.active += 1
                tracker.opened += 1
                tracker.peak = max(tracker.peak, tracker.active)
                tracker.unclosed.add(id(self))

        async def close(self) -> None:
            try:
                await super().close()
            finally:
                if self._in_use:
                    self._in_use = False
                    tracker.active -= 1
                    tracker.unclosed.discard(id(self))

    return async_sessionmaker(db.engine, expire_on_commit=False, class_=TrackedSession)


@exercise(
    "12.1",
    "concurrent look-ups, at most `limit` at once",
    hint="an asyncio.Semaphore(limit); each task acquires it, then opens its own "
    "session_factory() session and gets one user; asyncio.gather the tasks.",
)
async def _bounded_lookups(answer: Any) -> None:
    require_coroutine_function(answer, "user_names(session_factory, ids, limit)")
    async with db.async_session() as session:
        names: dict[int, str] = dict((await session.execute(select(User.id, User.name))).all())
    if not names:
        raise Wrong("the users table is empty: run the lesson's reset() cell first.")
    known = sorted(names)
    missing = known[-1] + 1_000
    # Two calls with different ids and limits: the limit must come from the argument.
    cases = [
        ([*(known[-1 - i % len(known)] for i in range(7)), missing], 3),
        ([known[i % len(known)] for i in range(5)], 2),
    ]
    for ids, limit in cases:
        tracker = _Tracker()
        try:
            got = await answer(_tracked_factory(tracker), list(ids), limit)
        finally:
            unclosed = set(tracker.unclosed)
            for session in tracker.sessions:  # a session the answer left open holds a connection
                with contextlib.suppress(Exception):  # e.g. one still waiting for the pool
                    await session.close()
        call = f"user_names(..., {ids}, {limit})"
        if unclosed:
            raise Wrong(
                f"{call} left {len(unclosed)} session(s) open: use async with "
                "session_factory() as session."
            )
        if not isinstance(got, (list, tuple)):
            raise Wrong(f"{call} should return a list of names, got {describe(got)}.")
        want = [names.get(i) for i in ids]
        if list(got) != want:
            raise Wrong(
                f"{call} should return the users' names in the order of the ids, None for an "
                "id with no user."
            )
        if tracker.opened < len(set(ids)):
            raise Wrong(
                f"{call} used {tracker.opened} session(s) for {len(set(ids))} different ids: "
                "give each look-up a session of its own."
            )
        if tracker.peak > limit:
            raise Wrong(
                f"{call} had {tracker.peak} sessions using the database at once; the limit "
                f"was {limit}."
            )
        if tracker.peak < limit:
            raise Wrong(
                f"{call} never had more than {tracker.peak} session(s) at work at once: run "
                f"the look-ups concurrently, up to {limit} at a time."
            )


class _Out:
    """The ``out`` of 12.2: records the text and the User objects in the session at each write."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.parts: list[str] = []
        self.most_held = 0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise Wrong(f"out.write() takes a str, got {describe(text)}.")
        held = sum(1 for obj in self.session.identity_map.values() if isinstance(obj, User))
        self.most_held = max(self.most_held, held)
        self.parts.append(text)
        return len(text)


@exercise(
    "12.2",
    "export every user, streamed in batches of 100",
    hint="session.stream_scalars() over select(User), ordered, with "
    ".execution_options(yield_per=100); write each line inside the async for loop and keep "
    "no list of the users.",
)
async def _streamed_export(answer: Any) -> None:
    require_coroutine_function(answer, "export_users(session, out)")
    async with scratch_session() as session:
        await session.execute(
            insert(User),
            [
                {"name": f"{CHECKER_PREFIX}{i:05d}", "age": i % 90}
                for i in range(EXPORT_EXTRA_USERS)
            ],
        )
        rows = (await session.execute(select(User.id, User.name, User.age).order_by(User.id))).all()
        want = "".join(f"{uid},{name},{age}\n" for uid, name, age in rows)
        loaded = 0

        def count_load(target: Any, context: Any) -> None:
            nonlocal loaded
            if context.session is session.sync_session:
                loaded += 1

        out = _Out(session)
        event.listen(User, "load", count_load)
        try:
            await answer(session, out)
        finally:
            event.remove(User, "load", count_load)
        refuse_commit(session)
        got = "".join(out.parts)
        lines, want_lines = got.splitlines(keepends=True), want.splitlines(keepends=True)
        if got != want:
            if len(lines) != len(want_lines):
                raise Wrong(
                    f"{len(lines):,} line(s) written; the database has {len(want_lines):,} users "
                    "(one line each, ending in \\n)."
                )
            first = next(
                i for i, (a, b) in enumerate(zip(lines, want_lines, strict=True)) if a != b
            )
            raise Wrong(f"line {first + 1} is {lines[first]!r}, expected {want_lines[first]!r}.")
        if loaded < len(rows):
            raise Wrong(
                "the lines are right, but the session built no User objects for them: stream "
                "select(User), the entity, with stream_scalars()."
            )
        if out.most_held > STREAM_HOLD_MAX:
            raise Wrong(
                f"the session held {out.most_held:,} User objects at once while writing: stream "
                "them in batches (yield_per=100) and keep no list of them."
            )
