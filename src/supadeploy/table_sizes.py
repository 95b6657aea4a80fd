"""The target's tables as db.plan sees them: size from the catalog statistics, columns, indexes, constraints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg

from supadeploy.project import sql_file

TABLE_SIZES_SQL = "table_sizes.sql"
_TYPMODS = re.compile(r"\(([\d,\s]+)\)")


@dataclass(frozen=True)
class ColumnType:
    """A column's type: its internal name (int4, varchar, ...) and its type modifiers (length, precision)."""

    name: str
    modifiers: tuple[int, ...] = ()

    @classmethod
    def from_catalog(cls, typname: str, formatted: str) -> ColumnType:
        """From pg_type.typname and format_type(): `character varying(20)` gives modifiers (20,)."""
        found = _TYPMODS.search(formatted)
        mods = tuple(int(m) for m in found.group(1).split(",")) if found else ()
        array = formatted.endswith("[]")
        name = typname.lstrip("_") + "[]" if array and typname.startswith("_") else typname
        return cls(name, mods)


@dataclass(frozen=True)
class Constraint:
    """A table constraint: pg_constraint.contype (c, f, p, u, x, t), the table a foreign key references, columns."""

    kind: str
    references: str | None = None
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """One relation of the target: what the catalog says about its size and shape.

    rows is the planner's estimate (None: never analysed); bytes is exact (heap, TOAST and indexes).
    """

    schema: str
    name: str
    kind: str
    rows: int | None
    bytes: int | None
    columns: Mapping[str, ColumnType] = field(default_factory=dict)
    indexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    constraints: Mapping[str, Constraint] = field(default_factory=dict)
    referenced_by: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        """schema.name."""
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class TargetTables:
    """Every relation of the target by schema.name, and the domains that carry constraints."""

    tables: Mapping[str, Table] = field(default_factory=dict)
    constrained_domains: frozenset[str] = frozenset()

    def get(self, qualified: str) -> Table | None:
        """The table named schema.name, if the target has it."""
        return self.tables.get(qualified)

    def table_of_index(self, qualified_index: str) -> Table | None:
        """The table an index (schema.name) belongs to."""
        schema, _, name = qualified_index.partition(".")
        for table in self.tables.values():
            if table.schema == schema and name in table.indexes:
                return table
        return None


def read_tables(conn: psycopg.Connection) -> TargetTables:
    """Read sql/table_sizes.sql on the target: catalog only, so a read-only role is enough."""
    tables: dict[str, Table] = {}
    domains: set[str] = set()
    for schema, name, kind, rows, size, columns, indexes, constraints, referenced_by in conn.execute(
        sql_file(TABLE_SIZES_SQL).read_text().encode()
    ):
        if kind == "domain":
            domains.add(f"{schema}.{name}")
            continue
        tables[f"{schema}.{name}"] = Table(
            schema=schema,
            name=name,
            kind=kind,
            rows=None if rows is None else int(rows),
            bytes=None if size is None else int(size),
            columns={col: ColumnType.from_catalog(t, f) for col, (t, f) in columns.items()},
            indexes={index: tuple(cols) for index, cols in indexes.items()},
            constraints={con: Constraint(k, ref, tuple(cols)) for con, (k, ref, cols) in constraints.items()},
            referenced_by=tuple(referenced_by),
        )
    return TargetTables(tables, frozenset(domains))
