"""env.*: promotion of the schema from one environment to the next."""

from __future__ import annotations

import os

from invoke import task
from invoke.context import Context
from invoke.exceptions import Exit

from supadeploy import environments, promotion
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


def _summary(report: promotion.PromotionReport) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(report.markdown())


@task(
    help={
        "from_": "Source environment whose history the target should match (e.g. staging).",
        "to": "Target environment (e.g. production).",
        "yes": "Confirm a protected target without a prompt (required when stdin is not a terminal).",
        "backup_dir": "Folder for the target's pre-promotion backup (default .supadeploy/backups).",
        "json": "Print the promotion report as JSON on stdout.",
    }
)
@reports_errors
def promote(c: Context, from_: str, to: str, yes: bool = False, backup_dir: str = "", json: bool = False) -> None:
    """Promote migrations: gates, plan, backup of the target, push, verify, record (and a GitHub step summary)."""
    proj = project()
    source = environment(proj, from_)
    target = environment(proj, to)
    supabase = cli(proj)
    plan = promotion.plan(proj, source, target, supabase)
    err.print(
        f"promotion {source} -> {target}: {len(plan.to_apply)} migration(s) to apply: "
        f"{', '.join(plan.to_apply) or 'none'}"
    )
    environments.confirm(
        target, action=f"promote {len(plan.to_apply)} migration(s)", yes=yes, interactive=interactive()
    )
    try:
        report = promotion.promote(
            proj,
            source,
            target,
            supabase,
            backup_folder=backup_dir or None,
            on_step=lambda line: err.print(f"  {line}", markup=False),
            on_line=echo_cli,
        )
    except promotion.PromotionFailed as failed:
        _summary(failed.report)
        if json:
            print_json(failed.report.as_dict())
        raise Exit(f"error: promotion failed: {failed}", code=1) from None
    _summary(report)
    if json:
        print_json(report.as_dict())
    else:
        out.print(
            f"promoted {source.name} -> {target.name}: applied {len(report.applied)} migration(s); "
            f"backup {report.backup.file if report.backup else '-'}"
        )
