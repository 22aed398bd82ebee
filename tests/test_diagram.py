"""``er_diagram``: the schema as Mermaid source, with each relationship's cardinality right."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table

from ormkit import Base
from ormkit.diagram import ERDiagram, er_diagram


def test_the_kits_schema() -> None:
    # A post has exactly one user (user_id NOT NULL); a user has zero or more posts.
    assert er_diagram(Base.metadata).source == (
        "erDiagram\n"
        "    posts {\n"
        "        INTEGER id PK\n"
        "        VARCHAR(200) title\n"
        "        INTEGER user_id FK\n"
        "    }\n"
        "    users {\n"
        "        INTEGER id PK\n"
        "        VARCHAR(50) name\n"
        "        INTEGER age\n"
        "    }\n"
        '    users ||--o{ posts : "user_id"'
    )


@pytest.mark.parametrize(
    ("nullable", "unique", "line"),
    [
        (False, False, 'parents ||--o{ children : "parent_id"'),  # exactly one parent, many
        (True, False, 'parents |o--o{ children : "parent_id"'),  # at most one parent, many
        (False, True, 'parents ||--o| children : "parent_id"'),  # exactly one, at most one child
        (True, True, 'parents |o--o| children : "parent_id"'),  # at most one each way
    ],
    ids=["not-null", "nullable", "not-null-unique", "nullable-unique"],
)
def test_cardinality_follows_nullable_and_unique(nullable: bool, unique: bool, line: str) -> None:
    metadata = MetaData()
    Table("parents", metadata, Column("id", Integer, primary_key=True))
    Table(
        "children",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("parent_id", ForeignKey("parents.id"), nullable=nullable, unique=unique),
    )
    source = er_diagram(metadata).source
    assert source.splitlines()[-1] == f"    {line}"
    optional = ' "nullable"' if nullable else ""
    assert f"        INTEGER parent_id FK{optional}" in source.splitlines()


def test_relationships_are_listed_in_a_fixed_order() -> None:
    metadata = MetaData()
    Table("a", metadata, Column("id", Integer, primary_key=True))
    Table(
        "b",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("second", ForeignKey("a.id"), nullable=False),
        Column("first", ForeignKey("a.id"), nullable=False),
    )
    lines = er_diagram(metadata).source.splitlines()
    assert lines[-2:] == ['    a ||--o{ b : "first"', '    a ||--o{ b : "second"']


def test_jupyter_shows_it_as_a_mermaid_block() -> None:
    diagram = ERDiagram("erDiagram")
    assert diagram._repr_markdown_() == "```mermaid\nerDiagram\n```"
    assert str(diagram) == repr(diagram) == "erDiagram"
