"""Team API tokens: the format (checked offline) and the operator's issue/list/revoke over a service connection."""

from __future__ import annotations

import re
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from supadeploy.app import TOKEN_SCOPES, app_sql
from supadeploy.errors import ConfigError, DatabaseError

if TYPE_CHECKING:
    import psycopg

PREFIX = "vsn_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SCOPES = TOKEN_SCOPES
_SHAPE = re.compile(r"^vsn_[0-9A-Za-z]{36}$")
_LIFETIME = re.compile(r"^(?P<n>[1-9][0-9]{0,3})(?P<unit>[hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def base62(number: int, width: int) -> str:
    """Number in base 62, left-padded with zeros to width."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = ALPHABET[rest] + digits
    return digits.rjust(width, "0")


def well_formed(token: str) -> bool:
    """Prefix, 30 random base62 characters, and their CRC32 in 6 base62 characters: no lookup needed."""
    if not _SHAPE.match(token):
        return False
    random_part, checksum = token[4:34], token[34:]
    return base62(zlib.crc32(random_part.encode()), 6) == checksum


def parse_scopes(text: str) -> list[str]:
    """`deployments:read,projects:read` -> a checked list; a write scope needs its read scope.

    A token updates only rows it may read (migration 20261126000700), so `projects:write` alone could
    insert but never update. It is refused, as the database refuses it, rather than widened silently.
    """
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise ConfigError(f"unknown scope(s) {', '.join(unknown) or '(none given)'}: use {', '.join(SCOPES)}")
    for scope in scopes:
        kind, _, access = scope.partition(":")
        if access == "write" and f"{kind}:read" not in scopes:
            raise ConfigError(
                f"{scope} needs {kind}:read (a token updates only rows it may read): add {kind}:read to --scopes"
            )
    return scopes


def parse_lifetime(text: str) -> str:
    """`90d`, `12h` or `4w` -> a PostgreSQL interval."""
    match = _LIFETIME.match(text.strip())
    if not match:
        raise ConfigError(f"invalid --expires-in {text!r}: use hours, days or weeks, e.g. 12h, 90d, 4w")
    return f"{match['n']} {_UNITS[match['unit']]}"


def parse_id(text: str, what: str) -> uuid.UUID:
    """A uuid from the command line."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ConfigError(f"{what} must be a uuid, got {text!r}") from None


@dataclass(frozen=True)
class TokenInfo:
    """A token as operators see it: never the secret, never its hash."""

    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    display_prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "id": str(self.id),
            "team_id": str(self.team_id),
            "name": self.name,
            "prefix": self.display_prefix,
            "scopes": list(self.scopes),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def _database_error(exc: psycopg.Error) -> DatabaseError:
    """The server's one-line reason, with its SQLSTATE (42501: not allowed, 22023: a bad value, ...)."""
    return DatabaseError(exc.diag.message_primary or str(exc).splitlines()[0], exc.sqlstate)


def create(conn: psycopg.Connection, team: uuid.UUID, name: str, scopes: list[str], lifetime: str) -> str:
    """Issue a token for the team; the plaintext is returned here and nowhere else."""
    import psycopg  # the format helpers above work without a driver

    try:
        exists = conn.execute(app_sql("tokens_team_exists.sql"), (team,)).fetchone()
        if exists is None:
            raise ConfigError(f"no team {team}")
        row = conn.execute(app_sql("tokens_issue.sql"), (team, name, scopes, lifetime)).fetchone()
    except psycopg.Error as exc:
        raise _database_error(exc) from None
    assert row is not None
    return str(row[0])


def listing(conn: psycopg.Connection, team: uuid.UUID | None = None) -> list[TokenInfo]:
    """Every token (of one team), newest first; the hash is never selected."""
    import psycopg

    try:
        rows = conn.execute(app_sql("tokens_list.sql"), {"team": team}).fetchall()
    except psycopg.Error as exc:  # e.g. 42P01: a database the token migrations never reached
        raise _database_error(exc) from None
    return [TokenInfo(r[0], r[1], r[2], r[3], tuple(r[4]), r[5], r[6], r[7], r[8]) for r in rows]


def revoke(conn: psycopg.Connection, token_id: uuid.UUID) -> None:
    """Revoke a token (idempotent)."""
    import psycopg

    try:
        conn.execute(app_sql("tokens_revoke.sql"), (token_id,))
    except psycopg.Error as exc:
        raise _database_error(exc) from None
