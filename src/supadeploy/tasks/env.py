"""env.*: promotion of the schema from one environment to the next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from supadeploy.errors import PromotionFailed
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
    from supadeploy.errors import StepReport


def _summary(report: StepReport) -> None:
    path = process().step_summary
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
    """Promote migrations: gates, plan, backup of the target, push, verify, record (and a GitHub step summary).

    A target already at the source's history is left alone: no prompt, no backup, nothing recorded.
    """
    from supadeploy import promotion
    from supadeploy.environments import confirm

    proj = project()
    source = environment(proj, from_)
    target = environment(proj, to)
    supabase = cli(proj)
    plan = promotion.plan(proj, source, target, supabase)
    err.print(
        f"promotion {source} -> {target}: {len(plan.to_apply)} migration(s) to apply: "
        f"{', '.join(plan.to_apply) or 'none'}"
    )
    if plan.to_apply:  # nothing to confirm when nothing will change
        confirm(target, action=f"promote {len(plan.to_apply)} migration(s)", yes=yes, interactive=interactive())
    try:
        report = promotion.promote(
            proj,
            plan,
            source,
            target,
            supabase,
            process=process(),
            backup_folder=backup_dir or None,
            on_step=lambda line: err.print(f"  {line}", markup=False),
            on_line=echo_cli,
        )
    except PromotionFailed as failed:
        _summary(failed.report)
        if json:
            print_json(failed.report.as_dict())
        raise PromotionFailed(f"promotion failed: {failed}", failed.report) from None
    _summary(report)
    if json:
        print_json(report.as_dict())
    elif report.outcome == promotion.UP_TO_DATE:
        out.print(
            f"{target.name} is up to date with {source.name}: nothing to promote (no backup taken, nothing recorded)"
        )
    else:
        out.print(
            f"promoted {source.name} -> {target.name}: applied {len(report.applied)} migration(s); "
            f"backup {report.backup.file if report.backup else '-'}"
        )
