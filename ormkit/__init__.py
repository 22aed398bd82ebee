"""ormkit: a Jupyter teaching kit for SQLAlchemy's asyncio ORM.

Example:
    >>> from ormkit import reset, add_user, get_user_posts
    >>> await reset()
    >>> await add_user("Ada", 36)
    User(id=14, name='Ada', age=36)
"""

from . import db as _db
from .config import ConfigError, default_url, display_url, resolve_url
from .crud import (
    add_many_users,
    add_post,
    add_user,
    count_users,
    delete_user,
    get_user,
    get_user_by_name,
    get_user_posts,
    get_user_with_posts,
    list_users,
    update_user_age,
    update_user_name,
)
from .db import (
    DatabaseLocationError,
    KitDatabase,
    ResetError,
    async_session,
    create_all_tables,
    drop_all_tables,
    kit,
    make_engine,
    make_sessionmaker,
    reset,
    run_transaction,
    seed,
    use_database,
)
from .frames import NotAQueryError, read_frame, to_frame
from .models import Base, Post, User
from .results import result_methods
from .sql import SQLLog, query_plan, show_sql
from .validation import InvalidTypeError, ValidationError

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ``ormkit.engine`` is the kit's current engine, looked up at each access (PEP 562), so it
    # follows use_database() and is only created (never connected) on first use.
    if name == "engine":
        return _db.kit.engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Base",
    "ConfigError",
    "DatabaseLocationError",
    "InvalidTypeError",
    "KitDatabase",
    "NotAQueryError",
    "Post",
    "ResetError",
    "SQLLog",
    "User",
    "ValidationError",
    "add_many_users",
    "add_post",
    "add_user",
    "async_session",
    "count_users",
    "create_all_tables",
    "default_url",
    "delete_user",
    "display_url",
    "drop_all_tables",
    "engine",
    "get_user",
    "get_user_by_name",
    "get_user_posts",
    "get_user_with_posts",
    "kit",
    "list_users",
    "make_engine",
    "make_sessionmaker",
    "query_plan",
    "read_frame",
    "reset",
    "resolve_url",
    "result_methods",
    "run_transaction",
    "seed",
    "show_sql",
    "to_frame",
    "update_user_age",
    "update_user_name",
    "use_database",
]
