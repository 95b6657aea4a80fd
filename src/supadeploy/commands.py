"""What the tasks do, as plain functions over a project, an environment and the CLI (no Invoke here)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from supadeploy import environments, ledger, validation
from supadeploy import lint as migration_lint
from supadeploy.database import (
    AppliedMigration,
    applied_migrations,
    connect,
    push_lock,
    refuse_transaction_pooler,
    version_key,
)
from supadeploy.environments import Environment
from supadeploy.errors import ConfigError, PushFailed, SupadeployError
from supadeploy.local_backend import recorded_backend, recreate_database, run_docker, setup_sql
from supadeploy.migrations import MigrationFile, check_name, discover
from supadeploy.project import Project
from supadeploy.supabase_cli import LineSink, SupabaseCli, discard


@dataclass(frozen=True)
class PushPlan:
    """What a push would do, computed before the CLI is run."""

    env: str
    pending: tuple[MigrationFile, ...]
    out_of_order: tuple[MigrationFile, ...]
    remote_only: tuple[str, ...]


@dataclass(frozen=True)
class PushResult:
    """What a push did, and the lint warnings on what it pushed."""

    plan: PushPlan
    applied: tuple[str, ...]
    dry_run: bool
    warnings: tuple[migration_lint.Finding, ...] = ()
    validation: tuple[validation.FileCheck, ...] = ()


def plan_push(files: Sequence[MigrationFile], applied: Sequence[AppliedMigration], env: str) -> PushPlan:
    """Pending files, those older than the newest applied one, and versions the files no longer have."""
    done = {m.version for m in applied}
    local = {f.version for f in files}
    newest = max((version_key(v) for v in done), default=None)
    pending = tuple(f for f in files if f.version not in done)
    out_of_order = tuple(f for f in pending if newest is not None and version_key(f.version) < newest)
    remote_only = tuple(sorted(done - local, key=version_key))
    return PushPlan(env, pending, out_of_order, remote_only)


@dataclass(frozen=True)
class Rails:
    """How a push behaves on a target: lock wait, timeouts on the CLI's connection, retries."""

    lock_wait: float = 600.0
    lock_timeout: str = "5s"
    statement_timeout: str = "15min"
    retries: int = 3
    backoff: float = 2.0

    @classmethod
    def of(cls, env: Environment) -> Rails:
        """Read SUPADEPLOY_LOCK_WAIT, _LOCK_TIMEOUT, _STATEMENT_TIMEOUT and _LOCK_RETRIES from the environment."""
        s = env.settings
        try:
            return cls(
                lock_wait=float(s.get("SUPADEPLOY_LOCK_WAIT", cls.lock_wait)),
                lock_timeout=s.get("SUPADEPLOY_LOCK_TIMEOUT", cls.lock_timeout),
                statement_timeout=s.get("SUPADEPLOY_STATEMENT_TIMEOUT", cls.statement_timeout),
                retries=int(s.get("SUPADEPLOY_LOCK_RETRIES", cls.retries)),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid push setting for {env.name}: {exc}") from None

    def session_settings(self, env: Environment) -> dict[str, str] | None:
        """Timeouts for the CLI's connection: protected environments only."""
        if not env.protected:
            return None
        return {"lock_timeout": self.lock_timeout, "statement_timeout": self.statement_timeout}


def _checked_plan(
    conn: psycopg.Connection, files: Sequence[MigrationFile], env: Environment, *, include_all: bool, write: bool
) -> PushPlan:
    applied = applied_migrations(conn)
    recorded = ledger.checksums(conn)
    ledger.refuse_changed(env.name, ledger.verify(conn if write else None, files, applied, recorded))
    plan = plan_push(files, applied, env.name)
    if plan.remote_only:
        raise SupadeployError(
            f"{env.name} has applied versions with no local file: {', '.join(plan.remote_only)}; "
            "pull the missing files or mark them reverted with `invoke db.repair`"
        )
    if plan.out_of_order and not include_all:
        names = ", ".join(f.filename for f in plan.out_of_order)
        raise SupadeployError(
            f"{names} {'is' if len(plan.out_of_order) == 1 else 'are'} older than the newest migration "
            f"applied on {env.name}; rename to a newer version, or pass --include-all to apply out of order"
        )
    return plan


def _lint(project: Project, plan: PushPlan) -> tuple[migration_lint.Finding, ...]:
    findings = migration_lint.lint(project, [f.path for f in plan.pending])
    if migration_lint.errors(findings):
        raise migration_lint.LintFailed(findings)
    return tuple(findings)


def push(
    project: Project,
    env: Environment,
    cli: SupabaseCli,
    *,
    dry_run: bool = False,
    include_all: bool = False,
    include_seed: bool = False,
    lint: bool = True,
    rails: Rails | None = None,
    on_line: LineSink = discard,
) -> PushResult:
    """Push pending migrations with every rail on.

    Under the target's advisory lock: verify applied files against their checksums, plan, lint,
    run `supabase db push` (timeouts on protected targets, lock timeouts retried), record checksums.
    """
    rails = rails or Rails.of(env)
    files = discover(project.migrations_dir)
    refuse_transaction_pooler(env.url)
    if dry_run:
        with connect(env.url) as conn:
            plan = _checked_plan(conn, files, env, include_all=include_all, write=False)
        warnings = _lint(project, plan) if lint and plan.pending else ()
        checks = validation.validate(project, env, cli, plan.pending, on_line=on_line) if plan.pending else ()
        return PushResult(plan, (), dry_run=True, warnings=warnings, validation=tuple(checks))
    with push_lock(env.url, wait_seconds=rails.lock_wait) as conn:
        ledger.ensure(conn)
        plan = _checked_plan(conn, files, env, include_all=include_all, write=True)
        if not plan.pending and not include_seed:
            return PushResult(plan, (), dry_run=False)
        warnings = _lint(project, plan) if lint and plan.pending else ()
        applied_files = _cli_push(cli, env, rails, include_all=include_all, include_seed=include_seed, on_line=on_line)
        now_applied = {m.version for m in applied_migrations(conn)}
        ledger.record(conn, [f for f in plan.pending if f.version in now_applied], "push")
    return PushResult(plan, applied_files, dry_run=False, warnings=warnings)


def _cli_push(
    cli: SupabaseCli, env: Environment, rails: Rails, *, include_all: bool, include_seed: bool, on_line: LineSink
) -> tuple[str, ...]:
    """The CLI push, retried with backoff when a statement gave up waiting for a lock (SQLSTATE 55P03)."""
    applied: list[str] = []
    attempt = 0
    while True:
        try:
            applied += cli.push(
                env.url,
                include_all=include_all,
                include_seed=include_seed,
                on_line=on_line,
                session_settings=rails.session_settings(env),
            )
            return tuple(applied)
        except PushFailed as failure:
            applied += failure.applied
            if "55P03" not in failure.detail or attempt >= rails.retries:
                raise
            attempt += 1
            wait = rails.backoff**attempt
            on_line(f"lock timeout in {failure.file}: retry {attempt}/{rails.retries} in {wait:.0f}s")
            time.sleep(wait)


def files_to_lint(project: Project, env: Environment | None) -> list[MigrationFile]:
    """Every migration file, or only those not yet applied on `env`."""
    files = discover(project.migrations_dir)
    if env is None:
        return files
    with connect(env.url) as conn:
        applied = applied_migrations(conn)
    return list(plan_push(files, applied, env.name).pending)


@dataclass(frozen=True)
class EnvHistory:
    """One environment's applied history, or why it could not be read."""

    name: str
    url: str
    applied: Mapping[str, str | None] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class StatusRow:
    """One version: its local file (if any) and whether each environment has applied it."""

    version: str
    name: str
    local: bool
    applied: Mapping[str, bool | None]


@dataclass(frozen=True)
class Status:
    """Local files against each environment's history."""

    environments: tuple[EnvHistory, ...]
    rows: tuple[StatusRow, ...]

    @property
    def ok(self) -> bool:
        """False when an environment could not be read."""
        return all(e.error is None for e in self.environments)

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "environments": [
                {"name": e.name, "url": e.url, "reachable": e.error is None, "error": e.error}
                for e in self.environments
            ],
            "migrations": [
                {"version": r.version, "name": r.name, "local": r.local, "applied": dict(r.applied)} for r in self.rows
            ],
        }


