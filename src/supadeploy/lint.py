"""Migration safety lint: squawk's rules plus Supabase-specific ones, on the real PostgreSQL parser (pglast)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from supadeploy import pgtools
from supadeploy.anon_predicates import anon_can_pass
from supadeploy.errors import ConfigError, ToolFailed, ToolNotFound
from supadeploy.migrations import migration_sql
from supadeploy.project import Project
from supadeploy.schema_model import (
    ANON_ROLES,
    API_ROLES,
    CALLER_ROLES,
    Function,
    FunctionKey,
    Name,
    SchemaModel,
    do_block_statements,
)
from supadeploy.sql_tree import Node, Offsets, ParseError, fields, kind, names, parse, qualified, role_names

SQUAWK_CONFIG = ".squawk.toml"
SUPPRESS = re.compile(
    r"^\s*--\s*supadeploy-ignore(?P<file>-file)?\s+(?P<rules>[a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)"
    r"\s*(?::\s*(?P<reason>.*\S))?\s*$"
)
DEFAULT_EXPOSED = ("public", "graphql_public")
PER_ROW_CALLS = {("auth", "uid"), ("auth", "jwt"), ("auth", "role"), ("auth", "email"), ("current_setting",)}
TRANSACTION_CONTROL = frozenset(
    {
        "TRANS_STMT_BEGIN",
        "TRANS_STMT_START",
        "TRANS_STMT_COMMIT",
        "TRANS_STMT_ROLLBACK",
        "TRANS_STMT_PREPARE",
        "TRANS_STMT_COMMIT_PREPARED",
    }
)
WRITE_PRIVILEGES = {"insert", "update", "delete", "truncate", "all"}
# Writes through these schemas change sign-in or stored files, whatever their RLS.
PROTECTED_SCHEMAS = ("auth", "storage")
LEVELS = ("warn", "error")
# squawk's rules about locks, scans and old clients on an existing table: moot on a table this file created.
FRESH_TABLE_RULES = frozenset(
    {
        "adding-field-with-default",
        "adding-foreign-key-constraint",
        "adding-not-nullable-field",
        "adding-primary-key-constraint",
        "adding-required-field",
        "adding-serial-primary-key-field",
        "ban-drop-column",
        "ban-drop-not-null",
        "changing-column-type",
        "constraint-missing-not-valid",
        "disallowed-unique-constraint",
        "renaming-column",
        "require-concurrent-index-creation",
    }
)


@dataclass(frozen=True)
class Rule:
    """A Supabase-specific check: a stable name, a level and the one-line fix."""

    name: str
    level: str
    fix: str


RULES = {
    rule.name: rule
    for rule in (
        Rule("rls-not-enabled", "error", "add `alter table <t> enable row level security;` to the same migration"),
        Rule("security-definer-search-path", "error", "add `set search_path = ''` and schema-qualify every name"),
        Rule(
            "security-definer-exposed",
            "error",
            "move the function to a schema the Data API does not expose, or revoke execute from public, anon "
            "and authenticated",
        ),
        Rule(
            "security-definer-anon-write",
            "error",
            "`revoke execute on function <f> from public, anon` (grant it to authenticated if signed-in users need "
            "it), or move it out of the exposed schema",
        ),
        Rule("anon-write-grant", "error", "enable RLS on the table, or grant writes to authenticated, not anon"),
        Rule("lock-table", "error", "remove LOCK TABLE: DDL takes the locks it needs; use a DO block if you must"),
        Rule("transaction-control", "error", "remove BEGIN/COMMIT: the CLI applies each file atomically on its own"),
        Rule("concurrently-not-alone", "error", "put CREATE INDEX CONCURRENTLY in a migration file of its own"),
        Rule("enum-value-not-alone", "error", "put ALTER TYPE ... ADD VALUE in a migration file of its own"),
        Rule(
            "function-executable-by-anon",
            "warn",
            "`revoke execute on function <f> from public, anon` and grant it to the roles that need it",
        ),
        Rule("api-grant-missing", "warn", "grant the Data API roles what they need: `grant select on <t> to ...`"),
        Rule("policy-without-roles", "warn", "add `to authenticated`: anon cannot pass this policy anyway"),
        Rule("policy-per-row-call", "warn", "wrap the call in a subquery: `(select auth.uid())`"),
        Rule("suppression-without-reason", "error", "write the reason: `-- supadeploy-ignore <rule>: <why>`"),
        Rule("unknown-rule", "error", "name a rule from `invoke db.lint --help`"),
        Rule("syntax-error", "error", "fix the SQL so PostgreSQL can parse it"),
    )
}


@dataclass(frozen=True)
class Finding:
    """One problem at one place."""

    rule: str
    level: str
    file: str
    line: int
    message: str
    fix: str
    source: str = "supadeploy"

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "rule": self.rule,
            "level": self.level,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "source": self.source,
        }

    def annotation(self) -> str:
        """A GitHub Actions workflow command that annotates the line in the pull request."""
        kind = "error" if self.level == "error" else "warning"
        return f"::{kind} file={self.file},line={self.line},title={self.rule}::{self.message} (fix: {self.fix})"


@dataclass(frozen=True)
class ApiSettings:
    """What supabase/config.toml [api] says about the Data API, as the rules need it."""

    exposed: tuple[str, ...] = DEFAULT_EXPOSED
    # Unset means true: new objects in `public` get the Data API roles' privileges without a GRANT.
    auto_expose_new_tables: bool = True


def api_settings(project: Project) -> ApiSettings:
    """[api] schemas and auto_expose_new_tables from supabase/config.toml (defaults when absent)."""
    try:
        config = tomllib.loads((project.root / "supabase" / "config.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return ApiSettings()
    api = config.get("api", {})
    schemas = api.get("schemas")
    return ApiSettings(
        exposed=tuple(schemas) if schemas else DEFAULT_EXPOSED,
        auto_expose_new_tables=api.get("auto_expose_new_tables") is not False,
    )


def exposed_schemas(project: Project) -> tuple[str, ...]:
    """The schemas the Data API exposes, from supabase/config.toml [api] schemas."""
    return api_settings(project).exposed


# --- statements, positions and suppressions ----------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One parsed statement with the line its first token is on and the rules suppressed for it."""

    node: Node
    line: int
    suppressed: frozenset[str]
    source: str
    # The node's type ("CreateStmt") and fields, named once: every rule reads them.
    kind: str
    fields: Node

    @classmethod
    def of(cls, node: Node, line: int, suppressed: frozenset[str] = frozenset(), source: str = "") -> Statement:
        """A statement from its parse tree node."""
        return cls(node, line, suppressed, source, kind(node), fields(node))


