"""What a run of migration files does to RLS, privileges and functions, as far as their SQL text shows.

The lint rules read these facts; nothing here connects to a database. The starting point is
Supabase's: PUBLIC may execute every new function (PostgreSQL's default), and anon, authenticated
and service_role get every new table, sequence and function in `public` and `graphql_public`
(Supabase's default privileges), except in `public` when config.toml has
`[api] auto_expose_new_tables = false` (the CLI then revokes those defaults).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pglast
from pglast import ast
from pglast.enums import FunctionParameterMode, GrantTargetType, ObjectType, RoleSpecType

from supadeploy.anon_predicates import TRUE, anon_outcomes, null_for_anon

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
FUNCTION_OBJECTS = (ObjectType.OBJECT_FUNCTION, ObjectType.OBJECT_ROUTINE, ObjectType.OBJECT_PROCEDURE)
RELATION_OBJECTS = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW)
_ARGUMENT_MODES = (
    FunctionParameterMode.FUNC_PARAM_IN,
    FunctionParameterMode.FUNC_PARAM_INOUT,
    FunctionParameterMode.FUNC_PARAM_VARIADIC,
    FunctionParameterMode.FUNC_PARAM_DEFAULT,
)
_ASSIGNMENT = re.compile(r"^[^;]*?:?=(?P<value>.*)$", re.DOTALL)

Name = tuple[str, str]
FunctionKey = tuple[str, str, int]


def names(nodes: Iterable[Any] | None) -> tuple[str, ...]:
    """The strings of a pglast name list (`("public", "f")`)."""
    return tuple(n.sval for n in nodes or () if isinstance(n, ast.String))


def qualified(relation: ast.RangeVar, default: str = "public") -> Name:
    """(schema, name) of a relation, unqualified names taken as `default`."""
    return (relation.schemaname or default, relation.relname)


def role_names(specs: Iterable[Any] | None) -> set[str]:
    """Grantee roles, PUBLIC as "public"."""
    found = set()
    for spec in specs or ():
        if spec.roletype == RoleSpecType.ROLESPEC_PUBLIC:
            found.add("public")
        elif spec.roletype == RoleSpecType.ROLESPEC_CSTRING:
            found.add(spec.rolename)
    return found


def walk(node: Any) -> Iterator[Any]:
    """Every pglast node at or below `node`."""
    if isinstance(node, tuple):
        for item in node:
            yield from walk(item)
        return
    if not isinstance(node, ast.Node):
        return
    yield node
    for attribute in node:
        yield from walk(getattr(node, attribute))


@dataclass(frozen=True)
class Effects:
    """What a function body does that the lint cares about."""

    writes: frozenset[Name] = frozenset()
    calls: frozenset[Name] = frozenset()
    # EXECUTE of a string built at run time: what it touches cannot be read from the text.
    dynamic: bool = False
    # A body this parser cannot read (another language, or text pglast rejects).
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
    sql_body: Any
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


def _arity(parameters: Iterable[Any] | None) -> int:
    return sum(1 for p in parameters or () if p.mode in _ARGUMENT_MODES)


def _search_path(setting: ast.VariableSetStmt) -> tuple[str, ...] | None:
    if setting.kind.name != "VAR_SET_VALUE":
        return None
    path = []
    for arg in setting.args or ():
        value = getattr(getattr(arg, "val", None), "sval", None)
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
        api = set(API_ROLES)
        # (kind, schema or None for every schema) -> roles that get the privilege on new objects.
        self.defaults: dict[tuple[str, str | None], set[str]] = {("functions", None): {"public"}}
        for schema in SUPABASE_DEFAULT_SCHEMAS:
            granted = api if auto_expose_new_tables or schema != "public" else set()
            for kind in ("functions", "tables", "sequences"):
                self.defaults[(kind, schema)] = set(granted)

    # --- reading ----------------------------------------------------------------------------

    def default_roles(self, kind: str, schema: str) -> set[str]:
        """Roles that get privileges on a new object of this kind in this schema."""
        return self.defaults.get((kind, None), set()) | self.defaults.get((kind, schema), set())

    def matching(self, schema: str, name: str, arity: int | None = None) -> list[Function]:
        """Known functions with this name (and number of arguments, when given)."""
        return [f for f in self.functions.values() if (f.schema, f.name) == (schema, name) and arity in (None, f.arity)]

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

    def apply(self, node: Any, source: str) -> list[FunctionKey]:
        """Apply one top-level statement; return the keys of the functions it created or changed."""
        if isinstance(node, ast.CreateStmt) and node.relation is not None and node.relation.relpersistence != "t":
            self.tables.add(qualified(node.relation))
        elif isinstance(node, ast.AlterTableStmt) and node.relation is not None:
            self._alter_table(node)
        elif isinstance(node, ast.RenameStmt) and node.renameType in RELATION_OBJECTS and node.relation is not None:
            old = qualified(node.relation)
            new = (old[0], node.newname)
            for holder in (self.tables, self.rls):
                if old in holder:
                    holder.discard(old)
                    holder.add(new)
        elif isinstance(node, ast.DropStmt):
            return self._drop(node)
        elif isinstance(node, ast.CreateFunctionStmt):
            return [self._create_function(node, source)]
        elif isinstance(node, ast.AlterFunctionStmt):
            return self._alter_function(node)
        elif isinstance(node, ast.GrantStmt):
            return self._grant(node)
        elif isinstance(node, ast.AlterDefaultPrivilegesStmt):
            self._default_privileges(node)
        elif isinstance(node, ast.DoStmt):
            for inner, text in do_block_statements(node):
                self.apply(inner, text)
        return []

    def _alter_table(self, node: ast.AlterTableStmt) -> None:
        table = qualified(node.relation)
        for cmd in node.cmds or ():
            if not isinstance(cmd, ast.AlterTableCmd):
                continue
            if cmd.subtype.name == "AT_EnableRowSecurity":
                self.rls.add(table)
            elif cmd.subtype.name == "AT_DisableRowSecurity":
                self.rls.discard(table)

    def _drop(self, node: ast.DropStmt) -> list[FunctionKey]:
        if node.removeType in RELATION_OBJECTS:
            for parts in node.objects or ():
                path = names(parts)
                table = (path[0], path[1]) if len(path) > 1 else ("public", path[0])
                self.tables.discard(table)
                self.rls.discard(table)
        elif node.removeType in FUNCTION_OBJECTS:
            for target in node.objects or ():
                for function in self._named(target):
                    self.functions.pop(function.key, None)
        elif node.removeType == ObjectType.OBJECT_SCHEMA:
            gone = {n.sval for n in node.objects or () if isinstance(n, ast.String)}
            self.tables = {t for t in self.tables if t[0] not in gone}
            self.rls = {t for t in self.rls if t[0] not in gone}
            self.functions = {k: f for k, f in self.functions.items() if f.schema not in gone}
        return []

    def _named(self, target: ast.ObjectWithArgs) -> list[Function]:
        path = names(target.objname)
        schema, name = (path[0], path[-1]) if len(path) > 1 else ("public", path[-1])
        arity = None if target.args_unspecified else len(target.objargs or ())
        return self.matching(schema, name, arity)

    def _create_function(self, node: ast.CreateFunctionStmt, source: str) -> FunctionKey:
        path = names(node.funcname)
        schema, name = (path[0], path[-1]) if len(path) > 1 else ("public", path[-1])
        options = {o.defname: o.arg for o in node.options or ()}
        settings = [o.arg for o in node.options or () if o.defname == "set" and isinstance(o.arg, ast.VariableSetStmt)]
        search = [s for s in settings if s.name == "search_path"]
        language = options.get("language")
        returns = names(node.returnType.names) if node.returnType is not None else ()
        security = options.get("security")
        function = Function(
            schema=schema,
            name=name,
            arity=_arity(node.parameters),
            definer=isinstance(security, ast.Boolean) and bool(security.boolval),
            returns_trigger=bool(returns) and returns[-1] in TRIGGER_TYPES,
            procedure=bool(node.is_procedure),
            pinned=bool(search),
            search_path=_search_path(search[-1]) if search else None,
            language=(language.sval if isinstance(language, ast.String) else "sql").lower(),
            source=source,
            sql_body=node.sql_body if node.sql_body is not None else options.get("as"),
        )
        existing = self.functions.get(function.key)
        # CREATE OR REPLACE keeps the privileges of the function it replaces.
        function.executors = (
            set(existing.executors) if existing is not None else self.default_roles("functions", schema)
        )
        self.functions[function.key] = function
        return function.key

    def _alter_function(self, node: ast.AlterFunctionStmt) -> list[FunctionKey]:
        touched = []
        for function in self._named(node.func):
            for action in node.actions or ():
                if action.defname == "security" and isinstance(action.arg, ast.Boolean):
                    function.definer = bool(action.arg.boolval)
                elif action.defname in ("set", "reset") and isinstance(action.arg, ast.VariableSetStmt):
                    if action.arg.name == "search_path":
                        function.pinned = action.arg.kind.name != "VAR_RESET"
                        function.search_path = _search_path(action.arg) if function.pinned else None
                    elif action.arg.kind.name == "VAR_RESET_ALL":
                        function.pinned, function.search_path = False, None
            touched.append(function.key)
        return touched

    def _grant(self, node: ast.GrantStmt) -> list[FunctionKey]:
        if node.objtype not in FUNCTION_OBJECTS:
            return []
        privileges = {p.priv_name for p in node.privileges or ()} or {"all"}
        if not privileges & {"execute", "all"}:
            return []
        if node.targtype == GrantTargetType.ACL_TARGET_OBJECT:
            functions = [f for target in node.objects or () for f in self._named(target)]
        elif node.targtype == GrantTargetType.ACL_TARGET_ALL_IN_SCHEMA:
            schemas = {n.sval for n in node.objects or () if isinstance(n, ast.String)}
            functions = [f for f in self.functions.values() if f.schema in schemas]
        else:
            return []
        roles = role_names(node.grantees)
        for function in functions:
            if node.is_grant:
                function.executors |= roles
            else:
                function.executors -= roles
        return [f.key for f in functions]

    def _default_privileges(self, node: ast.AlterDefaultPrivilegesStmt) -> None:
        options = {o.defname: o.arg for o in node.options or ()}
        owners = role_names(options.get("roles"))
        if owners and MIGRATION_ROLE not in owners:
            return
        action = node.action
        kind = {
            ObjectType.OBJECT_FUNCTION: "functions",
            ObjectType.OBJECT_ROUTINE: "functions",
            ObjectType.OBJECT_TABLE: "tables",
            ObjectType.OBJECT_SEQUENCE: "sequences",
        }.get(action.objtype)
        if kind is None:
            return
        privileges = {p.priv_name for p in action.privileges or ()} or {"all"}
        if kind == "functions" and not privileges & {"execute", "all"}:
            return
        schemas: list[str | None] = [n.sval for n in options.get("schemas") or () if isinstance(n, ast.String)]
        roles = role_names(action.grantees)
        for schema in schemas or [None]:
            holder = self.defaults.setdefault((kind, schema), set())
            if action.is_grant:
                holder |= roles
            else:
                # A per-schema REVOKE cannot take back what the global defaults grant (PostgreSQL docs).
                holder -= roles


# --- what function bodies and DO blocks do ----------------------------------------------------


def _targets(tree: Any) -> tuple[set[Name], set[tuple[str, ...]]]:
    """Relations written (unresolved schema as "") and functions called, anywhere in a pglast tree."""
    writes: set[Name] = set()
    calls: set[tuple[str, ...]] = set()
    for node in walk(tree):
        if isinstance(node, ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt):
            if node.relation is not None:
                writes.add(qualified(node.relation, default=""))
        elif isinstance(node, ast.TruncateStmt):
            writes.update(qualified(r, default="") for r in node.relations or ())
        elif isinstance(node, ast.FuncCall):
            calls.add(names(node.funcname))
    return writes, calls


def _plpgsql_parts(tree: Any) -> Iterator[tuple[str, Any]]:
    """("dynamic", None) for run-time SQL, ("sql", text) for statements, ("expr", text) for expressions."""
    if isinstance(tree, list):
        for item in tree:
            yield from _plpgsql_parts(item)
        return
    if not isinstance(tree, dict):
        return
    for key, value in tree.items():
        if key in ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors") or (
            key == "PLpgSQL_stmt_open" and isinstance(value, dict) and "dynquery" in value
        ):
            yield "dynamic", None
        if key == "PLpgSQL_expr" and isinstance(value, dict) and isinstance(value.get("query"), str):
            mode = value.get("parseMode", 0)
            yield ("sql" if mode == 0 else "assign" if mode == 3 else "expr"), value["query"]
        else:
            yield from _plpgsql_parts(value)


def _parse_quietly(text: str) -> Any:
    try:
        return pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return None


def body_effects(function: Function) -> Effects:
    """Read what a SQL or PL/pgSQL body writes and calls; anything else is opaque."""
    writes: set[Name] = set()
    calls: set[tuple[str, ...]] = set()
    dynamic = opaque = refuses = False
    if function.language == "sql":
        body = function.sql_body
        if isinstance(body, tuple) and body and isinstance(body[0], ast.String):
            body = _parse_quietly(body[0].sval)
            opaque = body is None
        found_writes, found_calls = _targets(body)
        writes |= found_writes
        calls |= found_calls
    elif function.language == "plpgsql":
        try:
            tree = pglast.parse_plpgsql(function.source)
        except pglast.parser.ParseError:
            return Effects(opaque=True)
        found_writes, found_calls, dynamic = _plpgsql_targets(tree)
        writes |= found_writes
        calls |= found_calls
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


def _plpgsql_targets(tree: Any) -> tuple[set[Name], set[tuple[str, ...]], bool]:
    """Relations written and functions called by the static SQL in a PL/pgSQL tree; whether it runs dynamic SQL."""
    writes: set[Name] = set()
    calls: set[tuple[str, ...]] = set()
    dynamic = False
    for kind, text in _plpgsql_parts(tree):
        if kind == "dynamic":
            dynamic = True
            continue
        if kind == "assign":
            match = _ASSIGNMENT.match(text)
            text = match["value"] if match else text
        found_writes, found_calls = _targets(_parse_quietly(text if kind == "sql" else f"select {text}"))
        writes |= found_writes
        calls |= found_calls
    return writes, calls, dynamic


def _expression(text: str) -> Any:
    parsed = _parse_quietly(f"select {text}")
    if not parsed or not isinstance(parsed[0].stmt, ast.SelectStmt) or not parsed[0].stmt.targetList:
        return None
    return parsed[0].stmt.targetList[0].val


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
        kind, detail = next(iter(statement.items()))
        if kind == "PLpgSQL_stmt_assign":
            target, _, value = detail["expr"]["PLpgSQL_expr"]["query"].partition(":=")
            target = target.strip()
            if null_for_anon(_expression(value), frozenset(holding)):
                holding.add(target)
            else:
                holding.discard(target)
            continue
        if kind == "PLpgSQL_stmt_if":
            condition = _expression(detail.get("cond", {}).get("PLpgSQL_expr", {}).get("query", ""))
            if anon_outcomes(condition, frozenset(holding)) == {TRUE} and _stops(detail.get("then_body", [])):
                return True
        if kind == "PLpgSQL_stmt_raise" and _stops([statement]):
            return True
        if _plpgsql_targets(statement)[0]:
            return False
    return False


def resolve(name: tuple[str, ...], search_path: tuple[str, ...] | None) -> Name:
    """(schema, name) for a possibly unqualified name under a function's search_path."""
    if len(name) > 1 and name[-2]:
        return (name[-2], name[-1])
    if search_path is None or "public" in search_path or not search_path:
        return ("public", name[-1])
    return (search_path[0], name[-1])


def do_block_statements(node: ast.DoStmt) -> list[tuple[Any, str]]:
    """The static SQL statements inside a PL/pgSQL DO block, parsed (dynamic EXECUTE is not seen)."""
    options = {o.defname: o.arg for o in node.args or ()}
    language = options.get("language")
    body = options.get("as")
    if (isinstance(language, ast.String) and language.sval.lower() != "plpgsql") or not isinstance(body, ast.String):
        return []
    tag = "supadeploy_do"
    while f"${tag}$" in body.sval:
        tag += "_"
    wrapper = f"create function pg_temp.supadeploy_do() returns void language plpgsql as ${tag}${body.sval}${tag}$"
    try:
        tree = pglast.parse_plpgsql(wrapper)
    except pglast.parser.ParseError:
        return []
    found = []
    for kind, text in _plpgsql_parts(tree):
        if kind == "sql" and (parsed := _parse_quietly(text)):
            found.extend((raw.stmt, text) for raw in parsed)
    return found
