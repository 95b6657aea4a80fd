"""Connection strings and the few queries the toolkit runs itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from supadeploy.errors import ConfigError, DatabaseUnreachable, LockTimeout
from supadeploy.project import sql_file

_SCHEMES = ("postgres", "postgresql")
_LOOPBACK = {"localhost", "127.0.0.1", "::1", ""}
MASK = "****"


@dataclass(frozen=True)
class DbUrl:
    """A postgres:// URL; only `masked` and `without_password` are fit to show or pass on argv."""

    raw: str = field(repr=False)
    host: str
    port: int
    user: str
    dbname: str
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, raw: str, what: str = "SUPABASE_DB_URL") -> DbUrl:
        """Parse a postgres URL, refusing anything else with a message that names `what` and hides the password."""
        parts = urlsplit(raw.strip())
        if parts.scheme not in _SCHEMES:
            raise ConfigError(f"{what} must start with postgresql:// (got a value that does not)")
        try:
            port = parts.port or 5432
        except ValueError as exc:
            raise ConfigError(f"{what} has an invalid port: {exc}") from None
        return cls(
            raw=raw.strip(),
            host=parts.hostname or "",
            port=port,
            user=unquote(parts.username or "postgres"),
            dbname=unquote(parts.path.lstrip("/")) or "postgres",
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def _with_userinfo(self, password: str | None) -> str:
        parts = urlsplit(self.raw)
        userinfo = quote(self.user, safe="")
        if password is not None:
            userinfo += ":" + password
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = f"{userinfo}@{host}:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    @property
    def masked(self) -> str:
        """The URL with its password replaced by ****."""
        return self._with_userinfo(MASK if self.password is not None else None)

    @property
    def without_password(self) -> str:
        """The URL with no password at all, for argv (the password goes in PGPASSWORD)."""
        return self._with_userinfo(None)

    @property
    def where(self) -> str:
        """host:port, for messages."""
        return f"{self.host or 'localhost'}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """True when the server is on this machine."""
        return self.host in _LOOPBACK

    def scrub(self, text: str) -> str:
        """Remove this URL's password from text that came from elsewhere."""
        if self.password:
            text = text.replace(self.password, MASK).replace(quote(self.password, safe=""), MASK)
        return text

    @property
    def maintenance(self) -> DbUrl:
        """Another database on the same server, for CREATE/DROP DATABASE of this one."""
        return self.with_dbname("template1" if self.dbname == "postgres" else "postgres")

    def with_dbname(self, dbname: str) -> DbUrl:
        """The same server and credentials, another database."""
        parts = urlsplit(self.raw)
        raw = urlunsplit((parts.scheme, parts.netloc, "/" + quote(dbname), parts.query, parts.fragment))
        return DbUrl.parse(raw)


TRANSACTION_POOLER_PORT = 6543
PUSH_LOCK_KEY = 0x5355504144455059  # "SUPADEPY": one advisory lock per database for every push


def refuse_transaction_pooler(url: DbUrl) -> None:
    """Refuse Supabase's transaction-mode pooler: session advisory locks and DDL need a real session."""
    if url.port == TRANSACTION_POOLER_PORT:
        raise ConfigError(
            f"{url.where} is a transaction-mode pooler (port {TRANSACTION_POOLER_PORT}), which cannot hold the "
            "push lock: use the session-mode pooler on port 5432 of the same host, or the direct connection "
            "db.<project-ref>.supabase.co:5432"
        )


@contextmanager
def push_lock(url: DbUrl, *, wait_seconds: float, work: str = "push") -> Iterator[psycopg.Connection]:
    """Hold the database's push advisory lock on a dedicated connection; wait at most wait_seconds.

    Schema pushes and data imports share it, so neither runs under the other.
    """
    with connect(url) as conn:
        conn.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(f"{int(wait_seconds * 1000)}ms")))
        try:
            conn.execute("select pg_advisory_lock(%s)", (PUSH_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable:
            raise LockTimeout(url.where, wait_seconds) from None
        conn.execute("set lock_timeout = 0")
        try:
            yield conn
        except psycopg.OperationalError as exc:
            # The server went away mid-push (restart, network): each file is one transaction, so nothing is
            # half-applied; say so instead of a driver traceback.
            raise DatabaseUnreachable(
                url.where,
                f"{_reason(exc, url)}; the connection was lost during the {work}, "
                "nothing is half-applied: run it again",
            ) from None
        finally:
            if not conn.closed and not conn.broken:
                try:
                    conn.execute("select pg_advisory_unlock(%s)", (PUSH_LOCK_KEY,))
                except psycopg.OperationalError:
                    pass  # the lock went with the session


def _reason(exc: psycopg.Error, url: DbUrl) -> str:
    """The last meaningful line of a driver error, without the password."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    # libpq: 'connection failed: connection to server at "h", port p failed: <reason>'
    return url.scrub(lines[0].rsplit("failed: ", 1)[-1])


@contextmanager
def connect(url: DbUrl, *, timeout: int = 10, autocommit: bool = True) -> Iterator[psycopg.Connection]:
    """Connect or raise DatabaseUnreachable naming host:port."""
    try:
        conn = psycopg.connect(url.raw, connect_timeout=timeout, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(url.where, _reason(exc, url)) from None
    with conn:
        yield conn


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


def applied_migrations(conn: psycopg.Connection) -> list[AppliedMigration]:
    """The CLI's migration history, oldest first; empty when nothing was ever pushed."""
    exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "select version, name, coalesce(statements, '{}') from supabase_migrations.schema_migrations"
    ).fetchall()
    applied = [AppliedMigration(version=v, name=n, statements=tuple(s)) for v, n, s in rows]
    return sorted(applied, key=lambda m: version_key(m.version))


def version_key(version: str) -> tuple[int, str]:
    """Order versions as numbers (the CLI's versions are digits of any length)."""
    return (int(version), version) if version.isdigit() else (-1, version)


def server_version(conn: psycopg.Connection) -> str:
    """The server's version string, e.g. 15.18."""
    row = conn.execute("show server_version").fetchone()
    return str(row[0]).split()[0] if row else "unknown"
