"""db.*: migration files and the databases they are pushed to."""

from __future__ import annotations

from pathlib import Path

from invoke import task
from invoke.context import Context
from invoke.exceptions import Exit
from rich.table import Table

from supadeploy import backups, checks, commands, db_lint, environments, validation
from supadeploy import drift as schema_drift
from supadeploy import lint as migration_lint
from supadeploy.tasks.boundary import (
    cli,
    echo_cli,
    environment,
    err,
    interactive,
    out,
    print_json,
    project,
    reports_errors,
)

ENV_HELP = "Environment: local (default), staging, production or any NAME with a .env.NAME file."


@task(help={"name": "Migration name: lowercase letters, digits and _ (e.g. add_teams)."})
@reports_errors
def new(c: Context, name: str) -> None:
    """Create supabase/migrations/<timestamp>_<name>.sql (wraps `supabase migration new`)."""
    proj = project()
    path = commands.new_migration(proj, cli(proj), name)
    out.print(f"created {path.relative_to(proj.root)}")


@task(
    help={
        "env": ENV_HELP,
        "dry_run": "List what would be applied; change nothing.",
        "include_all": "Also apply files older than the newest applied migration.",
        "yes": "Confirm a protected environment without a prompt (required when stdin is not a terminal).",
        "skip_lint": "Push without linting the pending files first (printed, never silent).",
    }
)
@reports_errors
def push(
    c: Context,
    env: str = "local",
    dry_run: bool = False,
    include_all: bool = False,
    yes: bool = False,
    skip_lint: bool = False,
) -> None:
    """Lint and apply pending migrations to an environment (wraps `supabase db push`)."""
    proj = project()
    target = environment(proj, env)
    supabase = cli(proj)
    if not dry_run:
        environments.confirm(target, action="push migrations", yes=yes, interactive=interactive())
    out.print(f"pushing to {target}")
    if skip_lint:
        err.print("lint skipped (--skip-lint): pending files were not checked", style="yellow")
    result = commands.push(
        proj, target, supabase, dry_run=dry_run, include_all=include_all, lint=not skip_lint, on_line=echo_cli
    )
    show_findings(result.warnings)
    if not result.plan.pending:
        out.print(f"{target.name} is up to date: nothing to push")
    elif dry_run:
        out.print(f"dry run on {target.name} ({result.validation[0].method if result.validation else 'none'}):")
        marks = {True: "[green]would apply[/green]", False: "[red]would FAIL[/red]", None: "[yellow]not tried[/yellow]"}
        for check in result.validation:
            out.print(f"  {marks[check.ok]}  {check.filename}: {check.reason}")
        validation.refuse_failures(result.validation)
    else:
        out.print(f"applied {len(result.applied)} migration(s) to {target.name}")


@task(
    help={
        "env": "Environment to compare, or `all` for every known environment (default: local).",
        "json": "Print JSON instead of a table.",
    }
)
@reports_errors
def status(c: Context, env: str = "local", json: bool = False) -> None:
    """Show every migration file against each environment's applied history."""
    proj = project()
    report = commands.status(proj, environments.expand(proj, env))
    if json:
        print_json(report.as_dict())
    else:
        table = Table(title="migrations", show_lines=False)
        table.add_column("version")
        table.add_column("name")
        table.add_column("file")
        for history in report.environments:
            table.add_column(history.name)
        marks = {True: "[green]applied[/green]", False: "[yellow]pending[/yellow]", None: "[red]?[/red]"}
        for row in report.rows:
            cells = [marks[row.applied[h.name]] for h in report.environments]
            table.add_row(row.version, row.name, "yes" if row.local else "[red]missing[/red]", *cells)
        out.print(table)
        for history in report.environments:
            state = f"[red]{history.error}[/red]" if history.error else history.url
            out.print(f"{history.name}: {state}")
    if not report.ok:
        failed = ", ".join(h.name for h in report.environments if h.error)
        raise Exit(f"error: could not read the history of: {failed}", code=1)