@dataclass(frozen=True)
class ParsedFile:
    """A file's statements, the problems its suppression comments have, and its file-wide suppressions."""

    statements: list[Statement]
    problems: list[Finding]
    file_wide: frozenset[str]
    parsed: bool = True
    lines: int = 0


def first_token(text: str, start: int, end: int) -> int:
    """The offset of the first character in text[start:end] that is neither blank nor inside a comment."""
    position = start
    while position < end:
        if text[position].isspace():
            position += 1
        elif text.startswith("--", position):
            newline = text.find("\n", position)
            position = end if newline == -1 else newline + 1
        elif text.startswith("/*", position):
            depth, position = 1, position + 2
            while position < end and depth:
                if text.startswith("/*", position):
                    depth, position = depth + 1, position + 2
                elif text.startswith("*/", position):
                    depth, position = depth - 1, position + 2
                else:
                    position += 1
        else:
            break
    return min(position, end)


def parse_file(text: str, display: str) -> ParsedFile:
    """Parse a file; collect per-statement and file-wide suppressions (with their own findings)."""
    offsets = Offsets(text)
    try:
        raws = parse(text, offsets)
    except ParseError as exc:
        # args: (message, 0-based character offset of the offending token)
        location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        line = offsets.line(max(location, 0))
        finding = _finding("syntax-error", display, line, f"PostgreSQL cannot parse this file: {exc.args[0]}")
        return ParsedFile([], [finding], frozenset(), parsed=False)
    suppressions = "supadeploy-ignore" in text
    lines = text.splitlines() if suppressions else []
    problems: list[Finding] = []
    file_wide: set[str] = set()
    if "supadeploy-ignore-file" in text:
        for number, text_line in enumerate(lines, start=1):
            rules, whole_file, trouble = _suppression(text_line.strip(), display, number, whole_file_only=True)
            problems.extend(trouble)
            if whole_file:
                file_wide.update(rules)
    statements: list[Statement] = []
    first_line, counted = 1, 0
    for raw in raws:
        start = first_token(text, raw.start, raw.end)
        # Statements come in order: count line breaks from the previous one only.
        first_line += text.count("\n", counted, start)
        counted = start
        # Comment lines directly above a statement belong to it, as squawk reads its own ignores.
        suppressed: set[str] = set()
        above = first_line - 1
        while suppressions and above >= 1 and lines[above - 1].strip().startswith("--"):
            rules, whole_file, trouble = _suppression(lines[above - 1].strip(), display, above)
            if not whole_file:
                problems.extend(trouble)
                suppressed.update(rules)
            above -= 1
        statements.append(Statement.of(raw.node, first_line, frozenset(suppressed), text[start : raw.end]))
    return ParsedFile(statements, problems, frozenset(file_wide), lines=text.count("\n") + 1)


