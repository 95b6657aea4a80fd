"""Backups with pg_dump's custom format, checked with pg_restore --list, described by a manifest; restores.

A backup holds the project's own schemas (`sql/backup_schemas.sql`) and never takes another backup's
place: pg_dump writes a hidden partial file, which is verified, then linked to a name nobody holds
(`<env>-<stamp>.dump`, then `-2`, `-3`, ... when backups share a second). Its manifest also records
what, in Supabase's schemas, depends on ours (the trigger on auth.users, storage policies).

A restore gives back the backup point in one transaction (psql --single-transaction), under the push lock:
`restore_prepare.sql` drops our schemas (public, or one holding an extension's objects, is emptied
instead), pg_restore's script creates them again with their data, `restore_reset_acl.sql` takes back
what default privileges granted on the way, the backup's privileges follow, and `restore_finish.sql`
creates again what depends on them from Supabase's schemas.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import psycopg

from supadeploy import pgtools
from supadeploy.database import applied_migrations, connect, push_lock, server_version
from supadeploy.environments import Environment
from supadeploy.errors import BackupError
from supadeploy.project import Project, sql_file
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
_PARTIAL = re.compile(r"^\..+\.(?P<pid>\d+)\.partial$")
# pg_restore --list: "<id>; <catalog> <oid> <TYPE> <schema> <name> <owner>"; types may hold spaces.
_ENTRY = re.compile(r"^\d+; \d+ \d+ (?P<rest>.+)$")
_TYPES = sorted(
    (
        "ACL",
        "AGGREGATE",
        "CHECK CONSTRAINT",
        "COLLATION",
        "COMMENT",
        "CONSTRAINT",
        "CONVERSION",
        "DEFAULT",
        "DEFAULT ACL",
        "DOMAIN",
        "EVENT TRIGGER",
        "EXTENSION",
        "FK CONSTRAINT",
        "FOREIGN TABLE",
        "FUNCTION",
        "INDEX",
        "INDEX ATTACH",
        "MATERIALIZED VIEW",
        "MATERIALIZED VIEW DATA",
        "POLICY",
        "PROCEDURE",
        "PUBLICATION",
        "PUBLICATION TABLE",
        "PUBLICATION TABLES IN SCHEMA",
        "ROW SECURITY",
        "RULE",
        "SCHEMA",
        "SEQUENCE",
        "SEQUENCE OWNED BY",
        "SEQUENCE SET",
        "STATISTICS",
        "TABLE",
        "TABLE ATTACH",
        "TABLE DATA",
        "TEXT SEARCH CONFIGURATION",
        "TEXT SEARCH DICTIONARY",
        "TRIGGER",
        "TYPE",
        "VIEW",
    ),
    key=len,
    reverse=True,
)
# Entries a restore leaves alone: the platform's (extensions, event triggers, publications themselves).
_PLATFORM_TYPES = ("EXTENSION", "EVENT TRIGGER", "PUBLICATION")


@dataclass(frozen=True)
class Dependent:
    """An object in Supabase's schemas that depends on ours, and the statement that creates it (None: cannot)."""

    name: str
    definition: str | None


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
    schemas: list[str] = field(default_factory=list)
    dependents: list[dict[str, str | None]] = field(default_factory=list)

    def as_json(self) -> str:
        """The manifest file's text."""
        return json.dumps(asdict(self), indent=2) + "\n"


def backup_dir(project: Project, env: Environment, override: str | None = None) -> Path:
    """SUPADEPLOY_BACKUP_DIR (or --backup-dir), default .supadeploy/backups."""
    folder = Path(override or env.settings.backup_dir or project.state_dir / "backups")
    return folder if folder.is_absolute() else project.root / folder


def _tool(env: Environment, name: str) -> str:
    """pg_dump, pg_restore or psql (client tools only: no server binaries needed)."""
    return pgtools.client_tool(name, bindir=env.settings.pg_bindir)


def git_sha(root: Path, process: ProcessSettings | None = None) -> str | None:
    """The commit being deployed: $GITHUB_SHA, else `git rev-parse HEAD`."""
    sha = (process or ProcessSettings.from_environ(os.environ)).sha
    if sha:
        return sha
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def project_schemas(conn: psycopg.Connection) -> list[str]:
    """The schemas that are the project's own (what a backup holds)."""
    query = sql_file("backup_schemas.sql").read_text()
    return [name for (name,) in conn.execute(query, {"managed": list(MANAGED_SCHEMAS)}).fetchall()]


