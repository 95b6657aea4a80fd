"""CREATE INDEX CONCURRENTLY in migrations: the INVALID index a failed build leaves behind, found and dropped.

A CONCURRENTLY build commits the index's catalog entry first and builds it afterwards. When the build fails (a
lock timeout while it waits for older transactions, a unique violation, its backend terminated) the index stays,
INVALID: never used by queries, still maintained on every write, its name taken. Run again, the same statement
fails on that name, or, with IF NOT EXISTS, keeps the broken index and the file is recorded as applied.

How the Supabase CLI (3.1.0) runs a file matters here: it sends the statements as one implicit transaction,
except the non-transactional ones (CREATE/DROP INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY, VACUUM, CLUSTER,
ALTER SYSTEM), which it runs on their own after committing what came before them; a file that controls its
own transactions, or whose first line is `-- pg-delta: transaction=false`, runs statement by statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from supadeploy import lock_waits
from supadeploy.database import connect
from supadeploy.dburl import DbUrl
from supadeploy.errors import PushFailed, SupadeployError
from supadeploy.lint import split_statements
from supadeploy.migrations import migration_sql
from supadeploy.pgtools import LineSink
from supadeploy.project import sql_file
from supadeploy.sql_tree import Node, ParseError, fields, kind, options, parse_quietly

NO_TRANSACTION_DIRECTIVE = "-- pg-delta: transaction=false"
_STATEMENT_NUMBER = re.compile(r"^#(\d+)")


@dataclass(frozen=True)
class ConcurrentBuild:
    """One CREATE INDEX CONCURRENTLY of a file: its statement number (from 0, as the CLI counts) and names."""

    statement: int
    schema: str | None
    table: str
    index: str | None


@dataclass(frozen=True)
class FileShape:
    """What of a migration file the CLI runs outside one transaction."""

    builds: tuple[ConcurrentBuild, ...]
    on_their_own: tuple[int, ...]  # statements run outside the file's transaction
    one_by_one: bool  # the file controls its own transactions, or asks for none

    def commits_before(self, statement: int) -> bool:
        """Whether the CLI had committed some of the file's statements when `statement` failed."""
        if statement <= 0:
            return False
        return self.one_by_one or any(n <= statement for n in self.on_their_own)

    @property
    def tables(self) -> tuple[tuple[str | None, str], ...]:
        """The tables the file builds indexes on concurrently."""
        return tuple(dict.fromkeys((b.schema, b.table) for b in self.builds))


# A failure the CLI could not tie to a file (it stopped before one): nothing of a file to clean up or guard.
UNKNOWN_FILE = FileShape(builds=(), on_their_own=(), one_by_one=False)


def runs_on_its_own(node: Node) -> bool:
    """Whether the CLI runs this statement outside the file's transaction (it cannot run inside one)."""
    found = fields(node)
    match kind(node):
        case "IndexStmt" | "DropStmt":
            return bool(found.get("concurrent"))
        case "ReindexStmt":
            return "concurrently" in options(found, "params")
        case "VacuumStmt":
            return bool(found.get("is_vacuumcmd"))
        case "ClusterStmt" | "AlterSystemStmt":
            return True
    return False


def runs_one_by_one(text: str) -> bool:
    """Whether the file's first line asks the CLI to run it statement by statement, in no transaction."""
    return text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r") == NO_TRANSACTION_DIRECTIVE


def file_shape(text: str) -> FileShape:
    """Read a migration file the way the CLI will split it (a file that does not parse has no builds)."""
    builds = []
    on_their_own = []
    one_by_one = runs_one_by_one(text)
    for number, (_line, statement) in enumerate(_statements(text)):
        for node in parse_quietly(statement):
            if kind(node) == "TransactionStmt":
                one_by_one = True
            if runs_on_its_own(node):
                on_their_own.append(number)
            found = fields(node)
            if kind(node) == "IndexStmt" and found.get("concurrent"):
                relation = fields(found.get("relation"))
                builds.append(
                    ConcurrentBuild(
                        number, relation.get("schemaname") or None, relation.get("relname", ""), found.get("idxname")
                    )
                )
    return FileShape(tuple(builds), tuple(on_their_own), one_by_one)


def _statements(text: str) -> list[tuple[int, str]]:
    try:
        return split_statements(text)
    except ParseError:
        return []  # a file that does not parse is reported by lint and by the CLI, not here


def statement_number(statement: str | None) -> int | None:
    """The statement number in a PushFailed's `#N ...` statement, else None."""
    found = _STATEMENT_NUMBER.match(statement or "")
    return int(found[1]) if found else None


@dataclass(frozen=True)
class InvalidIndex:
    """An INVALID index: its oid, where it is, and its table."""

    oid: int
    schema: str
    name: str
    table: str
    table_oid: int

    @property
    def qualified(self) -> str:
        """schema.name, quoted where PostgreSQL would need it."""
        return f"{_ident(self.schema)}.{_ident(self.name)}"


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def invalid_indexes(conn: psycopg.Connection, tables: Sequence[tuple[str | None, str]]) -> list[InvalidIndex]:
    """The INVALID indexes on these tables that nobody is building right now (sql/invalid_indexes.sql)."""
    if not tables:
        return []
    params = {"schemas": [s for s, _ in tables], "tables": [t for _, t in tables]}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql_file("invalid_indexes.sql").read_text(), params).fetchall()
    return [InvalidIndex(int(r["oid"]), r["schema"], r["name"], r["table_name"], int(r["table_oid"])) for r in rows]


