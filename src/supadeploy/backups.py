"""Backups with pg_dump's custom format, checked with pg_restore --list, described by a manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from supadeploy.database import DbUrl, applied_migrations, connect, server_version
from supadeploy.environments import Environment
from supadeploy.errors import SupadeployError
from supadeploy.local_backend import find_bindir
from supadeploy.project import Project

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
    folder = Path(override or env.settings.get("SUPADEPLOY_BACKUP_DIR") or project.state_dir / "backups")
    return folder if folder.is_absolute() else project.root / folder


def _pg_env(url: DbUrl) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    if url.password is not None:
        env["PGPASSWORD"] = url.password
    return env


def _tool(name: str) -> str:
    """pg_dump/pg_restore from the server binaries' folder (same major), else PATH."""
    beside = find_bindir() / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        raise SupadeployError(f"{name} not found: install the PostgreSQL client (apt-get install postgresql-15)")
    return found


def _run(argv: list[str], url: DbUrl, what: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, capture_output=True, text=True, env=_pg_env(url), check=False, stdin=subprocess.DEVNULL, timeout=6 * 3600
    )
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "error:" in ln.lower()), lines[-1] if lines else f"exit {done.returncode}")
        raise SupadeployError(f"{what} failed: {url.scrub(reason)}")
    return done


def git_sha(root: Path) -> str | None:
    """The commit being deployed: $GITHUB_SHA, else `git rev-parse HEAD`."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def backup(project: Project, env: Environment, *, folder: str | None = None) -> Manifest:
    """Dump the environment's own schemas, verify the archive, and write a manifest beside it."""
    target = backup_dir(project, env, folder)
    target.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dump = target / f"{env.name}-{stamp}.dump"
    with connect(env.url) as conn:
        versions = [m.version for m in applied_migrations(conn)]
        version = server_version(conn)
    argv = [_tool("pg_dump"), "--format=custom", "--file", str(dump), "--dbname", env.url.without_password]
    for schema in MANAGED_SCHEMAS:
        argv += ["--exclude-schema", schema]
    _run(argv, env.url, f"pg_dump of {env.name}")
    listing = _run([_tool("pg_restore"), "--list", str(dump)], env.url, f"pg_restore --list of {dump.name}")
    entries = sum(1 for line in listing.stdout.splitlines() if line and not line.startswith(";"))
    if entries == 0:
        raise SupadeployError(f"backup {dump} lists no entries: not keeping it as a backup")
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
        git_sha=git_sha(project.root),
    )
    manifest.write(dump.with_suffix(".manifest.json"))
    return manifest


def restore(env: Environment, dump: Path) -> None:
    """Replace the environment's own schemas with the dump's (pg_restore --clean --if-exists, one transaction)."""
    if not dump.is_file():
        raise SupadeployError(f"no backup file at {dump}")
    manifest = dump.with_suffix(".manifest.json")
    if manifest.is_file():
        expected = json.loads(manifest.read_text()).get("sha256")
        if expected and expected != hashlib.sha256(dump.read_bytes()).hexdigest():
            raise SupadeployError(f"{dump.name} does not match its manifest's sha256: refusing to restore it")
    listing = _run([_tool("pg_restore"), "--list", str(dump)], env.url, f"pg_restore --list of {dump.name}")
    # Extensions belong to Supabase (PostgreSQL 15's pg_dump cannot leave them out): restore around them.
    entries = [line for line in listing.stdout.splitlines() if " EXTENSION " not in line]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as chosen:
        chosen.write("\n".join(entries) + "\n")
    try:
        argv = [
            _tool("pg_restore"),
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
        _run(argv, env.url, f"restore of {dump.name} into {env.name}")
    finally:
        os.unlink(chosen.name)
