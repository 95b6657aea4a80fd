"""What `supabase db lint` does, without Docker: plpgsql_check over a database's functions, with the CLI's levels.

A parser sees a function body as a string; plpgsql_check compiles it against the live catalog,
so it finds what only the database knows, such as a body naming a column that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from supadeploy.database import connect
from supadeploy.dburl import DbUrl
from supadeploy.errors import ConfigError, DatabaseError
from supadeploy.lint import Finding
from supadeploy.project import sql_file

# The CLI's levels, lowest first (internal/db/lint AllowedLevels); an issue's level is matched by
# prefix, so plpgsql_check's "warning extra" is a warning, and levels it does not name are dropped.
LEVELS = ("warning", "error")
# Schemas the CLI never lints (pkg/migration ManagedSchemas), as LIKE patterns.
MANAGED_SCHEMAS = (
    "information\\_schema",
    "pg\\_%",
    "\\_analytics",
    "\\_realtime",
    "\\_supavisor",
    "pgbouncer",
    "pgmq",
    "pgsodium",
    "pgtle",
    "supabase\\_migrations",
    "vault",
)


@dataclass(frozen=True)
class FunctionIssue:
    """One plpgsql_check issue in one function."""

    function: str
    level: str
    message: str
    line: int
    statement: str = ""
    sqlstate: str = ""
    hint: str = ""

    def as_finding(self) -> Finding:
        """The same issue as a lint finding (db.lint prints and counts both kinds alike)."""
        where = f" (at {self.statement})" if self.statement else ""
        return Finding(
            rule="plpgsql_check",
            level="error" if level_rank(self.level) == LEVELS.index("error") else "warn",
            file=self.function,
            line=self.line,
            message=f"{self.message}{where}" + (f" [SQLSTATE {self.sqlstate}]" if self.sqlstate else ""),
            fix=self.hint or "fix the function body and create it again in a new migration",
            source="plpgsql_check",
        )


def level_rank(level: str) -> int:
    """Index of a level in LEVELS, by prefix as the CLI matches it; -1 for levels the CLI ignores."""
    for rank, name in enumerate(LEVELS):
        if level.startswith(name):
            return rank
    return -1


def check_level(level: str) -> str:
    """Validate a minimum level."""
    if level not in LEVELS:
        raise ConfigError(f"unknown level {level!r}: use warning or error")
    return level


def user_schemas(conn: psycopg.Connection) -> list[str]:
    """The schemas `supabase db lint` checks when none are named."""
    rows = conn.execute(sql_file("db_lint_schemas.sql").read_text(), {"managed": list(MANAGED_SCHEMAS)})
    return [name for (name,) in rows]


def parse_issues(function: str, payload: str) -> list[FunctionIssue]:
    """plpgsql_check's JSON for one function, as issues."""
    issues = []
    for issue in json.loads(payload).get("issues", []):
        statement = issue.get("statement") or {}
        line = statement.get("lineNumber")
        issues.append(
            FunctionIssue(
                function=function,
                level=str(issue.get("level", "")),
                message=str(issue.get("message", "")),
                line=int(str(line)) if str(line or "").isdigit() else 0,
                statement=str(statement.get("text", "")),
                sqlstate=str(issue.get("sqlState", "")),
                hint=str(issue.get("hint", "")),
            )
        )
    return issues


def lint_functions(url: DbUrl, *, schemas: Sequence[str] = (), level: str = "warning") -> list[FunctionIssue]:
    """plpgsql_check over every PL/pgSQL function of the schemas (default: the user's), at or above level.

    Runs in one transaction that is rolled back, as the CLI's: plpgsql_check is created for the
    run and leaves nothing behind.
    """
    floor = LEVELS.index(check_level(level))
    found: list[FunctionIssue] = []
    with connect(url, autocommit=False) as conn:
        try:
            conn.execute("create extension if not exists plpgsql_check")
        except psycopg.Error as exc:
            raise DatabaseError(
                f"cannot enable plpgsql_check on {url.where}: {exc.diag.message_primary or exc}", sqlstate=exc.sqlstate
            ) from None
        query = sql_file("db_lint_functions.sql").read_text()
        for schema in schemas or user_schemas(conn):
            for _name, signature, payload in conn.execute(query, {"schema": schema}):
                found += [i for i in parse_issues(f"{schema}.{signature}", payload) if level_rank(i.level) >= floor]
        conn.rollback()
    return found
