"""The psycopg leg: connecting, the CLI's applied history, the push lock, and the toolkit's own SQL files."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from supadeploy.dburl import DbUrl
from supadeploy.errors import DatabaseUnreachable, LockTimeout
from supadeploy.migrations import version_key
from supadeploy.project import sql_file

PUSH_LOCK_KEY = 0x5355504144455059  # "SUPADEPY": one advisory lock per database for every push
# "SUPAPROM": held around a fleet's whole promotion of one target (plan, backup, push, verify, record);
# push() takes the push lock inside it, on its own connection, hence another key.
PROMOTION_LOCK_KEY = 0x5355504150524F4D
HISTORY_TABLE = "supabase_migrations.schema_migrations"
# The server's severity before a connection error's reason: noise in a one-line message.
_SEVERITY = re.compile(r"^(?:FATAL|ERROR):\s+")


@contextmanager
def connect(url: DbUrl, *, timeout: int = 10, autocommit: bool = True) -> Iterator[psycopg.Connection]:
    """Connect or raise DatabaseUnreachable naming host:port."""
    try:
        conn = psycopg.connect(url.raw, connect_timeout=timeout, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(url.where, reason(exc, url)) from None
    with conn:
        yield conn


def reason(exc: psycopg.Error, url: DbUrl) -> str:
    """The last meaningful line of a driver error, without the password."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    # libpq: 'connection failed: connection to server at "h", port p failed: FATAL:  <reason>'
    found = lines[0].rsplit("failed: ", 1)[-1]
    return url.scrub(_SEVERITY.sub("", found))


# The push locks this process holds, per thread and database: taking one again hands back its connection.
_HELD: dict[tuple[int, tuple[tuple[str, int], ...], str], psycopg.Connection] = {}


@contextmanager
def push_lock(url: DbUrl, *, wait_seconds: float, work: str = "push") -> Iterator[psycopg.Connection]:
    """Hold the database's push advisory lock on a dedicated connection; wait at most wait_seconds.

    Pushes, restores, repairs, promotions and data imports share it, so none runs under another. A thread
    that holds it already (a promotion, around its backup and push) gets the same connection back.
    """
    key = (threading.get_ident(), url.hosts, url.dbname)
    held = _HELD.get(key)
    if held is not None and not held.closed:
        yield held
        return
    with connect(url) as conn:
        conn.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(f"{int(wait_seconds * 1000)}ms")))
        try:
            conn.execute("select pg_advisory_lock(%s)", (PUSH_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable:
            raise LockTimeout(url.where, wait_seconds) from None
        conn.execute("set lock_timeout = 0")
        _HELD[key] = conn
        try:
            yield conn
        except psycopg.OperationalError as exc:
            # The server went away mid-push (restart, network): each file is one transaction, so nothing is
            # half-applied; say so instead of a driver traceback.
            raise DatabaseUnreachable.lost(url.where, reason(exc, url), work) from None
        finally:
            del _HELD[key]
            if not conn.closed and not conn.broken:
                try:
                    conn.execute("select pg_advisory_unlock(%s)", (PUSH_LOCK_KEY,))
                except psycopg.OperationalError:
                    pass  # the lock went with the session


@contextmanager
def promotion_lock(url: DbUrl, *, wait_seconds: float) -> Iterator[psycopg.Connection]:
    """Hold the database's promotion advisory lock on a dedicated connection; wait at most wait_seconds.

    Two rollouts that reach the same target take turns: the second plans the target again once the first is done.
    """
    with connect(url) as conn:
        conn.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(f"{int(wait_seconds * 1000)}ms")))
        try:
            conn.execute("select pg_advisory_lock(%s)", (PROMOTION_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable:
            raise LockTimeout(url.where, wait_seconds, holder="promotion") from None
        conn.execute("set lock_timeout = 0")
        try:
            yield conn
        finally:
            if not conn.closed and not conn.broken:
                try:
                    conn.execute("select pg_advisory_unlock(%s)", (PROMOTION_LOCK_KEY,))
                except psycopg.OperationalError:
                    pass  # the lock went with the session


def run_sql_file(conn: psycopg.Connection, name: str) -> None:
    """Run one of the toolkit's sql/ files in a transaction."""
    text = sql_file(name).read_text()
    with conn.transaction():
        conn.execute(text.encode())


@dataclass(frozen=True)
class AppliedMigration:
    """One row of supabase_migrations.schema_migrations."""

    version: str
    name: str | None
    statements: tuple[str, ...] = field(default=(), repr=False)


def history_exists(conn: psycopg.Connection) -> bool:
    """True once the CLI has created its history table on this database."""
    row = conn.execute("select to_regclass(%s) is not null", (HISTORY_TABLE,)).fetchone()
    return bool(row and row[0])


def applied_migrations(conn: psycopg.Connection) -> list[AppliedMigration]:
    """The CLI's migration history, oldest first; empty when nothing was ever pushed."""
    if not history_exists(conn):
        return []
    rows = conn.execute(
        "select version, name, coalesce(statements, '{}') from supabase_migrations.schema_migrations"
    ).fetchall()
    applied = [AppliedMigration(version=v, name=n, statements=tuple(s)) for v, n, s in rows]
    return sorted(applied, key=lambda m: version_key(m.version))


def server_version(conn: psycopg.Connection) -> str:
    """The server's version string, e.g. 15.18."""
    row = conn.execute("show server_version").fetchone()
    return str(row[0]).split()[0] if row else "unknown"