def _suppression(
    comment: str, display: str, line: int, *, whole_file_only: bool = False
) -> tuple[set[str], bool, list[Finding]]:
    match = SUPPRESS.match(comment)
    if not match or (whole_file_only and not match["file"]):
        return set(), False, []
    rules = {r.strip() for r in match["rules"].split(",")}
    problems = [
        _finding("unknown-rule", display, line, f"suppression names unknown rule {r!r}")
        for r in sorted(rules)
        if r not in RULES
    ]
    if not match["reason"]:
        problems.append(
            _finding(
                "suppression-without-reason",
                display,
                line,
                f"suppression of {', '.join(sorted(rules))} gives no reason",
            )
        )
        return set(), False, problems
    return rules & set(RULES), bool(match["file"]), problems


def _finding(rule: str, file: str, line: int, message: str) -> Finding:
    spec = RULES[rule]
    return Finding(rule, spec.level, file, line, message, spec.fix)


def _per_row_calls(expressions: list[Any]) -> list[str]:
    """Per-row calls in policy predicates; a call inside a subquery runs once, so subqueries are skipped."""
    calls: list[str] = []
    stack = [e for e in expressions if e]
    while stack:
        node = stack.pop()
        if type(node) is list:
            stack.extend(node)
            continue
        if type(node) is not dict or "SubLink" in node:
            continue
        call = node.get("FuncCall")
        if call is not None:
            called = names(call.get("funcname"))
            if called in PER_ROW_CALLS or called[-1:] == ("current_setting",):
                calls.append(".".join(called) + "()")
        for value in node.values():
            if type(value) is dict or type(value) is list:
                stack.append(value)
    return calls


# --- the checks -------------------------------------------------------------------------------


def _rls_targets(statement: Node) -> set[Name]:
    name, node = kind(statement), fields(statement)
    if name == "AlterTableStmt" and node.get("relation"):
        if any(fields(c).get("subtype") == "AT_EnableRowSecurity" for c in node.get("cmds") or ()):
            return {qualified(node["relation"])}
    if name == "DoStmt":
        return {t for inner, _ in do_block_statements(node) for t in _rls_targets(inner)}
    return set()


def _object_names(grant: Node) -> list[Name]:
    return [qualified(o) for o in grant.get("objects") or () if kind(o) == "RangeVar"]


def _created_relation(statement: Statement) -> tuple[Name, str, str] | None:
    """(name, privileges kind, what it is) for a table, view or sequence this statement creates."""
    name, node = statement.kind, statement.fields
    if name == "CreateStmt":
        relation, privileges, what = node.get("relation"), "tables", "table"
    elif name == "ViewStmt":
        relation, privileges, what = node.get("view"), "tables", "view"
    elif name == "CreateTableAsStmt":
        relation = fields(node.get("into")).get("rel")
        matview = node.get("objtype") == "OBJECT_MATVIEW"
        privileges, what = "tables", "materialized view" if matview else "table"
    elif name == "CreateSeqStmt":
        relation, privileges, what = node.get("sequence"), "sequences", "sequence"
    else:
        return None
    if not relation or fields(relation).get("relpersistence") == "t":
        return None
    return qualified(relation), privileges, what


