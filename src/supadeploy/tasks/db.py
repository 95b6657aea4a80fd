"""db.*: migration files and the databases they are pushed to.

Each task imports the library modules it uses inside its body: `invoke --list` imports none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from supadeploy.errors import ChecksFailed
from supadeploy.tasks.boundary import (
    cli,
    echo_cli,
    environment,
    err,
    interactive,
    out,
    print_json,
    process,
    project,
    reports_errors,
)

if TYPE_CHECKING:
    from supadeploy.lint import Finding

ENV_HELP = "Environment: local (default), staging, production or any NAME with a .env.NAME file."


@task(help={"name": "Migration name: lowercase letters, digits and _ (e.g. add_teams)."})
@reports_errors
def new(c: Context, name: str) -> None:
    """Create supabase/migrations/<timestamp>_<name>.sql after the newest file (wraps `supabase migration new`)."""
    from supadeploy.maintenance import new_migration

    proj = project()
    path = new_migration(proj, cli(proj), name)
    out.print(f"created {path.relative_to(proj.root)}")


@task(
    help={
        "env": ENV_HELP,
        "dry_run": "Apply the pending files to a copy on this machine (never the target) and say per file whether "
        "each would succeed.",
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
    from supadeploy import push as pipeline
    from supadeploy.environments import confirm

    proj = project()
    target = environment(proj, env)
    supabase = cli(proj)
    if not dry_run:
        confirm(target, action="push migrations", yes=yes, interactive=interactive())
    out.print(f"pushing to {target}")
    if skip_lint:
        err.print("lint skipped (--skip-lint): pending files were not checked", style="yellow")
    result = pipeline.push(
        proj, target, supabase, dry_run=dry_run, include_all=include_all, lint=not skip_lint, on_line=echo_cli
    )
    show_findings(result.warnings)
    if not result.plan.pending:
        out.print(f"{target.name} is up to date: nothing to push")
    elif dry_run:
        from supadeploy.dry_run import refuse_failures

        out.print(f"dry run on {target.name} ({result.validation[0].method if result.validation else 'none'}):")
        marks = {True: "[green]would apply[/green]", False: "[red]would FAIL[/red]", None: "[yellow]not tried[/yellow]"}
        for check in result.validation:
            took = f" ({check.seconds:.2f}s)" if check.seconds is not None else ""
            out.print(f"  {marks[check.ok]}  {check.filename}: {check.reason}{took}")
        refuse_failures(result.validation)
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
    from supadeploy.environments import expand
    from supadeploy.status import status as read_status

    proj = project()
    report = read_status(proj, expand(proj, env))
    readable = [h for h in report.environments if h.error is None]
    if json:
        print_json(report.as_dict())
    else:
        from rich.table import Table

        # An unreadable environment gets no column (it would be all "?"), only its line below.
        table = Table(title="migrations", show_lines=False)
        table.add_column("version", no_wrap=True)
        table.add_column("name")
        table.add_column("file")
        for history in readable:
            table.add_column(history.name)
        marks = {True: "[green]applied[/green]", False: "[yellow]pending[/yellow]"}
        for row in report.rows:
            cells = [
                "[red]applied, file edited since[/red]" if h.name in row.edited else marks[bool(row.applied[h.name])]
                for h in readable
            ]
            table.add_row(row.version, row.name, "yes" if row.local else "[red]missing[/red]", *cells)
        out.print(table)
        for history in readable:
            out.print(f"{history.name}: {history.url}", markup=False)
        for history in report.environments:
            if history.error:
                err.print(f"{history.name}: cannot read its history: {history.error}", markup=False, style="red")
    if not report.ok:
        raise ChecksFailed(f"could not read the history of: {', '.join(report.unreadable)}")


@task(help={"env": "Must be local: any other environment is refused."})
@reports_errors
def reset(c: Context, env: str = "local") -> None:
    """Rebuild the local database from empty: Supabase's base schema, every migration, then seed.sql."""
    from supadeploy.maintenance import reset as rebuild

    proj = project()
    target = environment(proj, env)
    out.print(f"resetting {target}")
    result = rebuild(proj, target, cli(proj), on_line=echo_cli)
    applied = len(result.applied) if result else "all"
    out.print(f"reset done: {applied} migration(s) applied")


