"""What a run of migration files does to RLS, privileges and functions, as far as their SQL text shows.

The lint rules read these facts; nothing here connects to a database. The starting point is
Supabase's: PUBLIC may execute every new function (PostgreSQL's default), and anon, authenticated
and service_role get every new table, sequence and function in `public` and `graphql_public`
(Supabase's default privileges), except in `public` when config.toml has
`[api] auto_expose_new_tables = false` (the CLI then revokes those defaults).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from supadeploy.anon_predicates import TRUE, anon_outcomes, null_for_anon
from supadeploy.sql_tree import (
    Node,
    ParseError,
    fields,
    kind,
    names,
    options,
    parse_plpgsql,
    parse_quietly,
    qualified,
    role_names,
    walk,
)

API_ROLES = frozenset({"anon", "authenticated", "service_role"})
# Roles PostgREST switches to for requests that are not service_role.
CALLER_ROLES = frozenset({"public", "anon", "authenticated"})
# Roles whose grants reach anon: PUBLIC includes every role.
ANON_ROLES = frozenset({"public", "anon"})
# PostgreSQL refuses to call these directly ("trigger functions can only be called as triggers").
TRIGGER_TYPES = frozenset({"trigger", "event_trigger"})
# Migrations run as postgres: default privileges set for other roles do not apply to their objects.
MIGRATION_ROLE = "postgres"
SUPABASE_DEFAULT_SCHEMAS = ("public", "graphql_public")
FUNCTION_OBJECTS = frozenset({"OBJECT_FUNCTION", "OBJECT_ROUTINE", "OBJECT_PROCEDURE"})
RELATION_OBJECTS = frozenset({"OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW"})
DEFAULT_KINDS = {
    "OBJECT_FUNCTION": "functions",
    "OBJECT_ROUTINE": "functions",
    "OBJECT_TABLE": "tables",
    "OBJECT_SEQUENCE": "sequences",
}
_ARGUMENT_MODES = frozenset({"FUNC_PARAM_IN", "FUNC_PARAM_INOUT", "FUNC_PARAM_VARIADIC", "FUNC_PARAM_DEFAULT"})
_ASSIGNMENT = re.compile(r"^[^;]*?:?=(?P<value>.*)$", re.DOTALL)
_WRITES = ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")

Name = tuple[str, str]
FunctionKey = tuple[str, str, int]


@dataclass(frozen=True)
class Effects:
    """What a function body does that the lint cares about."""

    writes: frozenset[Name] = frozenset()
    calls: frozenset[Name] = frozenset()
    # EXECUTE of a string built at run time: what it touches cannot be read from the text.
    dynamic: bool = False
    # A body this parser cannot read (another language, or text PostgreSQL's parser rejects).
    opaque: bool = False
    # The body stops an anon caller (RAISE or RETURN on `auth.uid() is null` or the like) before any write.
    refuses_anon: bool = False

    def __or__(self, other: Effects) -> Effects:
        """Both bodies' effects; whether anon is refused stays the first body's."""
        return Effects(
            self.writes | other.writes,
            self.calls | other.calls,
            self.dynamic or other.dynamic,
            self.opaque or other.opaque,
            self.refuses_anon,
        )


@dataclass
class Function:
    """One function as the migrations so far leave it."""

    schema: str
    name: str
    arity: int
    definer: bool
    returns_trigger: bool
    procedure: bool
    pinned: bool
    search_path: tuple[str, ...] | None
    language: str
    source: str
    body: Any
    executors: set[str] = field(default_factory=set)

    @property
    def key(self) -> FunctionKey:
        """(schema, name, number of input arguments)."""
        return (self.schema, self.name, self.arity)

    @property
    def qualified_name(self) -> str:
        """schema.name."""
        return f"{self.schema}.{self.name}"

    @property
    def anon_can_execute(self) -> bool:
        """Whether anon holds EXECUTE, directly or through PUBLIC."""
        return bool(self.executors & ANON_ROLES)

    @cached_property
    def effects(self) -> Effects:
        """Tables written, functions called, dynamic SQL: read from the body once, when asked."""
        return body_effects(self)


def _split_name(parts: tuple[str, ...]) -> Name:
    return (parts[-2], parts[-1]) if len(parts) > 1 else ("public", parts[-1] if parts else "")


def _search_path(setting: Node) -> tuple[str, ...] | None:
    if setting.get("kind") != "VAR_SET_VALUE":
        return None
    path: list[str] = []
    for arg in setting.get("args") or ():
        value = fields(fields(arg).get("sval")).get("sval")
        if value is not None:
            path.extend(part.strip().strip('"') for part in value.split(",") if part.strip().strip('"'))
    return tuple(path)


class SchemaModel:
    """RLS, function privileges and default privileges after the statements applied so far."""

    def __init__(self, *, auto_expose_new_tables: bool = True) -> None:
        """Start from Supabase's defaults."""
        self.rls: set[Name] = set()
        self.tables: set[Name] = set()
        self.functions: dict[FunctionKey, Function] = {}
        # (schema, name) -> the keys of its overloads ever created (dropped ones are skipped when read).
        self.overloads: dict[Name, set[FunctionKey]] = {}
        # Who could execute each function the last GRANT or REVOKE touched, before it ran.
        self.held_before: dict[FunctionKey, frozenset[str]] = {}
        # Whether the last CREATE [OR REPLACE] FUNCTION made a function that did not exist.
        self.created_new = False
        api = set(API_ROLES)
        # (kind, schema or None for every schema) -> roles that get the privilege on new objects.
        self.defaults: dict[tuple[str, str | None], set[str]] = {("functions", None): {"public"}}
        for schema in SUPABASE_DEFAULT_SCHEMAS:
            granted = api if auto_expose_new_tables or schema != "public" else set()
            for what in ("functions", "tables", "sequences"):
                self.defaults[(what, schema)] = set(granted)

    # --- reading ----------------------------------------------------------------------------

    def default_roles(self, what: str, schema: str) -> set[str]:
        """Roles that get privileges on a new object of this kind in this schema."""
        return self.defaults.get((what, None), set()) | self.defaults.get((what, schema), set())

    def matching(self, schema: str, name: str, arity: int | None = None) -> list[Function]:
        """Known functions with this name (and number of arguments, when given)."""
        found = [self.functions[k] for k in self.overloads.get((schema, name), ()) if k in self.functions]
        return [f for f in found if arity in (None, f.arity)]

    def reach(self, function: Function) -> Effects:
        """The function's effects together with those of every known function it calls, transitively."""
        total, seen, todo = Effects(refuses_anon=function.effects.refuses_anon), set(), [function]
        while todo:
            current = todo.pop()
            if current.key in seen:
                continue
            seen.add(current.key)
            total = total | current.effects
            for schema, name in current.effects.calls:
                todo.extend(self.matching(schema, name))
        return total

    # --- applying statements ----------------------------------------------------------------

    def apply(self, node: Node, source: str) -> list[FunctionKey]:
        """Apply one top-level statement; return the keys of the functions it created or changed."""
        name = kind(node)
        statement = fields(node)
        if (
            name == "CreateStmt"
            and statement.get("relation")
            and fields(statement["relation"]).get("relpersistence") != "t"
        ):
            self.tables.add(qualified(statement["relation"]))
        elif name == "AlterTableStmt" and statement.get("relation"):
            self._alter_table(statement)
        elif name == "RenameStmt" and statement.get("renameType") in RELATION_OBJECTS and statement.get("relation"):
            old = qualified(statement["relation"])
            new = (old[0], statement.get("newname", ""))
            for holder in (self.tables, self.rls):
                if old in holder:
                    holder.discard(old)
                    holder.add(new)
        elif name == "DropStmt":
            self._drop(statement)
        elif name == "CreateFunctionStmt":
            return [self._create_function(statement, source)]
        elif name == "AlterFunctionStmt":
            return self._alter_function(statement)
        elif name == "GrantStmt":
            return self._grant(statement)
        elif name == "AlterDefaultPrivilegesStmt":
            self._default_privileges(statement)
        elif name == "DoStmt":
            for inner, text in do_block_statements(statement):
                self.apply(inner, text)
        return []

    def _alter_table(self, statement: Node) -> None:
        table = qualified(statement["relation"])
        for command in statement.get("cmds") or ():
            subtype = fields(command).get("subtype")
            if subtype == "AT_EnableRowSecurity":
                self.rls.add(table)
            elif subtype == "AT_DisableRowSecurity":
                self.rls.discard(table)

    def _drop(self, statement: Node) -> None:
        removing = statement.get("removeType")
        if removing in RELATION_OBJECTS:
            for item in statement.get("objects") or ():
                table = _split_name(names(fields(item).get("items")))
                self.tables.discard(table)
                self.rls.discard(table)
        elif removing in FUNCTION_OBJECTS:
            for target in statement.get("objects") or ():
                for function in self._named(fields(target)):
                    self.functions.pop(function.key, None)
        elif removing == "OBJECT_SCHEMA":
            gone = set(names(statement.get("objects")))
            self.tables = {t for t in self.tables if t[0] not in gone}
            self.rls = {t for t in self.rls if t[0] not in gone}
            self.functions = {k: f for k, f in self.functions.items() if f.schema not in gone}

    def _named(self, target: Node) -> list[Function]:
        schema, name = _split_name(names(target.get("objname")))
        arity = None if target.get("args_unspecified") else len(target.get("objargs") or ())
        return self.matching(schema, name, arity)

    def _create_function(self, statement: Node, source: str) -> FunctionKey:
        schema, name = _split_name(names(statement.get("funcname")))
        chosen = options(statement)
        search = [
            fields(fields(o).get("arg"))
            for o in statement.get("options") or ()
            if fields(o).get("defname") == "set" and fields(fields(o).get("arg")).get("name") == "search_path"
        ]
        returns = names(fields(statement.get("returnType")).get("names"))
        body = statement.get("sql_body")
        if body is None:
            body = next(iter(names(fields(chosen.get("as")).get("items"))), None)
        function = Function(
            schema=schema,
            name=name,
            arity=sum(1 for p in statement.get("parameters") or () if fields(p).get("mode") in _ARGUMENT_MODES),
            definer=bool(fields(chosen.get("security")).get("boolval")),
            returns_trigger=bool(returns) and returns[-1] in TRIGGER_TYPES,
            procedure=bool(statement.get("is_procedure")),
            pinned=bool(search),
            search_path=_search_path(search[-1]) if search else None,
            language=(fields(chosen.get("language")).get("sval") or "sql").lower(),
            source=source,
            body=body,
        )
        existing = self.functions.get(function.key)
        self.created_new = existing is None
        # CREATE OR REPLACE keeps the privileges of the function it replaces.
        function.executors = (
            set(existing.executors) if existing is not None else self.default_roles("functions", schema)
        )
        self.functions[function.key] = function
        self.overloads.setdefault((schema, name), set()).add(function.key)
        return function.key

    def _alter_function(self, statement: Node) -> list[FunctionKey]:
        touched = []
        for function in self._named(fields(statement.get("func"))):
            for action in statement.get("actions") or ():
                action = fields(action)
                setting = fields(action.get("arg"))
                if action.get("defname") == "security":
                    function.definer = bool(setting.get("boolval"))
                elif action.get("defname") in ("set", "reset") and kind(action.get("arg")) == "VariableSetStmt":
                    if setting.get("name") == "search_path":
                        function.pinned = setting.get("kind") != "VAR_RESET"
                        function.search_path = _search_path(setting) if function.pinned else None
                    elif setting.get("kind") == "VAR_RESET_ALL":
                        function.pinned, function.search_path = False, None
            touched.append(function.key)
        return touched

    def _grant(self, statement: Node) -> list[FunctionKey]:
        if statement.get("objtype") not in FUNCTION_OBJECTS:
            return []
        privileges = {fields(p).get("priv_name") for p in statement.get("privileges") or ()} or {"all"}
        if not privileges & {"execute", "all"}:
            return []
        if statement.get("targtype") == "ACL_TARGET_OBJECT":
            functions = [f for target in statement.get("objects") or () for f in self._named(fields(target))]
        elif statement.get("targtype") == "ACL_TARGET_ALL_IN_SCHEMA":
            schemas = set(names(statement.get("objects")))
            functions = [f for f in self.functions.values() if f.schema in schemas]
        else:
            return []
        roles = role_names(statement.get("grantees"))
        self.held_before = {f.key: frozenset(f.executors) for f in functions}
        for function in functions:
            if statement.get("is_grant"):
                function.executors |= roles
            else:
                function.executors -= roles
        return [f.key for f in functions]

    def _default_privileges(self, statement: Node) -> None:
        chosen = options(statement)
        owners = role_names(fields(chosen.get("roles")).get("items") or chosen.get("roles"))
        if owners and MIGRATION_ROLE not in owners:
            return
        action = fields(statement.get("action"))
        what = DEFAULT_KINDS.get(action.get("objtype", ""))
        if what is None:
            return
        privileges = {fields(p).get("priv_name") for p in action.get("privileges") or ()} or {"all"}
        if what == "functions" and not privileges & {"execute", "all"}:
            return
        listed = chosen.get("schemas")
        schemas: list[str | None] = list(names(fields(listed).get("items") or listed)) or [None]
        roles = role_names(action.get("grantees"))
        for schema in schemas:
            holder = self.defaults.setdefault((what, schema), set())
            if action.get("is_grant"):
                holder |= roles
            else:
                # A per-schema REVOKE cannot take back what the global defaults grant (PostgreSQL docs).
                holder -= roles


