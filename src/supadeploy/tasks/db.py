"""db.*: migration files and the databases they are pushed to."""

from __future__ import annotations

from invoke import task
from invoke.context import Context
from invoke.exceptions import Exit
from rich.table import Table

from supadeploy import checks, commands, environments
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
        out.print(f"dry run: {len(result.plan.pending)} migration(s) would be applied to {target.name}:")
        for file in result.plan.pending:
            out.print(f"  {file.filename}")
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
    }
)
@reports_errors
def lint(c: Context, env: str = "", json: bool = False) -> None:
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
