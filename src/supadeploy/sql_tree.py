"""PostgreSQL's own parse tree (libpg_query, through pglast) as plain JSON data, and how to read it.

pglast can build typed Python objects for every node, but building them costs more than the whole
lint may spend; libpg_query's JSON, decoded by the C json module, is several times faster and holds
the same tree. A node is `{"Kind": {fields}}`; fields whose type is fixed (a RangeVar `relation`, a
TypeName) hold the bare `{fields}`; false booleans and empty lists are left out; enums are names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from pglast import parser

ParseError = parser.ParseError
Node = dict[str, Any]
NOTHING: Node = {}


@dataclass(frozen=True)
class RawStatement:
    """A top-level statement and where it is in the text, in characters."""

    node: Node
    start: int
    end: int


class Offsets:
    """Character offsets and line numbers for the byte offsets libpg_query reports."""

    def __init__(self, text: str) -> None:
        """Index the text once."""
        self.text = text
        self.ascii = text.isascii()
        self.encoded: str | bytes = text if self.ascii else text.encode()

    def char(self, byte: int) -> int:
        """The character offset of a byte offset."""
        if isinstance(self.encoded, str):
            return byte
        return len(self.encoded[:byte].decode(errors="ignore"))

    def line(self, char: int) -> int:
        """The 1-based line holding the character at `char`."""
        return self.text.count("\n", 0, char) + 1


def parse(text: str, offsets: Offsets | None = None) -> list[RawStatement]:
    """The statements of a SQL text; raises ParseError (message, character offset) as pglast does."""
    offsets = offsets or Offsets(text)
    tree = json.loads(parser.parse_sql_json(text))
    found = []
    for raw in tree.get("stmts", []):
        start = raw.get("stmt_location", 0)
        end = start + raw["stmt_len"] if raw.get("stmt_len") else len(offsets.encoded)
        found.append(RawStatement(raw["stmt"], offsets.char(start), offsets.char(end)))
    return found


def parse_quietly(text: str) -> list[Node]:
    """The statement nodes of a SQL text, or none when it does not parse."""
    try:
        return [raw["stmt"] for raw in json.loads(parser.parse_sql_json(text)).get("stmts", [])]
    except ParseError:
        return []


def parse_plpgsql(source: str) -> Any:
    """The PL/pgSQL tree of a CREATE FUNCTION statement's text (raises ParseError)."""
    return json.loads(parser.parse_plpgsql_json(source))


def kind(node: Any) -> str:
    """The node's type name ("CreateStmt"), or "" for anything that is not a wrapped node."""
    # Node names start with a capital letter; the fields of a bare struct never do.
    if type(node) is dict and len(node) == 1:
        key = next(iter(node))
        if "A" <= key[0] <= "Z":
            return str(key)
    return ""


def fields(node: Any) -> Node:
    """The fields of a wrapped node, or of a bare struct; {} for anything else."""
    if type(node) is not dict:
        return NOTHING
    if len(node) == 1:
        key = next(iter(node))
        if "A" <= key[0] <= "Z":
            return cast(Node, node[key])
    return cast(Node, node)


def names(nodes: Any) -> tuple[str, ...]:
    """The strings of a name list (`[{"String": {"sval": "public"}}, ...]`)."""
    return tuple(n["String"].get("sval", "") for n in nodes or () if isinstance(n, dict) and "String" in n)


def string(node: Any) -> str | None:
    """The value of a String node, or of an A_Const holding a string (through casts)."""
    if kind(node) == "TypeCast":
        return string(node["TypeCast"].get("arg"))
    if isinstance(node, dict) and "String" in node:
        return str(node["String"].get("sval", ""))
    if isinstance(node, dict) and "A_Const" in node:
        value = node["A_Const"].get("sval")
        return value.get("sval", "") if isinstance(value, dict) else None
    return None


def qualified(relation: Any, default: str = "public") -> tuple[str, str]:
    """(schema, name) of a RangeVar, unqualified names taken as `default`."""
    found = fields(relation)
    return (found.get("schemaname") or default, found.get("relname", ""))


def role_names(specs: Any) -> set[str]:
    """Role names from RoleSpec nodes, PUBLIC as "public"."""
    found = set()
    for spec in specs or ():
        spec = fields(spec)
        if spec.get("roletype") == "ROLESPEC_PUBLIC":
            found.add("public")
        elif spec.get("roletype") == "ROLESPEC_CSTRING":
            found.add(spec.get("rolename", ""))
    return found


def options(node: Node, key: str = "options") -> dict[str, Any]:
    """DefElem options by name (the last one wins), their `arg` as the value."""
    found = {}
    for item in node.get(key) or ():
        element = fields(item)
        found[element.get("defname", "")] = element.get("arg")
    return found


def walk(node: Any) -> Iterator[tuple[str, Node]]:
    """(kind, fields) of every wrapped node at or below `node`."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, dict):
            name = kind(current)
            if name:
                inner = current[name]
                yield name, inner
                stack.extend(v for v in inner.values() if isinstance(v, dict | list))
            else:
                stack.extend(v for v in current.values() if isinstance(v, dict | list))
