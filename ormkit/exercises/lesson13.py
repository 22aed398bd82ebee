"""Lesson 13 · Capstone: the checkers (an N+1-free endpoint, a migration that round-trips).

13.1 calls the learner's FastAPI endpoint in-process (httpx + ASGITransport) with the app's
session dependency replaced by a session the checker rolls back, after adding users and posts of
its own, and counts the SELECTs. 13.2 runs the learner's ``upgrade()`` / ``downgrade()`` with
Alembic's ``op`` on a private in-memory SQLite copy of the lesson's two tables.

FastAPI, httpx and Alembic come with the ``notebooks`` extra; they are imported when a check runs,
so ``ormkit.exercises`` still loads without them.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy import inspect as inspect_db
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import StaticPool

from .. import db
from . import Wrong, exercise
from ._support import CHECKER_PREFIX, describe

USERS, POSTS = "app_users", "app_posts"
ENDPOINT = "/users-with-posts"
SELECTS_MAX = 2


def _require(module: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise Wrong(
            f"{module} is not installed: pip install 'ormkit[notebooks]' (lesson 13's extra)."
        ) from None


def _session_dependencies(app: Any) -> set[Callable[..., Any]]:
    """The ``yield`` dependencies (async generator functions) the app's routes use, at any depth."""
    found: set[Callable[..., Any]] = set()

    def walk(dependant: Any) -> None:
        for sub in dependant.dependencies:
            if inspect.isasyncgenfunction(sub.call):
                found.add(sub.call)
            walk(sub)

    for route in app.routes:
        dependant = getattr(route, "dependant", None)
        if dependant is not None:
            walk(dependant)
    return found


async def _add_rows(session: AsyncSession, users: Table, posts: Table, plan: list[int]) -> None:
    """Add one checker user per entry of ``plan``, with that many posts each."""
    for n, post_count in enumerate(plan):
        result = await session.execute(
            insert(users).values(name=f"{CHECKER_PREFIX}{n:03d}", age=20 + n)
        )
        key = cast(CursorResult[Any], result).inserted_primary_key
        assert key is not None  # an INSERT of one row always has one
        user_id = key[0]
        for k in range(post_count):
            await session.execute(
                insert(posts).values(title=f"{CHECKER_PREFIX}post {n}.{k}", user_id=user_id)
            )


@exercise(
    "13.1",
    "GET /users-with-posts in at most two SELECTs",
    hint="a loader option that fetches every user's posts in one more query (lesson 06), "
    "through the session the get_session dependency gives; response_model=list[UserWithPosts].",
)
async def _users_with_posts(answer: Any) -> None:
    fastapi = _require("fastapi")
    httpx = _require("httpx")
    if not isinstance(answer, (fastapi.FastAPI, fastapi.APIRouter)):
        raise Wrong(f"expected the FastAPI app (answer = app), got {describe(answer)}.")
    app = answer
    if isinstance(answer, fastapi.APIRouter):
        app = fastapi.FastAPI()
        app.include_router(answer)
    paths = {getattr(route, "path", None) for route in app.routes}
    if ENDPOINT not in paths:
        raise Wrong(f"the app has no route {ENDPOINT}: add @app.get({ENDPOINT!r}, ...).")
    dependencies = _session_dependencies(app)
    if not dependencies:
        raise Wrong("the app's routes use no session dependency (async def get_session(): yield).")

    async with db.engine.connect() as conn:
        outer = await conn.begin()
        try:
            users, posts = await conn.run_sync(
                lambda sync: (
                    Table(USERS, MetaData(), autoload_with=sync),
                    Table(POSTS, MetaData(), autoload_with=sync),
                )
            )
        except NoSuchTableError:
            await outer.rollback()
            raise Wrong(
                f"the database has no {USERS} / {POSTS} tables: run the lesson's cell that "
                "creates them first."
            ) from None
        session = AsyncSession(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )

        async def checker_session() -> AsyncIterator[AsyncSession]:
            yield session

        selects = 0

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            nonlocal selects
            if statement.lstrip().upper().startswith("SELECT"):
                selects += 1

        saved = dict(app.dependency_overrides)
        app.dependency_overrides.update({dep: checker_session for dep in dependencies})
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://checker") as client:
                counts = []
                for plan in ([2, 0, 1], [3, 1, 0, 2, 1, 4]):  # two datasets, different sizes
                    await _add_rows(session, users, posts, plan)
                    want = await _expected(session, users, posts)
                    selects = 0
                    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
                    try:
                        response = await client.get(ENDPOINT)
                    finally:
                        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
                    _compare(response, want)
                    counts.append(selects)
        finally:
            app.dependency_overrides.clear()
            app.dependency_overrides.update(saved)
            await session.close()
            await outer.rollback()
    if counts[1] > counts[0]:
        raise Wrong(
            f"{counts[0]} SELECTs for the smaller set of users, {counts[1]} for the larger: the "
            "count grows with the users (N+1); load the posts together with the users."
        )
    if counts[1] > SELECTS_MAX:
        raise Wrong(f"{counts[1]} SELECTs per request; two are enough (users, then their posts).")


async def _expected(
    session: AsyncSession, users: Table, posts: Table
) -> list[tuple[int, str, list[str]]]:
    user_rows = (await session.execute(select(users.c.id, users.c.name).order_by(users.c.id))).all()
    post_rows = (
        await session.execute(select(posts.c.user_id, posts.c.title).order_by(posts.c.id))
    ).all()
    return [
        (uid, name, [title for owner, title in post_rows if owner == uid])
        for uid, name in user_rows
    ]