@task(help={"env": "Environment to test (default: local); protected environments are refused."})
@reports_errors
def test(c: Context, env: str = "local") -> None:
    """Run the pgTAP suite in supabase/tests with pg_prove (what `supabase test db` runs, without Docker)."""
    from supadeploy.pgtap import pgtap

    proj = project()
    target = environment(proj, env)
    out.print(f"pgTAP on {target}")
    pgtap(proj, target, on_line=echo_cli)
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
    from supadeploy import advisors as supabase_advisors

    supabase_advisors.check_level(level)
    proj = project()
    target = environment(proj, env)
    findings = supabase_advisors.advisors(cli(proj), target, kind=type)
    failing = supabase_advisors.at_or_above(findings, level)
    if json:
        print_json(
            {"env": target.name, "level": level, "findings": [f.as_dict() for f in findings], "failing": len(failing)}
        )
    else:
        from rich.table import Table

        table = Table(title=f"advisors on {target.name}")
        for column in ("level", "name", "detail"):
            table.add_column(column)
        styles = {"error": "red", "warn": "yellow", "info": "dim"}
        for finding in failing:
            table.add_row(f"[{styles[finding.level]}]{finding.level.upper()}[/]", finding.name, finding.detail)
        if failing:
            out.print(table)
        counts = {lvl: sum(f.level == lvl for f in findings) for lvl in supabase_advisors.LEVELS}
        out.print(f"{counts['error']} error, {counts['warn']} warn, {counts['info']} info (shown: {level} and up)")
    if failing:
        raise ChecksFailed(f"{len(failing)} advisor finding(s) at or above {level} on {target.name}")


def show_findings(findings: Sequence[Finding]) -> None:
    """Print lint findings as a table (and as GitHub annotations inside Actions)."""
    if not findings:
        return
    if process().github_actions:
        for finding in findings:
            print(finding.annotation())
    from rich.table import Table

    table = Table(title="migration lint")
    for column in ("level", "where", "rule", "problem", "fix"):
        table.add_column(column, no_wrap=column in ("where", "rule"))  # whole, so a log can be searched
    for f in findings:
        level = "[red]error[/red]" if f.level == "error" else "[yellow]warn[/yellow]"
        table.add_row(level, f"{f.file}:{f.line}", f.rule, f.message, f.fix)
    err.print(table)


@task(
    help={
        "env": "Lint only the files not yet applied on this environment (default: every migration file).",
        "json": "Print JSON instead of a table.",
        "fail_on": "Exit non-zero on findings at or above this level: error (default) or warn (warnings block too).",
        "db": "Also check the functions of the --env database (default local) with plpgsql_check, as "
        "`supabase db lint` does: warnings are shown, errors fail.",
    }
)
@reports_errors
def lint(c: Context, env: str = "", json: bool = False, fail_on: str = "error", db: bool = False) -> None:
    """Lint migration files: squawk plus Supabase rules (RLS, SECURITY DEFINER, grants, policies, transactions).

    Errors: rls-not-enabled, security-definer-search-path, security-definer-exposed,
    security-definer-anon-write, anon-write-grant, lock-table, transaction-control, concurrently-not-alone,
    enum-value-not-alone. Warnings: policy-without-roles, policy-per-row-call, function-executable-by-anon,
    api-grant-missing, plus squawk's. Suppress one statement with the comment line
    `-- supadeploy-ignore <rule>: <reason>` directly above it (`supadeploy-ignore-file` for the file).
    """
    from supadeploy import db_lint
    from supadeploy import lint as migration_lint
    from supadeploy.push import pending_files

    proj = project()
    target = environment(proj, env) if env else None
    fail_on = migration_lint.fail_on_level(fail_on)
    files = pending_files(proj, target)
    findings = migration_lint.lint(proj, [f.path for f in files])
    if db:
        findings += [i.as_finding() for i in db_lint.lint_functions((target or environment(proj, "local")).url)]
    failing = migration_lint.errors(findings)
    blocking = migration_lint.blocking(findings, fail_on)
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
        raise ChecksFailed(f"{len(failing)} lint error(s)")
    if blocking:
        raise ChecksFailed(f"{len(blocking)} lint finding(s) at or above {fail_on}")


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
    from supadeploy.environments import confirm
    from supadeploy.maintenance import repair as mend

    proj = project()
    target = environment(proj, env)
    versions = [v.strip() for v in version.split(",") if v.strip()]
    confirm(target, action=f"repair history ({status})", yes=yes, interactive=interactive())
    mend(proj, target, cli(proj), versions, status, on_line=echo_cli)
    out.print(f"{target.name}: {', '.join(versions)} marked {status}")