# --- what function bodies and DO blocks do ----------------------------------------------------


def _targets(tree: Any) -> tuple[set[tuple[str, str]], set[tuple[str, ...]]]:
    """Relations an anon caller can write (unresolved schema as "") and functions called, in a parse tree.

    An UPDATE or DELETE whose WHERE no anon request can pass (`where owner = auth.uid()`) writes
    nothing for anon, so it is left out.
    """
    writes: set[tuple[str, str]] = set()
    calls: set[tuple[str, ...]] = set()
    for name, node in walk(tree):
        if name in _WRITES:
            where = node.get("whereClause") if name in ("UpdateStmt", "DeleteStmt") else None
            if node.get("relation") and (where is None or TRUE in anon_outcomes(where)):
                writes.add(qualified(node["relation"], default=""))
        elif name == "TruncateStmt":
            writes.update(qualified(r, default="") for r in node.get("relations") or ())
        elif name == "FuncCall":
            calls.add(names(node.get("funcname")))
    return writes, calls


def _plpgsql_parts(tree: Any) -> Iterator[tuple[str, Any]]:
    """("dynamic", None) for run-time SQL, ("sql", text) for statements, ("expr"/"assign", text) otherwise."""
    stack = [tree]
    while stack:
        current = stack.pop()
        if isinstance(current, list):
            stack.extend(reversed(current))
            continue
        if not isinstance(current, dict):
            continue
        for key, value in current.items():
            if key in ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors") or (
                key == "PLpgSQL_stmt_open" and isinstance(value, dict) and "dynquery" in value
            ):
                yield "dynamic", None
            if key == "PLpgSQL_expr" and isinstance(value, dict) and isinstance(value.get("query"), str):
                mode = value.get("parseMode", 0)
                yield ("sql" if mode == 0 else "assign" if mode == 3 else "expr"), value["query"]
            elif isinstance(value, dict | list):
                stack.append(value)


