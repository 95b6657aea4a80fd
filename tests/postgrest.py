"""Impersonation exactly as PostgREST does it: log in as authenticator, then in one transaction
set role, request.jwt.claims (including role), request.headers, request.method and request.path
transaction-locally, run the query, and end the transaction (rolled back here)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg.abc import Query

from supadeploy.dburl import DbUrl

AUTHENTICATOR_PASSWORD = "authenticator-test-password"


@dataclass(frozen=True)
class Identity:
    """Who a request claims to be: anon, a signed-in user, or service_role."""

    label: str
    role: str
    user_id: uuid.UUID | None = None
    email: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def claims(self) -> dict[str, object]:
        claims: dict[str, object] = {"role": self.role, "aud": self.role, "iss": "supabase"}
        if self.user_id is not None:
            claims["sub"] = str(self.user_id)
            claims["aud"] = "authenticated"
        if self.email is not None:
            claims["email"] = self.email
        return claims


ANON = Identity("anon", "anon")
SERVICE = Identity("service_role", "service_role")


def user(label: str, user_id: uuid.UUID, email: str) -> Identity:
    return Identity(label, "authenticated", user_id, email)


def authenticator_url(superuser: DbUrl) -> DbUrl:
    return DbUrl.parse(
        f"postgresql://authenticator:{AUTHENTICATOR_PASSWORD}@{superuser.host}:{superuser.port}/{superuser.dbname}"
    )


class Rollback(Exception):
    """Raised to end a request transaction without committing."""


@contextmanager
def request(
    conn: psycopg.Connection, who: Identity, *, method: str = "GET", path: str = "/rest/v1/"
) -> Iterator[psycopg.Connection]:
    """One PostgREST request transaction, always rolled back."""
    headers = {"accept": "application/json", **who.headers}
    try:
        with conn.transaction():
            conn.execute(
                "select set_config('search_path', 'public, extensions', true),"
                " set_config('role', %s, true),"
                " set_config('request.jwt.claims', %s, true),"
                " set_config('request.method', %s, true),"
                " set_config('request.path', %s, true),"
                " set_config('request.headers', %s, true),"
                " set_config('request.cookies', '{}', true)",
                (who.role, json.dumps(who.claims()), method, path, json.dumps(headers)),
            )
            yield conn
            raise Rollback
    except Rollback:
        pass


def attempt(conn: psycopg.Connection, who: Identity, statement: Query, params: dict[str, object], method: str) -> int:
    """Run one statement as `who`; the number of rows it read or wrote, or -1 when refused with an error."""
    outcome = -1
    with request(conn, who, method=method) as c:
        try:
            with c.transaction():
                cur = c.execute(statement, params)
                outcome = len(cur.fetchall()) if cur.description else cur.rowcount
        except psycopg.errors.InsufficientPrivilege:
            # 42501: "permission denied" or "new row violates row-level security policy"
            outcome = -1
    return outcome
