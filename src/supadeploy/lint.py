"""Migration safety lint: squawk's rules plus Supabase-specific ones, on the real PostgreSQL parser (pglast)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pglast
from pglast import ast
from pglast.enums import GrantTargetType, ObjectType, RoleSpecType, TransactionStmtKind

from supadeploy.errors import ToolFailed, ToolNotFound
from supadeploy.project import Project

SQUAWK_CONFIG = ".squawk.toml"
SUPPRESS = re.compile(
    r"^\s*--\s*supadeploy-ignore(?P<file>-file)?\s+(?P<rules>[a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)"
    r"\s*(?::\s*(?P<reason>.*\S))?\s*$"
)
DEFAULT_EXPOSED = ("public", "graphql_public")
PER_ROW_CALLS = {("auth", "uid"), ("auth", "jwt"), ("auth", "role"), ("auth", "email"), ("current_setting",)}
WRITE_PRIVILEGES = {"insert", "update", "delete", "truncate", "all"}


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
        Rule("security-definer-exposed", "error", "move the function to a schema the Data API does not expose"),
        Rule("anon-write-grant", "error", "grant writes to authenticated (guarded by RLS), never to anon"),
        Rule("policy-without-roles", "error", "add `to authenticated` (or the roles the policy is for)"),
        Rule("policy-per-row-call", "warn", "wrap the call in a subquery: `(select auth.uid())`"),
        Rule("transaction-control", "error", "remove BEGIN/COMMIT: the CLI wraps each file in a transaction"),
        Rule("concurrently-not-alone", "error", "put CREATE INDEX CONCURRENTLY in a migration file of its own"),
        Rule("enum-value-not-alone", "error", "put ALTER TYPE ... ADD VALUE in a migration file of its own"),
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


def exposed_schemas(project: Project) -> tuple[str, ...]:
    """The schemas the Data API exposes, from supabase/config.toml [api] schemas."""
    try:
        config = tomllib.loads((project.root / "supabase" / "config.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return DEFAULT_EXPOSED
    schemas = config.get("api", {}).get("schemas")
    return tuple(schemas) if schemas else DEFAULT_EXPOSED


# --- statements and suppressions -----------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One parsed statement with the line it starts on and the rules suppressed for it."""

    node: Any
    line: int
    suppressed: frozenset[str]


def _statements(text: str, display: str) -> tuple[list[Statement], list[Finding], set[str]]:
    """Parse a file; collect per-statement and file-wide suppressions (with their own findings)."""
    problems: list[Finding] = []
    file_wide: set[str] = set()
    try:
        raws = pglast.parse_sql(text)
    except pglast.parser.ParseError as exc:
        # args: (message, 1-based offset of the offending token)
        location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        line = text.encode()[: max(location - 1, 0)].count(b"\n") + 1
        return [], [_finding("syntax-error", display, line, f"PostgreSQL cannot parse this file: {exc.args[0]}")], set()
    encoded = text.encode()
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        rules, whole_file, trouble = _suppression(line.strip(), display, number, whole_file_only=True)
        problems.extend(trouble)
        if whole_file:
            file_wide.update(rules)
    statements: list[Statement] = []
    for raw in raws:
        first_line = encoded[: raw.stmt_location or 0].count(b"\n") + 1
        # The statement's first token may follow blank or comment lines.
        while first_line <= len(lines) and (
            not lines[first_line - 1].strip() or lines[first_line - 1].strip().startswith("--")
        ):
            first_line += 1
        # Comment lines directly above a statement belong to it, as squawk reads its own ignores.
        suppressed: set[str] = set()
        above = first_line - 1
        while above >= 1 and lines[above - 1].strip().startswith("--"):
            rules, whole_file, trouble = _suppression(lines[above - 1].strip(), display, above)
            if not whole_file:
                problems.extend(trouble)
                suppressed.update(rules)
            above -= 1
        statements.append(Statement(raw.stmt, first_line, frozenset(suppressed)))
    return statements, problems, file_wide


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


# --- the checks -------------------------------------------------------------------------------