def body_effects(function: Function) -> Effects:
    """Read what a SQL or PL/pgSQL body writes and calls; anything else is opaque."""
    writes: set[tuple[str, str]] = set()
    calls: set[tuple[str, ...]] = set()
    dynamic = opaque = refuses = False
    if function.language == "sql":
        body = function.body
        if isinstance(body, str):
            body = parse_quietly(body)
            opaque = not body and bool(function.body.strip())
        writes, calls = _targets(body)
    elif function.language == "plpgsql":
        try:
            tree = parse_plpgsql(function.source)
        except ParseError:
            return Effects(opaque=True)
        writes, calls, dynamic = _plpgsql_targets(tree)
        refuses = _refuses_anon(tree)
    else:
        opaque = True
    return Effects(
        frozenset(resolve(w, function.search_path) for w in writes),
        frozenset(resolve(c, function.search_path) for c in calls if c),
        dynamic,
        opaque,
        refuses,
    )


def _plpgsql_targets(tree: Any) -> tuple[set[tuple[str, str]], set[tuple[str, ...]], bool]:
    """Relations written and functions called by the static SQL in a PL/pgSQL tree; whether it runs dynamic SQL."""
    writes: set[tuple[str, str]] = set()
    calls: set[tuple[str, ...]] = set()
    dynamic = False
    for part, text in _plpgsql_parts(tree):
        if part == "dynamic":
            dynamic = True
            continue
        if part == "assign":
            match = _ASSIGNMENT.match(text)
            text = match["value"] if match else text
        found_writes, found_calls = _targets(parse_quietly(text if part == "sql" else f"select {text}"))
        writes |= found_writes
        calls |= found_calls
    return writes, calls, dynamic