def named_leftovers(conn: psycopg.Connection, shape: FileShape) -> list[InvalidIndex]:
    """INVALID indexes that carry the name and table of one of the file's CONCURRENTLY builds (an earlier try's)."""
    wanted = {(b.table, b.index) for b in shape.builds if b.index}
    return [i for i in invalid_indexes(conn, shape.tables) if (i.table, i.name) in wanted]


@dataclass(frozen=True)
class Dropped:
    """What became of one INVALID index: dropped, or why not (and who held its table)."""

    index: InvalidIndex
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether it is gone."""
        return self.error is None

    def describe(self, left_by: str = "the failed build") -> str:
        """One clause for a report line."""
        if self.ok:
            return f"dropped the INVALID index {self.index.qualified} that {left_by} left"
        return (
            f"the INVALID index {self.index.qualified} that {left_by} left is still there ({self.error}): "
            f"drop it with DROP INDEX CONCURRENTLY {self.index.qualified}"
        )


def drop(url: DbUrl, indexes: Sequence[InvalidIndex], *, lock_timeout: str) -> list[Dropped]:
    """DROP INDEX CONCURRENTLY each one, waiting at most lock_timeout for the table's other users."""
    if not indexes:
        return []
    results = []
    with connect(url) as conn:
        conn.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(lock_timeout)))
        for index in indexes:
            statement = sql.SQL("drop index concurrently if exists {}.{}").format(
                sql.Identifier(index.schema), sql.Identifier(index.name)
            )
            try:
                conn.execute(statement)
            except psycopg.errors.LockNotAvailable:
                holders = lock_waits.lock_holders(conn, index.table_oid)
                held = f"held by {lock_waits.describe_all(holders, url)}" if holders else "nobody holds it now"
                results.append(Dropped(index, f"lock timeout on {index.schema}.{index.table}, {held}"))
            except psycopg.Error as exc:
                reason = (exc.diag.message_primary or str(exc)).splitlines()[0]
                results.append(Dropped(index, f"{reason} (SQLSTATE {exc.sqlstate})"))
            else:
                results.append(Dropped(index))
    return results


class Cleanup:
    """What one push does after a failed file: drop the INVALID indexes its CONCURRENTLY builds left, say who blocked.

    `known` are the INVALID indexes that were there before the push (never touched). After a failure, the new
    ones on the tables the failed file builds on are dropped; one whose table is still busy is tried again
    before the retry, and while it stays, the retry does not run.
    """

    def __init__(self, url: DbUrl, migrations_dir: Path, *, lock_timeout: str, known: frozenset[int]) -> None:
        """For a push to url of the files in migrations_dir."""
        self.url = url
        self.migrations_dir = migrations_dir
        self.lock_timeout = lock_timeout
        self.known = known
        self.left: list[InvalidIndex] = []
        self.last: PushFailed | None = None
        self.resumable = True

    def after_failure(
        self, failure: PushFailed, blockers: Sequence[lock_waits.Session], on_line: LineSink
    ) -> PushFailed:
        """Drop what the failed file's builds left; the failure again, its detail saying what was found and done."""
        notes = []
        if blockers:
            notes.append(f"blocked by {lock_waits.describe_all(blockers, self.url)}")
        shape = self._shape(failure.file)
        number = statement_number(failure.statement)
        if number is None:  # the CLI did not say which statement: only a file it runs as one transaction is safe
            self.resumable = not (shape.one_by_one or shape.on_their_own)
        else:
            self.resumable = not shape.commits_before(number)
        if shape.builds:
            notes += self._drop_new(shape)
        if "55P03" in failure.detail and not self.resumable:
            notes.append(
                f"not retried: the CLI ran statements of {failure.file} before this one in transactions of their own "
                "(a CONCURRENTLY statement splits the file), so they stay applied; give each CONCURRENTLY statement "
                "a file of its own"
            )
        for note in notes:
            on_line(note)
        self.last = PushFailed(
            file=failure.file,
            statement=failure.statement,
            detail="; ".join([failure.detail, *notes]),
            applied=failure.applied,
            index=failure.index,
            committed=failure.committed,
            outcome_unknown=failure.outcome_unknown,
        )
        return self.last

    def before_retry(self) -> None:
        """Drop what the last failure could not; raise a lock timeout (retried later) while its table stays busy."""
        if not self.left or self.last is None:
            return
        results = drop(self.url, self.left, lock_timeout=self.lock_timeout)
        self.left = [r.index for r in results if not r.ok]
        if self.left:
            raise PushFailed(
                file=self.last.file,
                statement=self.last.statement,
                detail="; ".join(
                    ["the retry did not start: lock timeout (SQLSTATE 55P03) while dropping an INVALID index"]
                    + [r.describe() for r in results if not r.ok]
                ),
            )

    def _shape(self, filename: str | None) -> FileShape:
        try:
            return file_shape(migration_sql(self.migrations_dir / filename)) if filename else UNKNOWN_FILE
        except OSError:
            return UNKNOWN_FILE

    def _drop_new(self, shape: FileShape) -> list[str]:
        try:
            with connect(self.url) as conn:
                new = [i for i in invalid_indexes(conn, shape.tables) if i.oid not in self.known]
            results = drop(self.url, new, lock_timeout=self.lock_timeout)
        except (psycopg.Error, SupadeployError) as exc:
            self.resumable = False  # a broken index may be there: never run the build again blind
            return [f"could not look for an INVALID index the failed build may have left: {exc}"]
        self.left = [r.index for r in results if not r.ok]
        return [r.describe() for r in results]