def dependents(conn: psycopg.Connection, schemas: Sequence[str]) -> list[Dependent]:
    """What outside `schemas` depends on objects inside them, with the statement that creates each again."""
    with conn.transaction():
        conn.execute("set local search_path = ''")  # every name in a definition qualified
        rows = conn.execute(sql_file("restore_dependents.sql").read_text(), {"schemas": list(schemas)}).fetchall()
    return [Dependent(name, definition) for name, definition in rows]


def sweep_partials(folder: Path) -> list[Path]:
    """Remove the partial files of backups whose process is gone (a killed run); return what was removed."""
    removed = []
    for path in folder.glob(".*.partial"):
        found = _PARTIAL.match(path.name)
        if found and not pgtools.process_alive(int(found["pid"])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as dump:
        for chunk in iter(lambda: dump.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _partial(folder: Path, stem: str) -> Path:
    """A new hidden file, mode 0600, named with our pid so that the next run can tell it was left behind."""
    descriptor, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".{os.getpid()}.partial", dir=folder)
    os.close(descriptor)
    return Path(name)


def _claim(folder: Path, stem: str, dump: Path, manifest_for: Callable[[Path], str]) -> Path:
    """Link the verified dump and its manifest to the first free name; never replace another backup's file."""
    manifest_partial = _partial(folder, f"{stem}.manifest")
    number = 0
    while True:
        number += 1
        name = stem if number == 1 else f"{stem}-{number}"
        final, manifest = folder / f"{name}.dump", folder / f"{name}.manifest.json"
        try:
            os.link(dump, final)
        except FileExistsError:
            continue
        manifest_partial.write_text(manifest_for(final))
        try:
            os.link(manifest_partial, manifest)
        except FileExistsError:
            final.unlink()  # a manifest without its dump holds this name: take the next one
            continue
        finally:
            manifest_partial.unlink(missing_ok=True)
        return final


def backup(
    project: Project, env: Environment, *, folder: str | None = None, process: ProcessSettings | None = None
) -> Manifest:
    """Dump the environment's own schemas, verify the archive, and keep it under a name no other backup has."""
    target = backup_dir(project, env, folder)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the backup folder {target}: {exc.strerror or exc}") from None
    if not os.access(target, os.W_OK | os.X_OK):
        raise BackupError(f"cannot write backups into {target}: permission denied")
    sweep_partials(target)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with connect(env.url) as conn:
        versions = [m.version for m in applied_migrations(conn)]
        version = server_version(conn)
        schemas = project_schemas(conn)
        found = dependents(conn, schemas)
    if not schemas:
        raise BackupError(f"{env.name} has no schema of its own to back up")
    partial = _partial(target, f"{env.name}-{stamp}")  # it holds the data: only its owner reads it
    try:
        argv = [_tool(env, "pg_dump"), "--format=custom", "--file", str(partial), "--dbname", env.url.without_password]
        for schema in schemas:
            argv += ["--schema", '"' + schema.replace('"', '""') + '"']  # a name, not a pattern
        pgtools.run(argv, env.url, f"pg_dump of {env.name}")
        listing = pgtools.run([_tool(env, "pg_restore"), "--list", str(partial)], env.url, "pg_restore --list")
        entries = sum(1 for line in listing.splitlines() if line and not line.startswith(";"))
        if entries == 0:
            raise BackupError(f"the dump of {env.name} lists no entries: not keeping it as a backup")
        _fsync(partial)
        described = Manifest(
            env=env.name,
            url=env.url.masked,
            created_at=stamp,
            file="",
            bytes=partial.stat().st_size,
            sha256=_sha256(partial),
            server_version=version,
            versions=versions,
            entries=entries,
            git_sha=git_sha(project.root, process),
            schemas=schemas,
            dependents=[{"name": d.name, "definition": d.definition} for d in found],
        )
        dump = _claim(
            target, f"{env.name}-{stamp}", partial, lambda final: replace(described, file=str(final)).as_json()
        )
        _fsync(target)
    finally:
        partial.unlink(missing_ok=True)
    return replace(described, file=str(dump))


# --- restore -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One line of pg_restore --list."""

    line: str
    kind: str
    schema: str
    name: str


def read_listing(listing: str) -> list[Entry]:
    """pg_restore --list, entry by entry (comments left out)."""
    entries = []
    for line in listing.splitlines():
        found = _ENTRY.match(line)
        if not found:
            continue
        rest = found["rest"]
        kind = next((k for k in _TYPES if rest.startswith(k + " ")), rest.split(" ", 1)[0])
        schema, _, named = rest[len(kind) + 1 :].partition(" ")
        entries.append(Entry(line, kind, schema, named.rsplit(" ", 1)[0]))  # the last word is the owner
    return entries


@dataclass(frozen=True)
class RestorePlan:
    """What a restore drops, empties and runs: decided under the push lock, before anything changes."""

    drop: tuple[str, ...]  # schemas dropped whole (the backup creates those it holds again)
    empty: tuple[str, ...]  # schemas that stay, emptied: public, or one holding an extension's objects
    objects: tuple[str, ...]  # pg_restore --list lines: the backup's objects and data
    privileges: tuple[str, ...]  # its ACL and DEFAULT ACL lines, restored after restore_reset_acl.sql
    dependents: tuple[str, ...]  # statements creating again what, in Supabase's schemas, depends on ours


def plan_restore(
    entries: Sequence[Entry],
    backed_up: Sequence[str],
    live: Sequence[str],
    holding_extensions: Sequence[str],
    recorded: Sequence[str],
) -> RestorePlan:
    """Which schemas go, which are emptied, which of the backup's entries run, and in which part."""
    schemas = sorted(set(backed_up) | set(live))
    empty = tuple(s for s in schemas if s == "public" or s in holding_extensions)
    drop = tuple(s for s in schemas if s not in empty)
    objects: list[str] = []
    privileges: list[str] = []
    for entry in entries:
        platform = entry.kind in _PLATFORM_TYPES or entry.name.startswith(("EXTENSION ", "EVENT TRIGGER "))
        foreign = entry.schema not in ("-", *backed_up)  # an old backup's ACLs on Supabase's objects
        if platform or foreign or (entry.kind == "SCHEMA" and entry.name in empty):
            continue
        if entry.kind == "DEFAULT ACL" and entry.schema in empty:
            continue  # the schema stays, with its default privileges
        (privileges if entry.kind in ("ACL", "DEFAULT ACL") else objects).append(entry.line)
    return RestorePlan(drop, empty, tuple(objects), tuple(privileges), tuple(recorded))


def _backed_up_schemas(manifest: dict[str, object], entries: Sequence[Entry]) -> list[str]:
    """The schemas the backup holds: its manifest says; an older one, its SCHEMA entries and public."""
    named = manifest.get("schemas")
    if isinstance(named, list) and named:
        return [str(s) for s in named]
    found = {e.name for e in entries if e.kind == "SCHEMA"}
    if any(e.schema == "public" for e in entries):
        found.add("public")
    return sorted(found - set(MANAGED_SCHEMAS))


def _read_manifest(dump: Path) -> dict[str, object]:
    path = dump.with_suffix(".manifest.json")
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        raise BackupError(f"{path.name} is not a readable manifest: refusing to restore {dump.name}") from None
    return manifest if isinstance(manifest, dict) else {}


def restore(env: Environment, dump: Path) -> str | None:
    """Give back the backup point of the environment's own schemas, in one transaction, under the push lock.

    Returns the environment the backup was taken from (its manifest's), when the manifest names one. A
    backup of another environment is never restored into a protected one: that is a wrong file picked.
    """
    if not dump.is_file():
        raise BackupError(f"no backup file at {dump}")
    manifest = _read_manifest(dump)
    source = manifest.get("env")
    source = source if isinstance(source, str) and source else None
    if source is not None and source != env.name and env.protected:
        raise BackupError(
            f"{dump.name} is a backup of {source}, not of {env.name}: refusing to restore it into a protected "
            "environment; nothing was changed"
        )
    expected = manifest.get("sha256")
    if expected and expected != _sha256(dump):
        raise BackupError(f"{dump.name} does not match its manifest's sha256: refusing to restore it")
    restore_tool = _tool(env, "pg_restore")
    entries = read_listing(
        pgtools.run([restore_tool, "--list", str(dump)], env.url, f"pg_restore --list of {dump.name}")
    )
    backed_up = _backed_up_schemas(manifest, entries)
    with push_lock(env.url, wait_seconds=env.settings.lock_wait, work="restore") as conn:
        live = project_schemas(conn)
        schemas = sorted(set(backed_up) | set(live))
        now = dependents(conn, schemas)
        lost = [d.name for d in now if d.definition is None]
        if lost:
            raise BackupError(
                f"restoring {env.name} would drop {', '.join(lost)}, which depend(s) on its own schemas and cannot "
                "be created again by a restore: drop it first, restore, then create it again"
            )
        recorded = manifest.get("dependents")
        if isinstance(recorded, list):
            again = [str(d["definition"]) for d in recorded if isinstance(d, dict) and d.get("definition")]
        else:
            again = [str(d.definition) for d in now]
        holding = _holding_extensions(conn, schemas)
        plan = plan_restore(entries, backed_up, live, holding, again)
        _run_restore(env, dump, plan)
    return source


def _holding_extensions(conn: psycopg.Connection, schemas: Sequence[str]) -> list[str]:
    query = sql_file("restore_extension_schemas.sql").read_text()
    return [name for (name,) in conn.execute(query, {"schemas": list(schemas)}).fetchall()]


@contextmanager
def _listed(lines: Sequence[str]) -> Iterator[str]:
    """A pg_restore --use-list file holding these lines, removed afterwards."""
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as chosen:
        chosen.write("\n".join(lines) + "\n")
    try:
        yield chosen.name
    finally:
        os.unlink(chosen.name)


def _run_restore(env: Environment, dump: Path, plan: RestorePlan) -> None:
    """pg_restore's scripts relayed into one psql transaction between restore_prepare/reset_acl/finish.sql.

    The relay tells psql the backup was read to its end only when pg_restore exited cleanly, so a cut
    short backup can never be committed.
    """
    what = f"restore of {dump.name} into {env.name}"
    child = pgtools.child_env(env.url)
    with ExitStack() as stack:
        objects = stack.enter_context(_listed(plan.objects))
        privileges = stack.enter_context(_listed(plan.privileges))
        acl_script = stack.enter_context(tempfile.NamedTemporaryFile("w+", suffix=".sql"))
        errors = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(2)]
        pgtools.run(
            [_tool(env, "pg_restore"), "--use-list", privileges, "--file", acl_script.name, str(dump)],
            env.url,
            f"pg_restore of {dump.name}'s privileges",
        )
        psql = pgtools.popen(
            [
                _tool(env, "psql"),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set",
                "ON_ERROR_STOP=1",
                "--set",
                f"drop_schemas={json.dumps(plan.drop)}",
                "--set",
                f"empty_schemas={json.dumps(plan.empty)}",
                "--set",
                f"dependents={json.dumps(plan.dependents)}",
                "--file",
                str(sql_file("restore_prepare.sql")),
                "--file",
                "-",
                "--file",
                str(sql_file("restore_reset_acl.sql")),
                "--file",
                acl_script.name,
                "--file",
                str(sql_file("restore_finish.sql")),
                "--dbname",
                env.url.without_password,
            ],
            what="psql",
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors[1],
            env=child,
        )
        script = pgtools.popen(
            [_tool(env, "pg_restore"), "--use-list", objects, "--file", "-", str(dump)],
            what="pg_restore",
            stdout=subprocess.PIPE,
            stderr=errors[0],
            env=child,
        )
        complete = _relay(script, psql)
        psql.wait()
        if script.returncode != 0:
            raise BackupError(f"{what} failed, nothing was changed: {_reason(env, errors[0], script.returncode)}")
        if psql.returncode != 0 or not complete:
            raise BackupError(f"{what} failed, nothing was changed: {_reason(env, errors[1], psql.returncode)}")