@task(help={"env": ENV_HELP, "backup_dir": "Folder for the dump and its manifest (default .supadeploy/backups)."})
@reports_errors
def backup(c: Context, env: str = "local", backup_dir: str = "") -> None:
    """Back up an environment with pg_dump (custom format), verified with pg_restore --list, with a manifest."""
    from supadeploy.backups import backup as dump

    proj = project()
    target = environment(proj, env)
    manifest = dump(proj, target, folder=backup_dir or None, process=process())
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
    """Give back a backup's point in time: the environment's own schemas dropped and restored, in one transaction."""
    from supadeploy.backups import restore as load_dump
    from supadeploy.environments import confirm_restore

    proj = project()
    target = environment(proj, env)
    confirm_restore(target, yes=yes, interactive=interactive())
    source = load_dump(target, Path(from_))
    taken_from = f" (a backup of {source})" if source and source != target.name else ""
    out.print(f"restored {Path(from_).name}{taken_from} into {target.name}")


@task(
    help={
        "env": ENV_HELP,
        "scratch_url": "Server for the scratch database (default $SUPADEPLOY_SCRATCH_URL, else the Docker-free "
        "cluster's shadow when the target is that local database, else local's server).",
        "json": "Print JSON instead of text.",
    }
)
@reports_errors
def drift(c: Context, env: str = "local", scratch_url: str = "", json: bool = False) -> None:
    """Compare an environment's live schema with what its applied migrations build; non-zero exit on drift."""
    from supadeploy.drift import drift as compare

    proj = project()
    target = environment(proj, env)
    differences = compare(proj, target, cli(proj), scratch_url=scratch_url or None)
    if json:
        print_json({"env": target.name, "drift": [d.as_dict() for d in differences]})
    else:
        for difference in differences:
            out.print(difference.describe(), markup=False)
        out.print(f"{target.name}: {len(differences)} difference(s) from its migrations")
    if differences:
        raise ChecksFailed(f"{target.name} has drifted from its migrations ({len(differences)} difference(s))")


@task(
    name="plan",
    help={
        "env": ENV_HELP,
        "markdown": "Print the report as Markdown, as posted on the pull request (the default).",
        "json": "Print the report as JSON instead.",
    },
)
@reports_errors
def plan_(c: Context, env: str = "local", markdown: bool = False, json: bool = False) -> None:
    """What the pending migrations would do: locks per statement, table sizes, risk, and whether they apply.

    The environment is only read (history, catalog statistics). The files are rehearsed on a copy of it
    where one can be made: then the report also has each file's time, the exposure delta for anon,
    authenticated, service_role and PUBLIC, new advisor findings and the pgTAP result. Exits 1 when a
    file fails, lint finds an error or pgTAP fails (the report is printed first).
    """
    import sys

    from supadeploy.errors import ConfigError
    from supadeploy.plan import build_plan

    if markdown and json:
        raise ConfigError("--markdown and --json exclude each other")
    proj = project()
    target = environment(proj, env)
    report = build_plan(proj, target, cli(proj), on_line=echo_cli)
    if json:
        print_json(report.as_dict())
    else:
        sys.stdout.write(report.markdown())
    if not report.ok:
        raise ChecksFailed(f"the plan for {target.name} found a blocking problem (see the report)")


@task(help={"env": ENV_HELP, "json": "Print a JSON list instead of one file name per line."})
@reports_errors
def pending(c: Context, env: str = "local", json: bool = False) -> None:
    """The migration files not yet applied on an environment, one per line (reads only its history)."""
    from supadeploy.push import pending_files

    proj = project()
    names = [f.filename for f in pending_files(proj, environment(proj, env))]
    if json:
        print_json(names)
    else:
        for name in names:
            print(name)