def _grants_api_access(statement: Statement, name: Name, privileges: str) -> bool:
    node = statement.fields
    if statement.kind != "GrantStmt" or not node.get("is_grant"):
        return False
    if not role_names(node.get("grantees")) & (API_ROLES | {"public"}):
        return False
    if node.get("objtype") != ("OBJECT_SEQUENCE" if privileges == "sequences" else "OBJECT_TABLE"):
        return False
    if node.get("targtype") == "ACL_TARGET_ALL_IN_SCHEMA":
        return name[0] in names(node.get("objects"))
    return name in _object_names(node)


@dataclass
class _FunctionTouch:
    """Where this file created a function, made it SECURITY DEFINER, or granted it to callers."""

    created_at: Statement | None = None
    created_new: bool = False
    definer_at: Statement | None = None
    callers_granted_at: Statement | None = None
    anon_granted_at: Statement | None = None
    granted_to: set[str] = field(default_factory=set)

    def latest(self, *statements: Statement | None) -> Statement | None:
        """The last of the statements that happened in this file: where a hazard was completed."""
        present = [s for s in statements if s is not None]
        return max(present, key=lambda s: s.line) if present else None


@dataclass
class FileResult:
    """The Supabase rules' findings for one file, and the line spans squawk's new-table rules do not apply to."""

    findings: list[Finding]
    fresh_spans: list[tuple[int, int]]
    parsed: bool

    def fresh(self, line: int) -> bool:
        """Whether the line belongs to a statement that alters a table this file created."""
        return any(start <= line < end for start, end in self.fresh_spans)