def _relay(script: subprocess.Popen[bytes], psql: subprocess.Popen[bytes]) -> bool:
    """Pass pg_restore's script to psql; mark it complete only when pg_restore exited cleanly."""
    assert script.stdout is not None and psql.stdin is not None
    complete = False
    try:
        for chunk in iter(lambda: script.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
            psql.stdin.write(chunk)
        if script.wait() == 0:
            psql.stdin.write(b"\n\\set restore_complete yes\n")
            complete = True
        psql.stdin.close()
    except BrokenPipeError:
        pass  # psql stopped on an error: its own message says why
    finally:
        if script.poll() is None:
            script.kill()
        script.wait()
        script.stdout.close()
    return complete


def _reason(env: Environment, stderr: IO[bytes], returncode: int) -> str:
    stderr.seek(0)
    text = stderr.read().decode(errors="replace")
    # psql prefixes where it was ("psql:<stdin>:12: ERROR:  ..."): the server's words are what matter.
    lines = [re.sub(r"^psql:[^:]*:\d+:\s*", "", ln).strip() for ln in text.splitlines() if ln.strip()]
    found = next((ln for ln in lines if "ERROR:" in ln or "error:" in ln), lines[-1] if lines else f"exit {returncode}")
    found = re.sub(r"^(?:psql: |pg_restore: )?error:\s*", "", found)  # the tool's own label: ours says error: already
    return env.url.scrub(" ".join(found.split()))