def resolve(name: tuple[str, ...], search_path: tuple[str, ...] | None) -> Name:
    """(schema, name) for a possibly unqualified name under a function's search_path."""
    if len(name) > 1 and name[-2]:
        return (name[-2], name[-1])
    if not search_path or "public" in search_path:
        return ("public", name[-1])
    return (search_path[0], name[-1])


def _expression(text: str) -> Any:
    parsed = parse_quietly(f"select {text}")
    targets = fields(parsed[0]).get("targetList") if parsed else None
    return fields(targets[0]).get("val") if targets else None


def _stops(body: list[Any]) -> bool:
    """Whether a statement list ends the call: RAISE EXCEPTION or RETURN at its top level."""
    for statement in body:
        if "PLpgSQL_stmt_return" in statement:
            return True
        raised = statement.get("PLpgSQL_stmt_raise")
        # elog level 21 is ERROR (RAISE EXCEPTION, and RAISE without a level).
        if raised is not None and raised.get("elog_level", 21) >= 21:
            return True
    return False


def _refuses_anon(tree: Any) -> bool:
    """Whether the function's top-level statements refuse an anon caller before they write anything."""
    try:
        function = tree[0]["PLpgSQL_function"]
        body = function["action"]["PLpgSQL_stmt_block"]["body"]
    except (IndexError, KeyError, TypeError):
        return False
    holding: set[str] = set()
    for datum in function.get("datums", []):
        variable = datum.get("PLpgSQL_var", {})
        default = variable.get("default_val", {}).get("PLpgSQL_expr", {}).get("query")
        if default and null_for_anon(_expression(default), frozenset(holding)):
            holding.add(variable.get("refname", ""))
    for statement in body:
        step, detail = next(iter(statement.items()))
        if step == "PLpgSQL_stmt_assign":
            target, _, value = detail["expr"]["PLpgSQL_expr"]["query"].partition(":=")
            if null_for_anon(_expression(value), frozenset(holding)):
                holding.add(target.strip())
            else:
                holding.discard(target.strip())
            continue
        if step == "PLpgSQL_stmt_if":
            condition = _expression(detail.get("cond", {}).get("PLpgSQL_expr", {}).get("query", ""))
            if anon_outcomes(condition, frozenset(holding)) == {TRUE} and _stops(detail.get("then_body", [])):
                return True
        if step == "PLpgSQL_stmt_raise" and _stops([statement]):
            return True
        if _plpgsql_targets(statement)[0]:
            return False
    return False


def do_block_statements(statement: Node) -> tuple[tuple[Node, str], ...]:
    """The static SQL statements inside a PL/pgSQL DO block, parsed (dynamic EXECUTE is not seen)."""
    chosen = options(statement, "args")
    language = fields(chosen.get("language")).get("sval", "plpgsql")
    body = fields(chosen.get("as")).get("sval")
    if language.lower() != "plpgsql" or not isinstance(body, str):
        return ()
    return _do_block(body)


@lru_cache(maxsize=256)
def _do_block(body: str) -> tuple[tuple[Node, str], ...]:
    tag = "supadeploy_do"
    while f"${tag}$" in body:
        tag += "_"
    wrapper = f"create function pg_temp.supadeploy_do() returns void language plpgsql as ${tag}${body}${tag}$"
    try:
        tree = parse_plpgsql(wrapper)
    except ParseError:
        return ()
    return tuple((node, text) for part, text in _plpgsql_parts(tree) if part == "sql" for node in parse_quietly(text))
