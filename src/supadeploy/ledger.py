"""supadeploy's own records beside the CLI's history: file checksums and promotions."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from supadeploy.database import AppliedMigration, run_sql_file
from supadeploy.errors import ChecksumMismatch
from supadeploy.migrations import MigrationFile

LEDGER_SQL = "supadeploy_ledger.sql"
# Where a node sits in the text: not part of what a statement says.


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
    try:
        if not exists(conn):
            return {}
        return dict(conn.execute("select version, sha256 from supadeploy.migration_checksums").fetchall())
    except psycopg.errors.InsufficientPrivilege:
        return {}  # a login that may read only the CLI's history (db.status): its recorded statements still tell


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


def _tree(sql_text: str) -> object | None:
    """PostgreSQL's parse tree of a text without positions (None when it does not parse)."""
    from pglast import parser  # only a check against the CLI's record pays for the parser

    try:
        tree = json.loads(parser.parse_sql_json(sql_text))
    except parser.ParseError:
        return None
    return _without_positions(tree.get("stmts", []), _positions())


@functools.cache
def _positions() -> frozenset[str]:
    """Every field of PostgreSQL's parse nodes that holds a byte offset in the text (a ParseLoc), and stmt_len.

    Read from pglast's node definitions, so that a field a newer parser adds (arg_location, rexpr_list_start,
    payload_location ...) never makes two texts that say the same thing at other offsets differ.
    """
    from pglast import ast

    found = {"stmt_len"}
    for node in vars(ast).values():
        slots = getattr(node, "__slots__", None)
        if isinstance(slots, dict):
            found.update(name for name, kind in slots.items() if getattr(kind, "c_type", kind) == "ParseLoc")
    return frozenset(found)


def _without_positions(node: object, positions: frozenset[str]) -> object:
    if isinstance(node, dict):
        return {k: _without_positions(v, positions) for k, v in node.items() if k not in positions}
    if isinstance(node, list):
        return [_without_positions(v, positions) for v in node]
    return node


def statements_match(statements: Sequence[str], file_text: str) -> bool:
    """True when the statements the CLI recorded say what the file says, as PostgreSQL's parser reads both.

    Comments, spacing and semicolons may differ; anything inside a string literal (a function's body
    included) may not. An empty file matches an empty record.
    """
    # A newline before each separator: a recorded statement may end in a -- comment.
    recorded = _tree("\n;\n".join(statements))
    return recorded is not None and recorded == _tree(file_text)


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
        elif statements_match(migration.statements, file.text()):
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