class _FileCheck:
    """The rules over one file's statements, reading and updating the project's schema model."""

    def __init__(self, parsed: ParsedFile, display: str, settings: ApiSettings, model: SchemaModel) -> None:
        self.parsed = parsed
        self.display = display
        self.settings = settings
        self.model = model
        self.found: list[Finding] = []
        self.touched: dict[FunctionKey, _FunctionTouch] = {}
        # Tables reported by rls-not-enabled: grants on them restate the one hole, already reported.
        self.reported_open: set[Name] = set()

    def report(self, statement: Statement, rule: str, message: str) -> None:
        if rule not in statement.suppressed and rule not in self.parsed.file_wide:
            self.found.append(_finding(rule, self.display, statement.line, message))

    def run(self) -> FileResult:
        statements = self.parsed.statements
        file_rls = {t for s in statements if s.kind in ("AlterTableStmt", "DoStmt") for t in _rls_targets(s.node)}
        several = len(statements) > 1
        created_here: set[Name] = set()
        fresh: list[tuple[int, int]] = []
        for position, statement in enumerate(statements):
            target = _altered_table(statement)
            if target is not None and target in created_here:
                end = statements[position + 1].line if position + 1 < len(statements) else self.parsed.lines + 1
                fresh.append((statement.line, max(end, statement.line + 1)))
            self.check(statement, statements, position, file_rls, several=several)
            if statement.kind == "CreateStmt" and statement.fields.get("relation"):
                created_here.add(qualified(statement.fields["relation"]))
            for key in self.model.apply(statement.node, statement.source):
                held = self.model.held_before.get(key, frozenset())
                self.note(key, statement, new=self.model.created_new, held=held)
        self.check_functions()
        return FileResult(self.found, fresh, parsed=True)

    def note(self, key: FunctionKey, statement: Statement, *, new: bool, held: frozenset[str]) -> None:
        """Remember what this statement did to the function, for the checks at the end of the file."""
        touch = self.touched.setdefault(key, _FunctionTouch())
        function, node = self.model.functions[key], statement.fields
        if statement.kind == "CreateFunctionStmt":
            touch.created_at, touch.created_new = statement, new
            # CREATE OR REPLACE sets every property anew.
            touch.definer_at = statement if function.definer else None
        elif statement.kind == "AlterFunctionStmt":
            made_definer = function.definer and any(
                fields(a).get("defname") == "security" for a in node.get("actions") or ()
            )
            touch.definer_at = statement if made_definer else touch.definer_at
        elif statement.kind == "GrantStmt" and node.get("is_grant"):
            touch.granted_to |= role_names(node.get("grantees"))
            # Only a grant that gives callers what they did not hold opens anything.
            if not held & CALLER_ROLES and function.executors & CALLER_ROLES:
                touch.callers_granted_at = statement
            if not held & ANON_ROLES and function.anon_can_execute:
                touch.anon_granted_at = statement

    # --- statement by statement ---------------------------------------------------------------

    def check(
        self, statement: Statement, statements: list[Statement], position: int, file_rls: set[Name], *, several: bool
    ) -> None:
        name, node = statement.kind, statement.fields
        if name == "CreateStmt":
            self.check_rls(statement, file_rls)
        if name in ("CreateStmt", "ViewStmt", "CreateTableAsStmt", "CreateSeqStmt"):
            created = _created_relation(statement)
            if created is not None:
                self.check_api_grant(statement, created, statements[position + 1 :])
        if name == "GrantStmt" and node.get("is_grant"):
            self.check_anon_write(statement, file_rls)
        elif name == "CreatePolicyStmt":
            self.check_policy(statement)
        elif name == "LockStmt":
            self.report(
                statement,
                "lock-table",
                "LOCK TABLE fails under the Supabase CLI (3.1.0 adds no transaction block around a file): "
                "SQLSTATE 25P01, LOCK TABLE can only be used in transaction blocks",
            )
        elif name == "TransactionStmt" and node.get("kind") in TRANSACTION_CONTROL:
            self.report(
                statement,
                "transaction-control",
                "transaction control inside a migration: the CLI then skips or half-applies what follows",
            )
        elif name == "IndexStmt" and node.get("concurrent") and several:
            self.report(
                statement,
                "concurrently-not-alone",
                "CREATE INDEX CONCURRENTLY cannot run in the one implicit transaction the CLI applies a file in",
            )
        elif name == "AlterEnumStmt" and node.get("newVal") and several:
            self.report(
                statement,
                "enum-value-not-alone",
                "a value added by ALTER TYPE ... ADD VALUE cannot be used until its transaction commits",
            )

    def check_rls(self, statement: Statement, file_rls: set[Name]) -> None:
        relation = statement.fields.get("relation")
        if not relation or fields(relation).get("relpersistence") == "t":
            return
        table = qualified(relation)
        # CREATE TABLE IF NOT EXISTS on a table an earlier migration created does nothing.
        already = statement.fields.get("if_not_exists") and table in self.model.tables
        if table[0] not in self.settings.exposed or table in file_rls or already:
            return
        before = len(self.found)
        self.report(
            statement,
            "rls-not-enabled",
            f"table {table[0]}.{table[1]} is exposed by the Data API but this migration does not enable RLS",
        )
        if len(self.found) > before:
            self.reported_open.add(table)

    def check_anon_write(self, statement: Statement, file_rls: set[Name]) -> None:
        node = statement.fields
        privileges = {str(fields(p).get("priv_name")) for p in node.get("privileges") or ()} or {"all"}
        writes = privileges & WRITE_PRIVILEGES
        grantees = role_names(node.get("grantees")) & ANON_ROLES
        if not writes or not grantees or node.get("objtype") != "OBJECT_TABLE":
            return
        who = "anon" if "anon" in grantees else "PUBLIC (anon included)"
        listed = ", ".join(sorted(writes))
        # With RLS on, the policies decide what anon may write: the grant restates Supabase's default
        # privileges (as `supabase db diff` output does).
        guarded = file_rls | self.model.rls
        if node.get("targtype") == "ACL_TARGET_ALL_IN_SCHEMA":
            schemas = set(names(node.get("objects")))
            open_tables = sorted(t for t in self.model.tables if t[0] in schemas and t not in guarded)
            if open_tables:
                shown = ", ".join(f"{s}.{t}" for s, t in open_tables[:3])
                more = f" and {len(open_tables) - 3} more" if len(open_tables) > 3 else ""
                self.report(
                    statement,
                    "anon-write-grant",
                    f"grants {listed} on all tables to {who}, among them {shown}{more} without RLS",
                )
        elif node.get("targtype") == "ACL_TARGET_OBJECT":
            unguarded = [t for t in _object_names(node) if t not in guarded and t not in self.reported_open]
            if unguarded:
                shown = ", ".join(f"{s}.{t}" for s, t in unguarded)
                self.report(
                    statement,
                    "anon-write-grant",
                    f"grants {listed} on {shown} to {who}, and no migration up to here enables RLS on it",
                )

    def check_policy(self, statement: Statement) -> None:
        node = statement.fields
        roles = role_names(node.get("roles"))
        everyone = not roles or "public" in roles
        policy = node.get("policy_name", "")
        if everyone and node.get("permissive") and not anon_can_pass(node):
            self.report(
                statement,
                "policy-without-roles",
                f"policy {policy!r} applies to every role, but only signed-in users can pass it: "
                "PostgreSQL still evaluates it for anon requests",
            )
        # Those calls spell `auth` or `current_setting` in the text: most policies need no walk.
        text = statement.source.lower()
        calls = []
        if "auth" in text or "current_setting" in text:
            calls = _per_row_calls([node.get("qual"), node.get("with_check")])
        if calls:
            self.report(
                statement,
                "policy-per-row-call",
                f"policy {policy!r} calls {', '.join(sorted(set(calls)))} once per row",
            )

    def check_api_grant(self, statement: Statement, created: tuple[Name, str, str], after: list[Statement]) -> None:
        name, privileges, what = created
        if self.settings.auto_expose_new_tables or name[0] not in self.settings.exposed:
            return
        if self.model.default_roles(privileges, name[0]) & (API_ROLES | {"public"}):
            return
        if any(_grants_api_access(later, name, privileges) for later in after):
            return
        self.report(
            statement,
            "api-grant-missing",
            f"{what} {name[0]}.{name[1]} gets no GRANT to anon, authenticated or service_role, and config.toml "
            "sets auto_expose_new_tables = false: the Data API cannot reach it",
        )

    # --- functions, as the whole file leaves them -----------------------------------------------

    def check_functions(self) -> None:
        for key, touch in self.touched.items():
            function = self.model.functions.get(key)
            if function is None or not function.definer and not touch.created_new:
                continue
            name = function.qualified_name
            if function.definer and touch.definer_at is not None and not function.pinned:
                message = f"SECURITY DEFINER function {name} has no fixed search_path"
                self.report(touch.definer_at, "security-definer-search-path", message)
            rpc = function.schema in self.settings.exposed and not function.returns_trigger and not function.procedure
            if not rpc:
                continue
            anon = function.anon_can_execute
            exposed_at = touch.latest(touch.definer_at, touch.callers_granted_at)
            if function.definer and exposed_at is not None and function.executors & CALLER_ROLES:
                who = "anyone, anon included" if anon else "every signed-in user"
                self.report(
                    exposed_at,
                    "security-definer-exposed",
                    f"SECURITY DEFINER function {name} is in exposed schema {function.schema}: an RPC that "
                    f"bypasses RLS for {who}",
                )
            anon_at = touch.latest(touch.definer_at, touch.anon_granted_at)
            if function.definer and anon and anon_at is not None:
                self.check_definer_writes(function, anon_at)
            if touch.created_at is not None and touch.created_new and anon and not touch.granted_to & ANON_ROLES:
                also = ""
                if touch.granted_to:
                    also = f" (granting it to {', '.join(sorted(touch.granted_to))} does not take it from anon)"
                self.report(
                    touch.created_at,
                    "function-executable-by-anon",
                    f"function {name} in exposed schema {function.schema} is an RPC anyone can call: "
                    f"{_who_grants_anon(function.executors)}{also}",
                )

    def check_definer_writes(self, function: Function, where: Statement) -> None:
        effects = self.model.reach(function)
        if effects.refuses_anon:
            return
        protected = sorted(w for w in effects.writes if w[0] in PROTECTED_SCHEMAS or w in self.model.rls)
        name = function.qualified_name
        if protected:
            shown = ", ".join(f"{s}.{t}" for s, t in protected)
            self.report(
                where,
                "security-definer-anon-write",
                f"SECURITY DEFINER function {name} can be executed by anon and writes {shown} with its owner's "
                "rights, past RLS",
            )
        elif effects.dynamic:
            self.report(
                where,
                "security-definer-anon-write",
                f"SECURITY DEFINER function {name} can be executed by anon and runs dynamic SQL (EXECUTE) with its "
                "owner's rights: what it writes cannot be read from the migration, so it counts as a write past RLS",
            )


