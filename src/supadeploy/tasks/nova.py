"""nova.*: bring Nova's data (Neon, Prisma layout) into the merged Supabase schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from supadeploy.app import DEFAULT_BATCH_ROWS
from supadeploy.errors import ConfigError, NovaImportError
from supadeploy.tasks.boundary import environment, err, interactive, out, print_json, project, reports_errors

if TYPE_CHECKING:
    from rich.progress import Progress

    from supadeploy.app.nova import ImportReport


class _Bar:
    """nova.Progress drawn with rich on stderr, one bar per step."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: object | None = None

    def start(self, label: str, total: int) -> None:
        self._task = self._progress.add_task(label, total=total)

    def advance(self, rows: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, rows)  # type: ignore[arg-type]


@contextmanager
def _bars() -> Iterator[_Bar]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err.console,
        transient=False,
    ) as progress:
        yield _Bar(progress)


def _print(report: ImportReport) -> None:
    from rich.table import Table

    what = "dry run, rolled back: nothing was written" if report.dry_run else "imported"
    table = Table(title=f"Nova → {report.target} ({what}, {report.seconds}s)")
    for column in ("table", "in Nova", "inserted", "updated", "unchanged", "skipped", "in target"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for t in report.tables:
        counts = (t.source_rows, t.inserted, t.updated, t.unchanged, sum(t.skipped.values()), t.target_rows)
        table.add_row(t.table, *(str(n) for n in counts))
    out.print(table)
    for t in report.tables:
        for reason, count in t.skipped.items():
            out.print(f"  skipped {count} {t.source_table}: {reason}")
    users = report.users
    if users.get("unmatched"):
        out.print(f"users without a Supabase account ({users['unmatched_count']}): {', '.join(users['unmatched'])}")
    for merged in users.get("same_email_different_case", []):
        out.print(f"one Supabase user for Nova users {', '.join(merged['nova_ids'])} ({merged['email']})")
    for model, ids in report.orphans.items():
        out.print(f'orphans in "{model}": {", ".join(ids)}')
    for owner in report.owners_assigned:
        out.print(f"team {owner['team']!r} had no owner in Nova: {owner['owner']} is now its owner")
    for lonely in report.teams_without_members:
        out.print(f"team {lonely['team']!r} ({lonely['team_id']}) has no members: assign an owner")
    for team in report.reissue_tokens:
        out.print(
            f"team {team['team']!r} ({team['team_id']}) must re-issue: {', '.join(team['tokens'])} "
            "(imported revoked; invoke tokens.create)"
        )


@task(
    name="import",
    help={
        "env": "Environment to import into (default local).",
        "from_url": "Nova's Postgres URL (default $NOVA_DATABASE_URL, from .env files or the process: off argv).",
        "schema": "Schema holding Nova's Prisma tables (default public).",
        "dry_run": "Do everything in a transaction that is rolled back, and print the same report.",
        "create_users": "Create Supabase users for unmatched Nova emails (Auth admin API on a Supabase project).",
        "batch_rows": f"Rows per upsert transaction (default {DEFAULT_BATCH_ROWS}).",
        "json": "Print the report as JSON on stdout (progress stays on stderr).",
        "yes": "Confirm a protected environment without a prompt.",
    },
)
@reports_errors
def import_(
    c: Context,
    env: str = "local",
    from_url: str = "",
    schema: str = "public",
    dry_run: bool = False,
    create_users: bool = False,
    batch_rows: str = str(DEFAULT_BATCH_ROWS),  # parsed here: invoke's own int() would end in a traceback
    json: bool = False,
    yes: bool = False,
) -> None:
    """Import Nova's users, teams, members, projects, deployments and tokens; rerunning changes nothing."""
    from supadeploy.app import nova
    from supadeploy.dburl import DbUrl
    from supadeploy.environments import confirm
    from supadeploy.settings import NOVA_URL

    if not batch_rows.strip().isdigit() or int(batch_rows) < 1:
        raise ConfigError(f"--batch-rows takes a whole number of rows, at least 1 (got {batch_rows!r})")
    proj = project()
    target = environment(proj, env)
    source = DbUrl.parse(from_url, "--from-url") if from_url else target.settings.nova_url
    if source is None:
        raise ConfigError(f"no Nova database: pass --from-url or set {NOVA_URL}")
    if not dry_run:
        confirm(target, action="import Nova's data", yes=yes, interactive=interactive())
    api_url, key = target.settings.api_url, target.settings.secret_key
    admin = nova.gotrue_admin(api_url, key) if api_url and key else None
    err.print(f"importing Nova {source.masked} into {target}" + (" (dry run)" if dry_run else ""))
    with _bars() as bar:
        report = nova.run_import(
            source,
            target.url,
            target.name,
            schema=schema,
            dry_run=dry_run,
            create_users=create_users,
            auth_admin=admin,
            batch_rows=int(batch_rows),
            progress=bar,
            lock_wait=target.settings.lock_wait,
        )
    if json:
        print_json(report.as_dict())
    else:
        _print(report)
    if not report.balanced:
        raise NovaImportError("the reconciliation does not balance (see the table)")
