"""db.drift: the live schema against the schema its applied migrations produce on a scratch database."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg import sql

from supadeploy import environments
from supadeploy.backups import MANAGED_SCHEMAS
from supadeploy.database import applied_migrations, connect
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment
from supadeploy.errors import HistoryConflict, SupadeployError
from supadeploy.local_backend import load_compat_into, setup_sql, shadow_database, shadow_for
from supadeploy.migrations import discover
from supadeploy.project import CONFIG_FILE, MIGRATIONS_DIR, Project, sql_file
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


def _scratch_server(project: Project, env: Environment, override: str | None) -> DbUrl:
    """--scratch-url, else SUPADEPLOY_SCRATCH_URL, else the local environment's server."""
    if override:
        return DbUrl.parse(override, "--scratch-url")
    return env.settings.scratch_url or environments.resolve(project, "local").url


def drift(project: Project, env: Environment, cli: SupabaseCli, *, scratch_url: str | None = None) -> list[Difference]:
    """Rebuild env's applied migrations on a scratch database (no Docker) and compare the two schemas."""
    with connect(env.url) as conn:
        applied = [m.version for m in applied_migrations(conn)]
        live = snapshot(conn)
    return compare(live, rebuild(project, env, cli, applied, scratch_url=scratch_url))


def rebuild(
    project: Project, env: Environment, cli: SupabaseCli, versions: Sequence[str], *, scratch_url: str | None = None
) -> dict[tuple[str, str], str]:
    """The snapshot these applied versions' files build on a scratch database (env names the scratch server).

    Targets with the same history share one rebuild (fleet.plan).
    """
    files = {f.version: f for f in discover(project.migrations_dir)}
    missing = [v for v in versions if v not in files]
    if missing:
        raise HistoryConflict(f"cannot rebuild {env.name}: no local file for applied version(s) {', '.join(missing)}")
    workdir = Path(tempfile.mkdtemp(prefix="supadeploy-drift-"))
    try:
        (workdir / MIGRATIONS_DIR).mkdir(parents=True)
        shutil.copy(project.root / CONFIG_FILE, workdir / CONFIG_FILE)
        for version in versions:
            shutil.copy(files[version].path, workdir / MIGRATIONS_DIR / files[version].filename)
        with _scratch_database(project, env, scratch_url) as scratch:
            if versions:
                replace(cli, workdir=workdir).push(scratch, include_all=True)
            with connect(scratch) as conn:
                return snapshot(conn)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _scratch_database(project: Project, env: Environment, override: str | None) -> Iterator[DbUrl]:
    """An empty database with Supabase's base schema, dropped (or emptied) afterwards.

    On the shadow cluster when local is the Docker-free cluster and no scratch server is named (a
    database named postgres, as pg_cron needs); else a new database on the scratch server.
    """
    shadow = None if override or env.settings.scratch_url else shadow_for(project, env.settings)
    if shadow is not None:
        with shadow_database(shadow, extra_sql=setup_sql(project)) as url:
            yield url
        return
    server = _scratch_server(project, env, override)
    name = f"supadeploy_drift_{os.getpid()}"
    maintenance = server.maintenance
    try:
        with connect(maintenance) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        scratch = server.with_dbname(name)
        load_compat_into(scratch, extra_sql=setup_sql(project))
        yield scratch
    finally:
        try:
            with connect(maintenance) as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        except SupadeployError:
            pass