def _who_grants_anon(executors: set[str]) -> str:
    if {"public", "anon"} <= executors:
        return "PUBLIC and Supabase's default privileges grant EXECUTE to anon"
    if "anon" in executors:
        return "anon holds EXECUTE (Supabase's default privileges; revoking from PUBLIC alone leaves it)"
    return "PUBLIC holds EXECUTE, and anon with it"


def _altered_table(statement: Statement) -> Name | None:
    if statement.kind in ("AlterTableStmt", "IndexStmt") and statement.fields.get("relation"):
        return qualified(statement.fields["relation"])
    return None


def check_file(
    path: Path,
    display: str,
    settings: ApiSettings | Sequence[str] = DEFAULT_EXPOSED,
    model: SchemaModel | None = None,
) -> list[Finding]:
    """Every Supabase-specific finding in one file, suppressions applied."""
    return check_text(migration_sql(path), display, settings, model).findings


def check_text(
    text: str, display: str, settings: ApiSettings | Sequence[str] = DEFAULT_EXPOSED, model: SchemaModel | None = None
) -> FileResult:
    """The Supabase rules over one file's text, given what earlier files did (`model`, updated in place)."""
    if not isinstance(settings, ApiSettings):
        settings = ApiSettings(exposed=tuple(settings))
    if model is None:
        model = SchemaModel(auto_expose_new_tables=settings.auto_expose_new_tables)
    parsed = parse_file(text, display)
    if not parsed.parsed:
        return FileResult(parsed.problems, [], parsed=False)
    result = _FileCheck(parsed, display, settings, model).run()
    result.findings[:0] = parsed.problems
    return result