@task(help={"env": "Must be local: any other environment is refused."})
@reports_errors
def reset(c: Context, env: str = "local") -> None:
    """Rebuild the local database from empty: Supabase's base schema, every migration, then seed.sql."""
    proj = project()
    target = environment(proj, env)
    out.print(f"resetting {target}")
    result = commands.reset(proj, target, cli(proj), on_line=echo_cli)
    applied = len(result.applied) if result else "all"
    out.print(f"reset done: {applied} migration(s) applied")


@task(help={"env": "Environment to test (default: local); protected environments are refused."})
@reports_errors
def test(c: Context, env: str = "local") -> None:
    """Run the pgTAP suite in supabase/tests with pg_prove (what `supabase test db` runs, without Docker)."""
    proj = project()
    target = environment(proj, env)
    out.print(f"pgTAP on {target}")
    checks.pgtap(proj, target, on_line=echo_cli)
    out.print("pgTAP: all tests passed")


@task(
    help={
        "env": ENV_HELP,
        "level": "Fail on findings at or above this level: info, warn (default) or error.",
        "type": "Advisors to run: all (default), security or performance.",
        "json": "Print JSON instead of a table.",
    }
)
@reports_errors
def advisors(c: Context, env: str = "local", level: str = "warn", type: str = "all", json: bool = False) -> None:
    """Run Supabase's security and performance advisors; exit non-zero on findings at or above --level."""
    checks.check_level(level)
    proj = project()
    target = environment(proj, env)
    findings = checks.advisors(cli(proj), target, kind=type)
    failing = checks.at_or_above(findings, level)
    if json:
        print_json(
            {"env": target.name, "level": level, "findings": [f.as_dict() for f in findings], "failing": len(failing)}
        )
    else:
        table = Table(title=f"advisors on {target.name}")
        for column in ("level", "name", "detail"):
            table.add_column(column)
        styles = {"error": "red", "warn": "yellow", "info": "dim"}
        for finding in failing:
            table.add_row(f"[{styles[finding.level]}]{finding.level.upper()}[/]", finding.name, finding.detail)
        if failing:
            out.print(table)
        counts = {lvl: sum(f.level == lvl for f in findings) for lvl in checks.LEVELS}
        out.print(f"{counts['error']} error, {counts['warn']} warn, {counts['info']} info (shown: {level} and up)")
    if failing:
        raise Exit(f"error: {len(failing)} advisor finding(s) at or above {level} on {target.name}", code=1)


def show_findings(findings: tuple[migration_lint.Finding, ...] | list[migration_lint.Finding]) -> None:
    """Print lint findings as a table (and as GitHub annotations inside Actions)."""
    if not findings:
        return
    if migration_lint.in_github_actions():
        for finding in findings:
            print(finding.annotation())
    table = Table(title="migration lint")
    for column in ("level", "where", "rule", "problem", "fix"):
        table.add_column(column)
    for f in findings:
        level = "[red]error[/red]" if f.level == "error" else "[yellow]warn[/yellow]"
        table.add_row(level, f"{f.file}:{f.line}", f.rule, f.message, f.fix)
    err.print(table)


@task(
    help={
        "env": "Lint only the files not yet applied on this environment (default: every migration file).",
        "json": "Print JSON instead of a table.",
        "db": "Also check the functions of the --env database (default local) with plpgsql_check, as "
        "`supabase db lint` does: warnings are shown, errors fail.",
    }
)
@reports_errors
def lint(c: Context, env: str = "", json: bool = False, db: bool = False) -> None:
    """Lint migration files: squawk plus Supabase rules (RLS, SECURITY DEFINER, grants, policies, transactions).

    Rules: rls-not-enabled, security-definer-search-path, security-definer-exposed, anon-write-grant,
    policy-without-roles, policy-per-row-call, transaction-control, concurrently-not-alone,
    enum-value-not-alone, plus squawk's. Suppress one statement with the comment line
    `-- supadeploy-ignore <rule>: <reason>` directly above it (`supadeploy-ignore-file` for the file).
    """
    proj = project()
    target = environment(proj, env) if env else None
    files = commands.files_to_lint(proj, target)
    findings = migration_lint.lint(proj, [f.path for f in files])
    if db:
        findings += [i.as_finding() for i in db_lint.lint_functions((target or environment(proj, "local")).url)]
    failing = migration_lint.errors(findings)
    if json:
        print_json(
            {"files": [f.filename for f in files], "findings": [f.as_dict() for f in findings], "errors": len(failing)}
        )
    else:
        show_findings(findings)
        scope = f"pending on {target.name}" if target else "in supabase/migrations"
        out.print(
            f"linted {len(files)} file(s) {scope}: {len(failing)} error(s), {len(findings) - len(failing)} warning(s)"
        )
    if failing:
        raise Exit(f"error: {len(failing)} lint error(s)", code=1)


