"""supadeploy's own records beside the CLI's history: file checksums and promotions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from supadeploy.database import AppliedMigration, run_sql_file
from supadeploy.errors import ChecksumMismatch
from supadeploy.migrations import MigrationFile

LEDGER_SQL = "supadeploy_ledger.sql"
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_NOISE = re.compile(r"[\s;]+")


def exists(conn: psycopg.Connection) -> bool:
    """True once the ledger schema has been created on this database."""
    row = conn.execute("select to_regclass('supadeploy.migration_checksums') is not null").fetchone()
    return bool(row and row[0])


def ensure(conn: psycopg.Connection) -> None:
    """Create the ledger schema if this database does not have it yet."""
    if not exists(conn) or not _has_promotions(conn):
        run_sql_file(conn, LEDGER_SQL)


def _has_promotions(conn: psycopg.Connection) -> bool:
    row = conn.execute("select to_regclass('supadeploy.promotions') is not null").fetchone()
    return bool(row and row[0])


def checksums(conn: psycopg.Connection) -> dict[str, str]:
    """Recorded SHA-256 per version (empty when the ledger does not exist)."""
    if not exists(conn):
        return {}
    return dict(conn.execute("select version, sha256 from supadeploy.migration_checksums").fetchall())


def record(conn: psycopg.Connection, files: Sequence[MigrationFile], how: str) -> None:
    """Record (or overwrite) the checksums of these files."""
    if not files:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "insert into supadeploy.migration_checksums (version, name, sha256, how) values (%s, %s, %s, %s) "
            "on conflict (version) do update set name = excluded.name, sha256 = excluded.sha256, "
            "how = excluded.how, recorded_at = now()",
            [(f.version, f.name, f.sha256(), how) for f in files],
        )


def forget(conn: psycopg.Connection, versions: Sequence[str]) -> None:
    """Drop the checksums of versions that are no longer applied."""
    if versions and exists(conn):
        conn.execute("delete from supadeploy.migration_checksums where version = any(%s)", (list(versions),))


def _normalized(sql_text: str) -> str:
    return _NOISE.sub("", _COMMENTS.sub("", sql_text))


def statements_match(statements: Sequence[str], file_text: str) -> bool:
    """True when the statements the CLI recorded are the file's (ignoring comments, spacing and semicolons)."""
    return bool(statements) and _normalized("".join(statements)) == _normalized(file_text)


@dataclass(frozen=True)
class Verification:
    """Applied files checked against the ledger."""

    backfilled: tuple[MigrationFile, ...]
    changed: tuple[MigrationFile, ...]


def verify(
    conn: psycopg.Connection | None,
    files: Sequence[MigrationFile],
    applied: Sequence[AppliedMigration],
    recorded: dict[str, str],
) -> Verification:
    """Compare each applied file with its recorded checksum, or with the CLI's recorded statements."""
    by_version = {m.version: m for m in applied}
    backfill: list[MigrationFile] = []
    changed: list[MigrationFile] = []
    for file in files:
        migration = by_version.get(file.version)
        if migration is None:
            continue
        if file.version in recorded:
            if recorded[file.version] != file.sha256():
                changed.append(file)
        elif statements_match(migration.statements, file.path.read_text()):
            backfill.append(file)
        else:
            changed.append(file)
    if conn is not None:
        record(conn, backfill, "backfill")
    return Verification(tuple(backfill), tuple(changed))


def refuse_changed(env: str, verification: Verification) -> None:
    """Raise when any applied file was edited."""
    if verification.changed:
        raise ChecksumMismatch(env, [f.filename for f in verification.changed])


def record_promotion(
    conn: psycopg.Connection,
    *,
    source: str,
    target: str,
    promoted_by: str,
    git_sha: str | None,
    versions: Sequence[str],
    applied: Sequence[str],
    backup_file: str | None,
) -> int:
    """Write one row to supadeploy.promotions; returns its id."""
    ensure(conn)
    row = conn.execute(
        "insert into supadeploy.promotions (source_env, target_env, promoted_by, git_sha, versions, applied,"
        " backup_file) values (%s, %s, %s, %s, %s, %s, %s) returning id",
        (source, target, promoted_by, git_sha, list(versions), list(applied), backup_file),
    ).fetchone()
    return int(row[0]) if row else 0