def _compare(response: Any, want: list[tuple[int, str, list[str]]]) -> None:
    if response.status_code != 200:
        raise Wrong(f"GET {ENDPOINT} answered {response.status_code}: {response.text[:200]}")
    body = response.json()
    if not isinstance(body, list):
        raise Wrong(f"GET {ENDPOINT} should return a JSON list, got {describe(body)}.")
    try:
        got = [
            (item["id"], item["name"], [post["title"] for post in item["posts"]]) for item in body
        ]
    except (KeyError, TypeError):
        raise Wrong(
            "each item needs id, name and posts (a list of objects with a title): use "
            "response_model=list[UserWithPosts]."
        ) from None
    if [g[0] for g in got] != [w[0] for w in want]:
        raise Wrong(
            f"{len(got)} user(s) returned, expected all {len(want)}, ordered by id (the "
            "checker added users of its own: use the session the dependency gives you)."
        )
    for g, w in zip(got, want, strict=True):
        if g != w:
            raise Wrong(f"user {w[0]}: got posts {g[2]!r}, expected {w[2]!r} (ordered by post id).")


# --------------------------------------------------------------------------- 13.2


def _scratch_tables(metadata: MetaData) -> tuple[Table, Table]:
    users = Table(
        USERS,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False),
        Column("age", Integer, nullable=False),
    )
    posts = Table(
        POSTS,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("title", String(200), nullable=False),
        Column("user_id", ForeignKey(f"{USERS}.id", ondelete="CASCADE"), nullable=False),
    )
    return users, posts


def _snapshot(conn: Connection) -> tuple[list[str], list[tuple[Any, ...]]]:
    columns = [c["name"] for c in inspect_db(conn).get_columns(POSTS)]
    rows = conn.exec_driver_sql(f"SELECT id, title, user_id FROM {POSTS} ORDER BY id").all()
    return columns, [tuple(r) for r in rows]


@exercise(
    "13.2",
    "a migration that adds app_posts.published and round-trips",
    hint="op.add_column() with a sa.Column that is nullable=False and has a server_default; "
    "downgrade() undoes exactly that (op.drop_column()).",
)
async def _round_trip(answer: Any) -> None:
    _require("alembic")
    if not (isinstance(answer, tuple) and len(answer) == 2 and all(map(callable, answer))):
        raise Wrong(f"expected (upgrade, downgrade), two functions, got {describe(answer)}.")
    upgrade, downgrade = answer
    for fn in answer:
        if inspect.iscoroutinefunction(fn):
            raise Wrong(f"{fn.__name__}() is async; Alembic calls migrations as plain functions.")
    # A private in-memory database: the checker never touches the lesson's tables.
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        for rows in (3, 0):  # with existing posts, and on empty tables
            with engine.begin() as conn:
                _check_round_trip(conn, upgrade, downgrade, rows)
    finally:
        engine.dispose()


def _check_round_trip(conn: Connection, upgrade: Any, downgrade: Any, rows: int) -> None:
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    metadata = MetaData()
    users, posts = _scratch_tables(metadata)
    metadata.drop_all(conn)
    metadata.create_all(conn)
    conn.execute(insert(users).values(id=1, name="Ada", age=36))
    for i in range(rows):
        conn.execute(insert(posts).values(title=f"post {i}", user_id=1))
    before = _snapshot(conn)
    context = MigrationContext.configure(conn)
    when = f"with {rows} post(s) in the table" if rows else "on an empty table"

    def run(fn: Any, name: str) -> None:
        with Operations.context(context):
            try:
                fn()
            except Exception as exc:
                raise Wrong(f"{name}() failed {when}: {type(exc).__name__}: {exc}") from None

    for round_ in (1, 2):  # upgrade, downgrade, and once more: a migration must be repeatable
        run(upgrade, "upgrade")
        found = {c["name"]: c for c in inspect_db(conn).get_columns(POSTS)}
        column = found.get("published")
        if column is None:
            raise Wrong(f"after upgrade() {POSTS} has no column published.")
        if column["nullable"]:
            raise Wrong("published is nullable: add it with nullable=False.")
        if not isinstance(column["type"], (Boolean, Integer)) and "BOOL" not in str(column["type"]):
            raise Wrong(f"published has the type {column['type']}; it should be a Boolean.")
        values = [v for (v,) in conn.exec_driver_sql(f"SELECT published FROM {POSTS}").all()]
        if any(v not in (0, False) for v in values):
            raise Wrong(f"the existing posts' published is {values[:3]!r}, expected false.")
        try:
            conn.exec_driver_sql(f"INSERT INTO {POSTS} (title, user_id) VALUES ('new', 1)")
        except Exception:
            raise Wrong(
                "a post inserted without published is refused: give the column a "
                "server_default (false) so the database fills it in."
            ) from None
        new = conn.exec_driver_sql(f"SELECT published FROM {POSTS} WHERE title = 'new'").scalar()
        if new not in (0, False):
            raise Wrong(f"a new post gets published = {new!r}; the default should be false.")
        conn.exec_driver_sql(f"DELETE FROM {POSTS} WHERE title = 'new'")
        run(downgrade, "downgrade")
        after = _snapshot(conn)
        if after[0] != before[0]:
            raise Wrong(
                f"after downgrade() (round {round_}) {POSTS} has the columns {after[0]}, "
                f"expected {before[0]} as before the upgrade."
            )
        if after[1] != before[1]:
            raise Wrong(f"downgrade() (round {round_}) changed the posts' rows: keep the data.")