@task(
    help={
        "env": ENV_HELP,
        "version": "Migration version(s) to repair, comma-separated.",
        "status": "applied (record the current file as applied, accepting its checksum) or reverted.",
        "yes": "Confirm a protected environment without a prompt.",
    }
)
@reports_errors
def repair(c: Context, version: str, env: str = "local", status: str = "applied", yes: bool = False) -> None:
    """Mark versions applied or reverted in the history (wraps `supabase migration repair`) and fix checksums."""
    proj = project()
    target = environment(proj, env)
    versions = [v.strip() for v in version.split(",") if v.strip()]
    environments.confirm(target, action=f"repair history ({status})", yes=yes, interactive=interactive())
    commands.repair(proj, target, cli(proj), versions, status, on_line=echo_cli)
    out.print(f"{target.name}: {', '.join(versions)} marked {status}")


@task(help={"env": ENV_HELP, "backup_dir": "Folder for the dump and its manifest (default .supadeploy/backups)."})
@reports_errors
def backup(c: Context, env: str = "local", backup_dir: str = "") -> None:
    """Back up an environment with pg_dump (custom format), verified with pg_restore --list, with a manifest."""
    proj = project()
    target = environment(proj, env)
    manifest = backups.backup(proj, target, folder=backup_dir or None)
    out.print(f"backup of {target.name}: {manifest.file} ({manifest.bytes} bytes, {manifest.entries} entries)")


@task(
    name="restore",
    help={
        "env": "Environment to restore into (default local; any other needs --yes and its confirmation).",
        "from_": "The .dump file written by db.backup or env.promote.",
        "yes": "Required for any environment but local.",
    },
)
@reports_errors
def restore(c: Context, from_: str, env: str = "local", yes: bool = False) -> None:
    """Restore a backup into an environment (pg_restore --clean --if-exists, one transaction)."""
    proj = project()
    target = environment(proj, env)
    if target.name != "local":
        if not yes:
            raise Exit(f"error: restoring into {target.name} replaces its data: pass --yes", code=1)
        if target.protected and interactive():
            # --yes allows the restore; a person at a terminal still types a protected environment's name.
            environments.confirm(target, action="restore a backup", yes=False, interactive=True)
    backups.restore(target, Path(from_))
    out.print(f"restored {Path(from_).name} into {target.name}")


@task(
    help={
        "env": ENV_HELP,
        "scratch_url": "Server for the scratch database (default $SUPADEPLOY_SCRATCH_URL, else local's server).",
        "json": "Print JSON instead of text.",
    }
)
@reports_errors
def drift(c: Context, env: str = "local", scratch_url: str = "", json: bool = False) -> None:
    """Compare an environment's live schema with what its applied migrations build; non-zero exit on drift."""
    proj = project()
    target = environment(proj, env)
    differences = schema_drift.drift(proj, target, cli(proj), scratch_url=scratch_url or None)
    if json:
        print_json({"env": target.name, "drift": [d.as_dict() for d in differences]})
    else:
        for difference in differences:
            out.print(difference.describe(), markup=False)
        out.print(f"{target.name}: {len(differences)} difference(s) from its migrations")
    if differences:
        raise Exit(f"error: {target.name} has drifted from its migrations ({len(differences)} difference(s))", code=1)
