"""Backups with pg_dump's custom format, checked with pg_restore --list, described by a manifest."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from supadeploy import pgtools
from supadeploy.database import applied_migrations, connect, server_version
from supadeploy.environments import Environment
from supadeploy.errors import BackupError
from supadeploy.project import Project
from supadeploy.settings import ProcessSettings

# Schemas Supabase itself owns and manages: not ours to dump or restore.
MANAGED_SCHEMAS = (
    "auth",
    "storage",
    "extensions",
    "graphql",
    "graphql_public",
    "realtime",
    "_realtime",
    "vault",
    "pgsodium",
    "pgsodium_masks",
    "supabase_functions",
    "net",
    "cron",
    "pgbouncer",
    "_analytics",
    "pgtle",
    "tiger",
    "topology",
)


@dataclass(frozen=True)
class Manifest:
    """What a backup holds and how to check it."""

    env: str
    url: str
    created_at: str
    file: str
    bytes: int
    sha256: str
    server_version: str
    versions: list[str]
    entries: int
    git_sha: str | None

    def write(self, path: Path) -> None:
        """Write as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def backup_dir(project: Project, env: Environment, override: str | None = None) -> Path:
    """SUPADEPLOY_BACKUP_DIR (or --backup-dir), default .supadeploy/backups."""
    folder = Path(override or env.settings.backup_dir or project.state_dir / "backups")
    return folder if folder.is_absolute() else project.root / folder


def _tool(env: Environment, name: str) -> str:
    """pg_dump or pg_restore (client tools only: no server binaries needed)."""
    return pgtools.client_tool(name, bindir=env.settings.pg_bindir)


def git_sha(root: Path, process: ProcessSettings | None = None) -> str | None:
    """The commit being deployed: $GITHUB_SHA, else `git rev-parse HEAD`."""
    sha = (process or ProcessSettings.from_environ(os.environ)).sha
    if sha:
        return sha
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def backup(
    project: Project, env: Environment, *, folder: str | None = None, process: ProcessSettings | None = None
) -> Manifest:
    """Dump the environment's own schemas, verify the archive, and write a manifest beside it."""
    target = backup_dir(project, env, folder)
    target.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dump = target / f"{env.name}-{stamp}.dump"
    with connect(env.url) as conn:
        versions = [m.version for m in applied_migrations(conn)]
        version = server_version(conn)
    argv = [_tool(env, "pg_dump"), "--format=custom", "--file", str(dump), "--dbname", env.url.without_password]
    for schema in MANAGED_SCHEMAS:
        argv += ["--exclude-schema", schema]
    pgtools.run(argv, env.url, f"pg_dump of {env.name}")
    listing = pgtools.run([_tool(env, "pg_restore"), "--list", str(dump)], env.url, f"pg_restore --list of {dump.name}")
    entries = sum(1 for line in listing.splitlines() if line and not line.startswith(";"))
    if entries == 0:
        raise BackupError(f"backup {dump} lists no entries: not keeping it as a backup")
    manifest = Manifest(
        env=env.name,
        url=env.url.masked,
        created_at=stamp,
        file=str(dump),
        bytes=dump.stat().st_size,
        sha256=hashlib.sha256(dump.read_bytes()).hexdigest(),
        server_version=version,
        versions=versions,
        entries=entries,
        git_sha=git_sha(project.root, process),
    )
    manifest.write(dump.with_suffix(".manifest.json"))
    return manifest


def restore(env: Environment, dump: Path) -> None:
    """Replace the environment's own schemas with the dump's (pg_restore --clean --if-exists, one transaction)."""
    if not dump.is_file():
        raise BackupError(f"no backup file at {dump}")
    manifest = dump.with_suffix(".manifest.json")
    if manifest.is_file():
        expected = json.loads(manifest.read_text()).get("sha256")
        if expected and expected != hashlib.sha256(dump.read_bytes()).hexdigest():
            raise BackupError(f"{dump.name} does not match its manifest's sha256: refusing to restore it")
    restore_tool = _tool(env, "pg_restore")
    listing = pgtools.run([restore_tool, "--list", str(dump)], env.url, f"pg_restore --list of {dump.name}")
    # Extensions belong to Supabase (PostgreSQL 15's pg_dump cannot leave them out): restore around them.
    entries = [line for line in listing.splitlines() if " EXTENSION " not in line]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as chosen:
        chosen.write("\n".join(entries) + "\n")
    try:
        argv = [
            restore_tool,
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--use-list",
            chosen.name,
            "--dbname",
            env.url.without_password,
            str(dump),
        ]
        pgtools.run(argv, env.url, f"restore of {dump.name} into {env.name}")
    finally:
        os.unlink(chosen.name)