def _names(nodes: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(n.sval for n in nodes or () if isinstance(n, ast.String))


def _qualified(relation: ast.RangeVar) -> tuple[str, str]:
    return (relation.schemaname or "public", relation.relname)


def _walk(node: Any, *, inside_subquery: bool = False) -> Iterator[tuple[Any, bool]]:
    """Every node below `node`, with whether it sits inside a subquery (where a call runs once)."""
    if isinstance(node, tuple):
        for item in node:
            yield from _walk(item, inside_subquery=inside_subquery)
        return
    if not isinstance(node, ast.Node):
        return
    yield node, inside_subquery
    nested = inside_subquery or isinstance(node, ast.SubLink)
    for name in node:
        yield from _walk(getattr(node, name), inside_subquery=nested)


def _per_row_calls(expression: Any) -> list[str]:
    calls = []
    for node, in_subquery in _walk(expression):
        if isinstance(node, ast.FuncCall) and not in_subquery:
            name = _names(node.funcname)
            if name in PER_ROW_CALLS or name[-1:] == ("current_setting",):
                calls.append(".".join(name) + "()")
    return calls


def _is_enable_rls(node: Any) -> tuple[str, str] | None:
    if isinstance(node, ast.AlterTableStmt) and node.relation is not None:
        for cmd in node.cmds or ():
            if isinstance(cmd, ast.AlterTableCmd) and cmd.subtype.name in (
                "AT_EnableRowSecurity",
                "AT_ForceRowSecurity",
            ):
                return _qualified(node.relation)
    return None


def check_statements(statements: Sequence[Statement], display: str, exposed: Sequence[str]) -> list[Finding]:
    """The Supabase-specific rules over one file's statements."""
    found: list[Finding] = []

    def report(statement: Statement, rule: str, message: str) -> None:
        if rule not in statement.suppressed:
            found.append(_finding(rule, display, statement.line, message))

    rls_enabled = {t for s in statements if (t := _is_enable_rls(s.node))}
    several = len(statements) > 1
    for statement in statements:
        node = statement.node
        if isinstance(node, ast.CreateStmt) and node.relation is not None:
            schema, table = _qualified(node.relation)
            if schema in exposed and (schema, table) not in rls_enabled:
                report(
                    statement,
                    "rls-not-enabled",
                    f"table {schema}.{table} is exposed by the Data API but this migration does not enable RLS",
                )
        elif isinstance(node, ast.CreateFunctionStmt):
            options = {o.defname: o.arg for o in node.options or ()}
            definer = isinstance(options.get("security"), ast.Boolean) and options["security"].boolval
            if definer:
                name = ".".join(_names(node.funcname))
                schema = _names(node.funcname)[0] if len(node.funcname) > 1 else "public"
                pinned = any(
                    isinstance(o.arg, ast.VariableSetStmt) and o.arg.name == "search_path"
                    for o in node.options or ()
                    if o.defname == "set"
                )
                if not pinned:
                    report(
                        statement,
                        "security-definer-search-path",
                        f"SECURITY DEFINER function {name} has no fixed search_path",
                    )
                if schema in exposed:
                    report(
                        statement,
                        "security-definer-exposed",
                        f"SECURITY DEFINER function {name} is in exposed schema {schema}",
                    )
        elif isinstance(node, ast.GrantStmt) and node.is_grant and node.targtype == GrantTargetType.ACL_TARGET_OBJECT:
            privileges = {p.priv_name for p in node.privileges or ()} or {"all"}
            grantees = {g.rolename for g in node.grantees or () if g.roletype == RoleSpecType.ROLESPEC_CSTRING}
            if (
                node.objtype in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_SEQUENCE)
                and "anon" in grantees
                and privileges & WRITE_PRIVILEGES
            ):
                report(
                    statement, "anon-write-grant", f"grants {', '.join(sorted(privileges & WRITE_PRIVILEGES))} to anon"
                )
        elif isinstance(node, ast.CreatePolicyStmt):
            roles = [r for r in node.roles or () if r.roletype != RoleSpecType.ROLESPEC_PUBLIC]
            if not roles:
                report(statement, "policy-without-roles", f"policy {node.policy_name!r} applies to every role")
            calls = _per_row_calls((node.qual, node.with_check))
            if calls:
                report(
                    statement,
                    "policy-per-row-call",
                    f"policy {node.policy_name!r} calls {', '.join(sorted(set(calls)))} once per row",
                )
        elif isinstance(node, ast.TransactionStmt) and node.kind in (
            TransactionStmtKind.TRANS_STMT_BEGIN,
            TransactionStmtKind.TRANS_STMT_START,
            TransactionStmtKind.TRANS_STMT_COMMIT,
            TransactionStmtKind.TRANS_STMT_ROLLBACK,
            TransactionStmtKind.TRANS_STMT_PREPARE,
            TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
        ):
            report(
                statement,
                "transaction-control",
                "transaction control inside a migration: the CLI then skips or half-applies what follows",
            )
        elif isinstance(node, ast.IndexStmt) and node.concurrent and several:
            report(
                statement,
                "concurrently-not-alone",
                "CREATE INDEX CONCURRENTLY cannot run in the transaction the CLI wraps around other statements",
            )
        elif isinstance(node, ast.AlterEnumStmt) and node.newVal and several:
            report(
                statement,
                "enum-value-not-alone",
                "a value added by ALTER TYPE ... ADD VALUE cannot be used until its transaction commits",
            )
    return found


