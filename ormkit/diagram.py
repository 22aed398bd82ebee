"""Draw the schema as an entity-relationship diagram: ``er_diagram(Base.metadata)``.

The diagram is generated from the metadata, so it can never disagree with the models. It is
Mermaid source; JupyterLab (4.1+) renders a ```` ```mermaid ```` block in Markdown output as a
picture, and GitHub does the same in Markdown files. Tables, columns and relationships are
listed in a fixed order, so the output is identical on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table
from sqlalchemy.engine.default import DefaultDialect

_DIALECT = DefaultDialect()  # generic type names (INTEGER, VARCHAR(50)), whatever the database


@dataclass(frozen=True)
class ERDiagram:
    """Mermaid ``erDiagram`` source; shown as a diagram in JupyterLab, as text elsewhere."""

    source: str

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.source}\n```"

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return self.source


def _type_name(column: Column[Any]) -> str:
    name = column.type.compile(dialect=_DIALECT)
    # Mermaid attribute types allow letters, digits, _, -, () and [] but no spaces or commas.
    return name.replace(" ", "_").replace(",", "_")


def _columns(table: Table) -> list[str]:
    lines = []
    for column in table.columns:
        keys = []
        if column.primary_key:
            keys.append("PK")
        if column.foreign_keys:
            keys.append("FK")
        line = f"        {_type_name(column)} {column.name}"
        if keys:
            line += " " + ", ".join(keys)
        if column.nullable and not column.primary_key:
            line += ' "nullable"'
        lines.append(line)
    return lines


def _relationships(table: Table) -> list[str]:
    lines = []
    for fk in sorted(table.foreign_keys, key=lambda fk: (fk.parent.name, fk.target_fullname)):
        parent = fk.column.table.name
        # Child side: a unique foreign key allows at most one child, otherwise many.
        child_end = "o|" if fk.parent.unique else "o{"
        # Parent side: a nullable foreign key makes the parent optional.
        parent_end = "|o" if fk.parent.nullable else "||"
        lines.append(f'    {parent} {parent_end}--{child_end} {table.name} : "{fk.parent.name}"')
    return lines


def er_diagram(metadata: MetaData) -> ERDiagram:
    """Return the Mermaid ER diagram of every table in ``metadata``.

    Example:
        >>> from ormkit import Base
        >>> print(er_diagram(Base.metadata).source.splitlines()[0])
        erDiagram
    """
    tables = sorted(metadata.tables.values(), key=lambda t: t.name)
    lines = ["erDiagram"]
    for table in tables:
        lines.append(f"    {table.name} {{")
        lines.extend(_columns(table))
        lines.append("    }")
    for table in tables:
        lines.extend(_relationships(table))
    return ERDiagram("\n".join(lines))


__all__ = ["ERDiagram", "er_diagram"]