# --- squawk --------------------------------------------------------------------------------------


def squawk_binary() -> str:
    """Squawk from this interpreter's environment, else PATH."""
    beside = Path(sys.executable).parent / "squawk"
    found = str(beside) if beside.is_file() else shutil.which("squawk")
    if not found:
        raise ToolNotFound(
            "squawk", looked="beside this Python, PATH", remedy="pip install squawk-cli (scripts/bootstrap installs it)"
        )
    return found


@dataclass
class SquawkRun:
    """squawk running in its own process, its output going to files (a pipe would stall it when full)."""

    process: subprocess.Popen[bytes]
    stdout: IO[bytes]
    stderr: IO[bytes]

    def output(self, timeout: float = 300) -> tuple[str, str]:
        """Wait for squawk; its stdout and stderr."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ToolFailed(f"squawk did not finish within {timeout:.0f} s") from None
        texts = []
        for stream in (self.stdout, self.stderr):
            stream.seek(0)
            texts.append(stream.read().decode(errors="replace"))
            stream.close()
        return texts[0], texts[1]

    def stop(self) -> None:
        """End squawk (the Supabase rules failed) and drop its output."""
        self.process.kill()
        self.process.wait()
        self.stdout.close()
        self.stderr.close()


def start_squawk(project: Project, paths: Sequence[Path]) -> SquawkRun:
    """Start squawk over the files with the project's .squawk.toml; it runs while the Supabase rules do."""
    argv = [squawk_binary(), "--reporter", "json", "--pg-version", "15"]
    config = project.root / SQUAWK_CONFIG
    if config.is_file():
        argv += ["--config", str(config)]
    stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    process = pgtools.popen([*argv, *map(str, paths)], what="squawk", stdout=stdout, stderr=stderr, cwd=project.root)
    return SquawkRun(process, stdout, stderr)


def squawk_findings(project: Project, running: SquawkRun) -> list[Finding]:
    """Squawk's JSON report as findings."""
    stdout, stderr = running.output()
    try:
        results = json.loads(stdout or "[]")
    except json.JSONDecodeError:
        raise ToolFailed(f"squawk failed: {(stderr or stdout).strip()[:300]}") from None
    findings = []
    for r in results:
        findings.append(
            Finding(
                str(r.get("rule_name", "squawk")),
                "error" if str(r.get("level", "")).lower() == "error" else "warn",
                _display(project, Path(r.get("file", ""))),
                int(r.get("line", 0)) + 1,
                str(r.get("message", "")),
                str(r.get("help") or ""),
                source="squawk",
            )
        )
    return findings


