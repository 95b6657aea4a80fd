"""db.push --dry-run: apply the pending migrations to a throwaway copy and say, per file, what would happen."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from supadeploy.database import connect
from supadeploy.environments import Environment
from supadeploy.errors import DryRunFailed, PushFailed
from supadeploy.migrations import MigrationFile
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project
from supadeploy.supabase_cli import SupabaseCli

_NOT_IN_TRANSACTION = re.compile(
    r"^\s*(create\s+(unique\s+)?index\s+concurrently|drop\s+index\s+concurrently|reindex\b.*\bconcurrently"
    r"|vacuum\b|create\s+database\b|alter\s+system\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FileCheck:
    """Whether one pending file would apply (None: could not be tried), and why."""

    filename: str
    ok: bool | None
    reason: str
    method: str

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {"file": self.filename, "ok": self.ok, "reason": self.reason, "method": self.method}


def validate(
    project: Project,
    env: Environment,
    cli: SupabaseCli,
    pending: Sequence[MigrationFile],
    *,
    on_line: LineSink = discard,
) -> list[FileCheck]:
    """Try a template clone pushed by the real CLI; where that is impossible, a transaction that is rolled back."""
    clone = _clone(env)
    if clone is not None:
        try:
            return _on_clone(env, clone, cli, pending, on_line)
        finally:
            _drop(env, clone)
    return _in_transaction(env, pending)


def _maintenance(env: Environment) -> psycopg.Connection:
    return psycopg.connect(
        env.url.maintenance.raw,
        autocommit=True,
        connect_timeout=10,
    )


def _clone(env: Environment) -> str | None:
    """CREATE DATABASE ... TEMPLATE target, on this machine only and only when nobody else is connected."""
    if not env.url.is_loopback:
        return None
    name = f"supadeploy_dryrun_{os.getpid()}"
    try:
        with _maintenance(env) as conn:
            # PostgreSQL waits 5s for other sessions before refusing the copy; pg_cron's scheduler,
            # connected to postgres for good, would make every local dry run wait that long.
            busy = conn.execute(
                "select exists (select from pg_stat_activity where datname = %s and pid <> pg_backend_pid())",
                (env.url.dbname,),
            ).fetchone()
            if busy and busy[0]:
                return None
            conn.execute(
                sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(env.url.dbname))
            )
    except psycopg.Error:
        return None  # others are connected, or no CREATEDB: fall back to a rolled-back transaction
    return name


def _drop(env: Environment, name: str) -> None:
    with _maintenance(env) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _on_clone(
    env: Environment, clone: str, cli: SupabaseCli, pending: Sequence[MigrationFile], on_line: LineSink
) -> list[FileCheck]:
    try:
        cli.push(env.url.with_dbname(clone), include_all=True, on_line=on_line)
    except PushFailed as failure:
        checks = []
        for file in pending:
            if file.filename in failure.applied:
                checks.append(FileCheck(file.filename, ok=True, reason="applies cleanly", method="clone"))
            elif file.filename == failure.file:
                where = f" in statement {failure.statement}" if failure.statement else ""
                checks.append(FileCheck(file.filename, ok=False, reason=f"{failure.detail}{where}", method="clone"))
            else:
                checks.append(
                    FileCheck(file.filename, ok=None, reason="not tried: an earlier file fails", method="clone")
                )
        return checks
    return [FileCheck(f.filename, ok=True, reason="applies cleanly", method="clone") for f in pending]


def _in_transaction(env: Environment, pending: Sequence[MigrationFile]) -> list[FileCheck]:
    from supadeploy.lint import split_statements  # pglast, only on this path

    checks: list[FileCheck] = []
    failed = False
    with connect(env.url, autocommit=False) as conn:
        # DDL in a rolled-back transaction still takes locks: never wait long for them.
        conn.execute("set local lock_timeout = '5s'")
        conn.execute("set local statement_timeout = '5min'")
        for file in pending:
            if failed:
                checks.append(
                    FileCheck(file.filename, ok=None, reason="not tried: an earlier file fails", method="transaction")
                )
                continue
            try:
                statements = split_statements(file.path.read_text())
            except Exception as exc:  # noqa: BLE001 - a parse error is the answer for this file
                checks.append(FileCheck(file.filename, ok=False, reason=f"does not parse: {exc}", method="transaction"))
                failed = True
                continue
            if any(_NOT_IN_TRANSACTION.match(stmt) for _, stmt in statements):
                checks.append(
                    FileCheck(
                        file.filename,
                        ok=None,
                        reason="cannot be tried inside a transaction (CONCURRENTLY)",
                        method="transaction",
                    )
                )
                continue
            conn.execute("savepoint supadeploy_file")
            for line, statement in statements:
                try:
                    conn.execute(statement.encode())
                except psycopg.Error as exc:
                    message = exc.diag.message_primary or str(exc).splitlines()[0]
                    reason = f"line {line}: {message} (SQLSTATE {exc.sqlstate})"
                    checks.append(FileCheck(file.filename, ok=False, reason=reason, method="transaction"))
                    conn.execute("rollback to savepoint supadeploy_file")
                    failed = True
                    break
            else:
                checks.append(FileCheck(file.filename, ok=True, reason="applies cleanly", method="transaction"))
        conn.rollback()
    return checks


def refuse_failures(checks: Sequence[FileCheck]) -> None:
    """Raise when the dry run found a file that would fail."""
    bad = [c for c in checks if c.ok is False]
    if bad:
        raise DryRunFailed(f"dry run: {bad[0].filename} would fail: {bad[0].reason}")
