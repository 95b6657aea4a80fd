"""db.drift: the live schema against the schema its applied migrations produce on a scratch database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg

from supadeploy import scratch
from supadeploy.backups import MANAGED_SCHEMAS
from supadeploy.database import connect
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment
from supadeploy.project import Project, sql_file
from supadeploy.supabase_cli import SupabaseCli

EXCLUDED = (*MANAGED_SCHEMAS, "supabase_migrations", "supadeploy")
Snapshot = Mapping[tuple[str, str], str]


@dataclass(frozen=True)
class Difference:
    """One object that differs: only live, only expected, or defined differently."""

    kind: str
    name: str
    live: str | None
    expected: str | None

    def describe(self) -> str:
        """One line for people."""
        if self.expected is None:
            return f"+ {self.kind} {self.name}: in {self.where} but not made by any migration"
        if self.live is None:
            return f"- {self.kind} {self.name}: made by the migrations but missing from {self.where}"
        return f"~ {self.kind} {self.name}: {self.where} has {self.live!r}, the migrations make {self.expected!r}"

    where = "the live database"

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {"kind": self.kind, "name": self.name, "live": self.live, "expected": self.expected}


def snapshot(conn: psycopg.Connection) -> dict[tuple[str, str], str]:
    """Every object the migrations own, keyed by (kind, name)."""
    rows = conn.execute(sql_file("schema_snapshot.sql").read_text(), {"excluded": list(EXCLUDED)}).fetchall()
    return {(kind, name): definition or "" for kind, name, definition in rows}


def compare(live: Snapshot, expected: Snapshot) -> list[Difference]:
    """Objects only in one snapshot, or defined differently, in a stable order."""
    differences = []
    for key in sorted(set(live) | set(expected)):
        if live.get(key) != expected.get(key):
            differences.append(Difference(key[0], key[1], live.get(key), expected.get(key)))
    return differences


def drift(project: Project, env: Environment, cli: SupabaseCli, *, scratch_url: str | None = None) -> list[Difference]:
    """Rebuild env's applied migrations on a scratch database (no Docker) and compare the two schemas."""
    with connect(env.url) as conn:
        live = snapshot(conn)
    return compare(live, rebuild(project, env, cli, scratch_url=scratch_url))


def rebuild(
    project: Project,
    env: Environment,
    cli: SupabaseCli,
    versions: Sequence[str] | None = None,
    *,
    scratch_url: str | None = None,
) -> Snapshot:
    """The snapshot env's applied files (or these versions' files) build on a scratch database."""
    server = DbUrl.parse(scratch_url, "--scratch-url") if scratch_url else None
    with scratch.history_copy(project, env, cli, server=server, versions=versions) as copy, connect(copy.url) as conn:
        return snapshot(conn)