def run_squawk(project: Project, paths: Sequence[Path]) -> list[Finding]:
    """Squawk over the files with the project's .squawk.toml, as findings."""
    return squawk_findings(project, start_squawk(project, paths))


def _display(project: Project, path: Path) -> str:
    if not path.is_absolute():
        path = project.root / path
    return str(path.relative_to(project.root)) if path.is_relative_to(project.root) else str(path)


def _sift_squawk(findings: Iterable[Finding], results: dict[str, FileResult]) -> list[Finding]:
    """Drop what squawk reports that is moot or already said; keep the rest at squawk's level or below."""
    kept: list[Finding] = []
    unparsed: set[str] = set()
    for finding in findings:
        result = results.get(finding.file)
        if finding.rule == "syntax-error":
            # PostgreSQL's own parser is the judge: its error is reported already; if it accepts the
            # file, squawk's parser is the one that failed, and squawk's rules did not see it.
            if result is not None and result.parsed and finding.file not in unparsed:
                unparsed.add(finding.file)
                kept.append(
                    Finding(
                        "squawk-cannot-parse",
                        "warn",
                        finding.file,
                        finding.line,
                        f"squawk's parser stops here ({finding.message}); PostgreSQL parses it, "
                        "so squawk's rules did not check this file",
                        "none needed; squawk-only rules skipped this file",
                        source="squawk",
                    )
                )
            continue
        if result is not None and finding.rule in FRESH_TABLE_RULES and result.fresh(finding.line):
            continue
        kept.append(finding)
    return kept


# --- the whole run ---------------------------------------------------------------------------------


def lint(project: Project, paths: Sequence[Path], *, squawk: bool = True) -> list[Finding]:
    """Lint migration files: Supabase rules (read with every earlier migration's effects), then squawk."""
    settings = api_settings(project)
    running = start_squawk(project, paths) if squawk and paths else None
    try:
        results = _check_in_order(project, paths, settings)
    except BaseException:
        if running is not None:
            running.stop()
        raise
    findings = [f for result in results.values() for f in result.findings]
    if running is not None:
        findings.extend(_sift_squawk(squawk_findings(project, running), results))
    return sorted(findings, key=lambda f: (f.file, f.line, f.rule))


def _check_in_order(project: Project, paths: Sequence[Path], settings: ApiSettings) -> dict[str, FileResult]:
    """Walk the migration history in version order up to the last file linted; check only `paths`."""
    wanted = {os.path.abspath(p) for p in paths}
    folder = project.migrations_dir
    history = {os.path.abspath(p) for p in folder.glob("*.sql")} if folder.is_dir() else set()
    ordered = sorted(history | wanted, key=lambda p: (os.path.basename(p), p))
    last = max((i for i, p in enumerate(ordered) if p in wanted), default=-1)
    model = SchemaModel(auto_expose_new_tables=settings.auto_expose_new_tables)
    results: dict[str, FileResult] = {}
    root = str(project.root) + os.sep
    for path in ordered[: last + 1]:
        display = path.removeprefix(root) if path.startswith(root) else path
        result = check_text(migration_sql(Path(path)), display, settings, model)
        if path in wanted:
            results[display] = result
    return results


def errors(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that block a push."""
    return [f for f in findings if f.level == "error"]


def fail_on_level(value: str) -> str:
    """`value` if it names a level findings can block at, else a one-line error."""
    if value not in LEVELS:
        raise ConfigError(f"--fail-on must be one of {', '.join(LEVELS)}, not {value!r}")
    return value


def blocking(findings: Sequence[Finding], fail_on: str = "error") -> list[Finding]:
    """The findings at or above `fail_on` (error or warn)."""
    floor = LEVELS.index(fail_on_level(fail_on))
    return [f for f in findings if f.level in LEVELS and LEVELS.index(f.level) >= floor]


def split_statements(text: str) -> list[tuple[int, str]]:
    """The file's statements with the line each starts on, split by the real PostgreSQL parser."""
    offsets = Offsets(text)
    spans = [(first_token(text, raw.start, raw.end), raw.end) for raw in parse(text, offsets)]
    return [(offsets.line(start), text[start:end].strip()) for start, end in spans]
