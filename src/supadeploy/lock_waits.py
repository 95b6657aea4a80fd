"""Who holds the lock a migration waits for: sessions named by pid, application, state and times, never by query text.

`LockWatch` samples pg_blocking_pids for the Supabase CLI's backends while a push runs, so that a lock timeout
can name what blocked it (the CLI's backend has stopped waiting by the time its error is read).
`lock_holders()` names the sessions holding a lock on one table, after the fact.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import psycopg
from psycopg.rows import dict_row

from supadeploy.database import connect
from supadeploy.dburl import DbUrl
from supadeploy.errors import SupadeployError
from supadeploy.project import sql_file

POLL_SECONDS = 0.1  # a 500 ms lock_timeout is sampled about five times


@dataclass(frozen=True)
class Session:
    """A session that held a lock someone waited for: what pg_stat_activity says of it, minus its query text."""

    pid: int
    user: str | None
    application: str | None
    state: str | None
    query_start: datetime | None
    xact_seconds: float | None

    def describe(self) -> str:
        """`pid 4242 (psql, postgres, idle in transaction; transaction open 3.2s, query started 15:55:01 UTC)`."""
        who = ", ".join(part for part in (self.application or None, self.user, self.state) if part)
        times = []
        if self.xact_seconds is not None:
            times.append(f"transaction open {self.xact_seconds:.1f}s")
        if self.query_start is not None:
            times.append(f"query started {self.query_start.astimezone(UTC):%H:%M:%S} UTC")
        detail = "; ".join(part for part in (who or "not visible to this role", ", ".join(times)) if part)
        return f"pid {self.pid} ({detail})"


def describe_all(sessions: Sequence[Session], scrub: DbUrl | None = None) -> str:
    """The sessions on one line, passwords scrubbed from what clients named themselves."""
    text = ", ".join(s.describe() for s in sessions)
    return scrub.scrub(text) if scrub is not None else text


def _sessions(conn: psycopg.Connection, name: str, params: dict[str, object]) -> list[Session]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql_file(name).read_text(), params).fetchall()
    return [
        Session(
            pid=int(r["pid"]),
            user=r["usename"],
            application=r["application_name"],
            state=r["state"],
            query_start=r["query_start"],
            xact_seconds=r["xact_seconds"],
        )
        for r in rows
    ]


def lock_holders(conn: psycopg.Connection, table_oid: int) -> list[Session]:
    """The other sessions holding a lock on the table (what a DROP INDEX CONCURRENTLY waits for)."""
    return _sessions(conn, "lock_holders.sql", {"table": table_oid})


class LockWatch:
    """While open, sample who blocks the CLI's backends (sql/blocking_sessions.sql) every POLL_SECONDS.

    The CLI's backends are this role's sessions opened after the watch started that carry the CLI's
    application_name. A watch that cannot connect stays silent: it only ever adds detail to a report.
    """

    def __init__(self, url: DbUrl, application: str) -> None:
        """Watch the database at url for backends named `application`."""
        self.url = url
        self.application = application
        self._seen: dict[int, Session] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-watch", daemon=True)

    def __enter__(self) -> LockWatch:
        """Start sampling; return once the watch's own connection has read the server's clock (or failed)."""
        self._thread.start()
        self._ready.wait(timeout=15)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=15)

    def take(self) -> list[Session]:
        """The blockers seen since the last call, in the order they were first seen."""
        with self._guard:
            seen, self._seen = list(self._seen.values()), {}
        return seen

    def _run(self) -> None:
        try:
            with connect(self.url) as conn:
                conn.execute("set application_name = 'supadeploy lock watch'")
                row = conn.execute("select pg_catalog.clock_timestamp()").fetchone()
                params = {"application": self.application, "since": row[0] if row else None}
                self._ready.set()
                while not self._stop.wait(POLL_SECONDS):
                    found = _sessions(conn, "blocking_sessions.sql", params)
                    with self._guard:
                        for session in found:
                            self._seen.setdefault(session.pid, session)
        except (psycopg.Error, SupadeployError):
            pass  # the watch only adds detail; the push reports its own failures
        finally:
            self._ready.set()
