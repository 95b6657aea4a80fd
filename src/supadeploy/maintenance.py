"""db.new, db.reset and db.repair: creating a migration file, rebuilding local, and mending the history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from supadeploy import ledger
from supadeploy.database import applied_migrations, push_lock
from supadeploy.environments import Environment
from supadeploy.errors import ConfigError, HistoryConflict, MigrationFileError
from supadeploy.local_backend import recorded_backend, recreate_database, run_docker, setup_sql
from supadeploy.migrations import MigrationFile, check_name, discover, version_key
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project
from supadeploy.push import Limits, PushResult, push, refuse_transaction_pooler
from supadeploy.supabase_cli import SupabaseCli

REPAIR_STATUSES = ("applied", "reverted")


def new_migration(project: Project, cli: SupabaseCli, name: str) -> Path:
    """Create supabase/migrations/<timestamp>_<name>.sql through the CLI, after every file already there.

    The CLI takes the version from this machine's clock (UTC). When that does not sort after the newest file
    (a clock behind a teammate's, files from another time zone), the file is renamed to the second after the
    newest: otherwise the next push would refuse it as out of order. When no timestamp follows the newest
    file, nothing is created.
    """
    check_name(name)
    newest = max(discover(project.migrations_dir), key=lambda f: version_key(f.version), default=None)
    if newest is not None and not _sorts_after(_clock(), newest):
        _second_after(newest)  # refuses before the CLI makes a file
    path = cli.migration_new(name)
    version = path.name.split("_", 1)[0]
    if newest is None or _sorts_after(version, newest):
        return path
    try:
        after = _second_after(newest)
    except MigrationFileError:
        path.unlink(missing_ok=True)  # the clock went back to the newest file's second while the CLI ran
        raise
    moved = path.with_name(f"{after}_{path.name.split('_', 1)[1]}")
    path.rename(moved)
    return moved


_TIMESTAMP = "%Y%m%d%H%M%S"


def _clock() -> str:
    """The version `supabase migration new` would take now."""
    return datetime.now(UTC).strftime(_TIMESTAMP)


def _sorts_after(version: str, newest: MigrationFile) -> bool:
    return version_key(version) > version_key(newest.version)


def _second_after(newest: MigrationFile) -> str:
    """The timestamp version one second after the newest file's; MigrationFileError when there is none."""
    try:
        after = (datetime.strptime(newest.version, _TIMESTAMP) + timedelta(seconds=1)).strftime(_TIMESTAMP)
    except (ValueError, OverflowError):
        after = ""
    if not _sorts_after(after, newest):
        raise MigrationFileError(
            [
                f"no timestamp version comes after {newest.filename} (this machine's clock gives {_clock()}, "
                "and the CLI orders versions as strings): no file was created; create the file by hand with a "
                "version that sorts after it"
            ]
        )
    return after


def reset(project: Project, env: Environment, cli: SupabaseCli, *, on_line: LineSink = discard) -> PushResult | None:
    """Rebuild a local database from empty: Supabase's base, every migration, then the seed."""
    if env.name != "local" or not env.url.is_loopback:
        raise ConfigError(
            f"db.reset only resets the local database on this machine; refusing {env.name} ({env.url.where})"
        )
    discover(project.migrations_dir)
    if recorded_backend(project) == "docker":
        run_docker(cli, ["db", "reset"], on_line)
        return None
    recreate_database(env.url, extra_sql=setup_sql(project))
    seed = project.seed_file.is_file()
    # Reset replays files that were linted when they were first pushed.
    return push(project, env, cli, include_all=True, include_seed=seed, lint=False, on_line=on_line)


def repair(
    project: Project,
    env: Environment,
    cli: SupabaseCli,
    versions: Sequence[str],
    status: str,
    *,
    on_line: LineSink = discard,
) -> None:
    """`supabase migration repair`, under the push lock, keeping the checksum ledger in step."""
    if status not in REPAIR_STATUSES:
        raise ConfigError(f"unknown status {status!r}: use applied or reverted")
    if not versions or not all(v.isdigit() for v in versions):
        raise ConfigError("--version takes migration versions (digits), comma-separated")
    files = {f.version: f for f in discover(project.migrations_dir)}
    if status == "applied":
        missing = [v for v in versions if v not in files]
        if missing:
            raise ConfigError(f"no migration file for version(s) {', '.join(missing)}")
    refuse_transaction_pooler(env.url)
    with push_lock(env.url, wait_seconds=Limits.of(env.settings).lock_wait) as conn:
        ledger.ensure(conn)
        if status == "reverted":
            # The CLI "reverts" a version that was never applied without a word: a mistyped version
            # would be reported as done while the one meant stays applied.
            applied = {m.version for m in applied_migrations(conn)}
            unknown = [v for v in versions if v not in applied]
            if unknown:
                raise HistoryConflict(
                    f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not applied on {env.name}: "
                    "nothing was marked reverted (`invoke db.status` lists what is applied)"
                )
        cli.repair(env.url, versions, status)
        if status == "applied":
            ledger.record(conn, [files[v] for v in versions], "repair")
        else:
            ledger.forget(conn, versions)