def check_file(path: Path, display: str, exposed: Sequence[str]) -> list[Finding]:
    """Every Supabase-specific finding in one file, suppressions applied."""
    statements, problems, file_wide = _statements(path.read_text(), display)
    findings = [f for f in check_statements(statements, display, exposed) if f.rule not in file_wide]
    return problems + findings


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


def run_squawk(project: Project, paths: Sequence[Path]) -> list[Finding]:
    """Squawk over the files with the project's .squawk.toml, as findings."""
    argv = [squawk_binary(), "--reporter", "json", "--pg-version", "15"]
    config = project.root / SQUAWK_CONFIG
    if config.is_file():
        argv += ["--config", str(config)]
    done = subprocess.run(
        [*argv, *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=project.root,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    try:
        results = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        raise ToolFailed(f"squawk failed: {(done.stderr or done.stdout).strip()[:300]}") from None
    findings = []
    for r in results:
        file = Path(r.get("file", ""))
        display = (
            str(file.relative_to(project.root))
            if file.is_absolute() and file.is_relative_to(project.root)
            else str(file)
        )
        level = "error" if str(r.get("level", "")).lower() == "error" else "warn"
        findings.append(
            Finding(
                str(r.get("rule_name", "squawk")),
                level,
                display,
                int(r.get("line", 0)) + 1,
                str(r.get("message", "")),
                str(r.get("help") or ""),
                source="squawk",
            )
        )
    return findings


def lint(project: Project, paths: Sequence[Path], *, squawk: bool = True) -> list[Finding]:
    """Lint migration files: Supabase-specific rules, then squawk; sorted by file and line."""
    exposed = exposed_schemas(project)
    findings: list[Finding] = []
    for path in paths:
        display = str(path.relative_to(project.root)) if path.is_relative_to(project.root) else str(path)
        findings.extend(check_file(path, display, exposed))
    if squawk and paths:
        findings.extend(run_squawk(project, paths))
    return sorted(findings, key=lambda f: (f.file, f.line, f.rule))


def errors(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that block a push."""
    return [f for f in findings if f.level == "error"]


def split_statements(text: str) -> list[tuple[int, str]]:
    """The file's statements with the line each starts on, split by the real PostgreSQL parser."""
    encoded = text.encode()
    spans = []
    for raw in pglast.parse_sql(text):
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(encoded)
        chunk = encoded[start:end].decode()
        lead = len(chunk) - len(chunk.lstrip())
        spans.append((encoded[:start].count(b"\n") + chunk[:lead].count("\n") + 1, chunk.strip()))
    return spans
