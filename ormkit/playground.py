"""``ormkit playground``: an IPython shell with top-level ``await`` and the kit loaded.

The shell gets the models, ``engine``, the ``async_session`` factory, the CRUD coroutines,
``select`` and friends, and a database holding the sample data. By default that database is the
playground's own SQLite file (``<data folder>/playground.db``, reset at each start), so nothing
typed here touches the lessons' database. (Piccolo's ``piccolo playground run`` is the model.)

IPython runs every top-level ``await`` on one persistent event loop
(``IPython.core.async_helpers.get_asyncio_loop``); the sample data is loaded on that same loop,
so the engine's pooled connections stay usable in the shell.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

STARTERS = """\
await list_users(limit=3)
await read_frame(select(User).where(User.age >= 30).order_by(User.age, User.id))
with show_sql():
    user = await get_user_with_posts(2)
user.posts
stmt = select(User.name, func.count(Post.id)).join(User.posts).group_by(User.id)
async with async_session() as session:
    rows = (await session.execute(stmt.order_by(User.id))).all()
rows"""


async def prepare(engine: AsyncEngine, *, fresh: bool) -> dict[str, int]:
    """Load the sample data (``fresh``: reset; else only into an empty database); count rows."""
    from .db import create_all_tables, reset, row_counts, seed

    if fresh:
        await reset(engine)
    else:
        await create_all_tables(engine)
        if not any((await row_counts(engine) or {}).values()):
            await seed(engine)
    return await row_counts(engine) or {}


def namespace(engine: AsyncEngine) -> dict[str, Any]:
    """Return the names the shell starts with (the kit's API, models and SQLAlchemy basics)."""
    import pandas as pd
    import sqlalchemy
    from sqlalchemy import and_, delete, func, insert, or_, select, text, update
    from sqlalchemy.orm import joinedload, selectinload

    import ormkit

    from . import db

    ns: dict[str, Any] = {name: getattr(ormkit, name) for name in ormkit.__all__}
    ns.update(
        engine=engine,
        async_session=db.async_session,
        sqlalchemy=sqlalchemy,
        select=select,
        insert=insert,
        update=update,
        delete=delete,
        func=func,
        and_=and_,
        or_=or_,
        text=text,
        selectinload=selectinload,
        joinedload=joinedload,
        pd=pd,
        ormkit=ormkit,
    )
    return ns


def schema_text(engine: AsyncEngine) -> str:
    """Describe the kit's tables: columns, types, keys, in the engine's SQL dialect."""
    from .models import Base

    lines = []
    for table in Base.metadata.sorted_tables:
        columns = []
        for column in table.columns:
            parts = [column.name, column.type.compile(dialect=engine.dialect)]
            if column.primary_key:
                parts.append("PK")
            for fk in column.foreign_keys:
                rule = f" ON DELETE {fk.ondelete}" if fk.ondelete else ""
                parts.append(f"-> {fk.target_fullname}{rule}")
            if not column.nullable and not column.primary_key:
                parts.append("NOT NULL")
            columns.append(" ".join(parts))
        lines.append(f"  {table.name}")
        lines.extend(f"    {c}" for c in columns)
    return "\n".join(lines)


def banner(engine: AsyncEngine, counts: dict[str, int], *, fresh: bool) -> str:
    """The text printed when the shell starts: database, schema, names in scope, starters."""
    import sqlalchemy

    from .config import display_url

    state = "reset to the sample data" if fresh else "used as is"
    rows = ", ".join(f"{n} {name}" for name, n in counts.items())
    starters = "\n".join(f"  {line}" for line in STARTERS.splitlines())
    return f"""
ormkit playground · SQLAlchemy {sqlalchemy.__version__}
Database: {display_url(engine.url)} ({state}: {rows})

Schema
{schema_text(engine)}

In scope: User, Post, engine, async_session, select, insert, update, delete, func, text,
selectinload, pd, and the kit's coroutines (add_user, list_users, get_user_posts, read_frame,
show_sql, reset, ...). Top-level await works.

Try:
{starters}

Leave with exit (or Ctrl-D).
"""


def run(url: URL, *, fresh: bool) -> int:
    """Point the kit at ``url``, load the sample data and start IPython; return an exit code."""
    from IPython import start_ipython
    from IPython.core.async_helpers import get_asyncio_loop
    from traitlets.config import Config

    from . import db

    # IPython runs the shell's awaits on this loop: the kit's engine must live on it too, so the
    # swap is entered and left here rather than inside one coroutine.
    loop = get_asyncio_loop()
    using = db.kit.using(url)
    engine = loop.run_until_complete(using.__aenter__())
    try:
        counts = loop.run_until_complete(prepare(engine, fresh=fresh))
        config = Config()
        config.TerminalInteractiveShell.banner2 = banner(engine, counts, fresh=fresh)
        config.InteractiveShell.autoawait = True
        config.InteractiveShell.loop_runner = "asyncio"
        start_ipython(argv=[], user_ns=namespace(engine), config=config)
    finally:
        loop.run_until_complete(using.__aexit__(None, None, None))
    return 0