def _history(env: Environment | ConfigError, name: str) -> EnvHistory:
    if isinstance(env, ConfigError):
        return EnvHistory(name, "", error=str(env))
    try:
        with connect(env.url, timeout=5) as conn:
            return EnvHistory(name, env.url.masked, {m.version: m.name for m in applied_migrations(conn)})
    except SupadeployError as exc:
        return EnvHistory(name, env.url.masked, error=str(exc))


def status(project: Project, names: Sequence[str], environ: Mapping[str, str] | None = None) -> Status:
    """Every local file against each named environment's history, read concurrently."""
    files = discover(project.migrations_dir)
    resolved: list[Environment | ConfigError] = []
    for name in names:
        try:
            resolved.append(environments.resolve(project, name, environ))
        except ConfigError as exc:
            resolved.append(exc)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        histories = tuple(pool.map(_history, resolved, names))
    names_by_version = {f.version: f.name for f in files}
    for history in histories:
        for version, name in history.applied.items():
            names_by_version.setdefault(version, name or "")
    local = {f.version for f in files}
    rows = []
    for version in sorted(names_by_version, key=version_key):
        applied = {h.name: (None if h.error else version in h.applied) for h in histories}
        rows.append(StatusRow(version, names_by_version[version], version in local, applied))
    return Status(histories, tuple(rows))


def new_migration(project: Project, cli: SupabaseCli, name: str) -> Path:
    """Create supabase/migrations/<timestamp>_<name>.sql through the CLI."""
    check_name(name)
    discover(project.migrations_dir)
    return cli.migration_new(name)


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
    if status not in ("applied", "reverted"):
        raise ConfigError(f"unknown status {status!r}: use applied or reverted")
    if not versions or not all(v.isdigit() for v in versions):
        raise ConfigError("--version takes migration versions (digits), comma-separated")
    files = {f.version: f for f in discover(project.migrations_dir)}
    if status == "applied":
        missing = [v for v in versions if v not in files]
        if missing:
            raise ConfigError(f"no migration file for version(s) {', '.join(missing)}")
    refuse_transaction_pooler(env.url)
    with push_lock(env.url, wait_seconds=Rails.of(env).lock_wait) as conn:
        ledger.ensure(conn)
        cli.repair(env.url, versions, status)
        if status == "applied":
            ledger.record(conn, [files[v] for v in versions], "repair")
        else:
            ledger.forget(conn, versions)
