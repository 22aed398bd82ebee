"""The kit's models: a ``User`` has many ``Post``s.

Rules live in two places on purpose: ``@validates`` gives a clear Python message as soon as an
attribute is set, and CHECK / FOREIGN KEY constraints make the database itself refuse bad rows
written by any other route (raw SQL, Core ``insert()``, another program).

Deleting a user deletes their posts (``ON DELETE CASCADE`` in the schema, mirrored by the ORM's
``cascade="all, delete-orphan"``), so a post never outlives its author.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, Connection, Dialect, ForeignKey, String, Table
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.schema import BaseDDLElement, CreateTable, SchemaItem
from sqlalchemy.sql.compiler import DDLCompiler

from .validation import (
    AGE_MAX,
    AGE_MIN,
    NAME_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    check_age,
    check_id,
    check_name,
    check_title,
)


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base; ``AsyncAttrs`` adds ``obj.awaitable_attrs.<relationship>``."""

    def to_dict(self) -> dict[str, Any]:
        """Return the mapped columns as a plain dict (what a DataFrame row or JSON wants).

        The cheat sheet's ``to_dict``, for every model: a ``User`` gives ``id``, ``name``,
        ``age``; a ``Post`` gives ``id``, ``title``, ``user_id``.

        Example:
            >>> User(id=1, name="Ada", age=36).to_dict()
            {'id': 1, 'name': 'Ada', 'age': 36}
            >>> Post(id=2, title="Hello", user_id=1).to_dict()
            {'id': 2, 'title': 'Hello', 'user_id': 1}
        """
        return {attr.key: getattr(self, attr.key) for attr in self.__mapper__.column_attrs}

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.to_dict().items())
        return f"{type(self).__name__}({fields})"


def _not_sqlite(
    ddl: BaseDDLElement,
    target: SchemaItem | str,
    bind: Connection | None,
    tables: list[Table] | None = None,
    state: Any | None = None,
    *,
    dialect: Dialect,
    compiler: DDLCompiler | None = None,
    checkfirst: bool = False,
    **kw: Any,
) -> bool:
    return dialect.name != "sqlite"


def _length_checks(column: str, max_length: int, table: str) -> tuple[CheckConstraint, ...]:
    # Not blank (TRIM, so "   " is refused as @validates refuses it) and at most max_length
    # characters. SQLite ignores VARCHAR(n), so the limit is a CHECK there; MySQL's LENGTH() counts
    # bytes, so the other dialects use CHAR_LENGTH(), which counts characters like Python's len().
    name = f"ck_{table}_{column}_length"
    return (
        CheckConstraint(
            f"length(trim({column})) >= 1 AND length({column}) <= {max_length}", name=name
        ).ddl_if(dialect="sqlite"),
        CheckConstraint(
            f"char_length(trim({column})) >= 1 AND char_length({column}) <= {max_length}",
            name=name,
        ).ddl_if(callable_=_not_sqlite),
    )


# MySQL/MariaDB compare and sort text by the table's collation, and the usual default
# (utf8mb4_general_ci) is case-insensitive: name == 'alice' would find 'Alice'. A binary collation
# makes =, LIKE and ORDER BY case-sensitive and ordered by code point, as on SQLite and PostgreSQL.
# Added when CREATE TABLE is compiled for them, rather than as mysql_charset=... table options:
# those make `import ormkit` import every MySQL driver module SQLAlchemy has (a third of its time).
MYSQL_TABLE_OPTIONS = "CHARSET=utf8mb4 COLLATE utf8mb4_bin"


@compiles(CreateTable, "mysql", "mariadb")
def _create_mysql_table(element: CreateTable, compiler: DDLCompiler, **kw: Any) -> str:
    ddl: str = compiler.visit_create_table(element, **kw)  # type: ignore[no-untyped-call]
    if element.element.name not in ("users", "posts"):
        return ddl
    return f"{ddl.rstrip()}{MYSQL_TABLE_OPTIONS}\n\n"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        *_length_checks("name", NAME_MAX_LENGTH, "users"),
        CheckConstraint(f"age BETWEEN {AGE_MIN} AND {AGE_MAX}", name="ck_users_age_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    age: Mapped[int]
    posts: Mapped[list[Post]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        passive_deletes=True,  # let ON DELETE CASCADE remove unloaded posts in one statement
        order_by="Post.id",
    )

    @validates("name")
    def _validate_name(self, key: str, value: Any) -> str:
        return check_name(value)

    @validates("age")
    def _validate_age(self, key: str, value: Any) -> int:
        return check_age(value)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = _length_checks("title", TITLE_MAX_LENGTH, "posts")

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship(back_populates="posts")

    @validates("title")
    def _validate_title(self, key: str, value: Any) -> str:
        return check_title(value)

    @validates("user_id")
    def _validate_user_id(self, key: str, value: Any) -> int:
        return check_id(value)
