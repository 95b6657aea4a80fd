"""fleet.*: one change promoted to many Supabase projects, wave by wave (supabase/fleet.toml)."""

from __future__ import annotations

import json as json_module
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from supadeploy.errors import ChecksFailed, ConfigError, FleetFailed
from supadeploy.tasks.boundary import (
    cli,
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
    from supadeploy.fleet import Fleet, Wave
    from supadeploy.rollout import BeforeStart

FROM_HELP = "Source environment whose history every target should match (default staging)."


def _summary(report: StepReport) -> None:
    path = process().step_summary
    if path:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(report.markdown())


def _chosen(fleet: Fleet, wave: str, target: str) -> list[str]:
    if wave and target:
        raise ConfigError("pass --wave or --target, not both")
    if target:
        fleet.wave_of(target)
        return [target]
    if wave:
        return list(fleet.wave(wave).targets)
    return list(fleet.targets)


def _progress(line: str) -> None:
    err.print(f"  {line}", markup=False)


@task(
    help={
        "from_": FROM_HELP,
        "wave": "Plan only this wave's targets.",
        "json": "Print the plan as JSON on stdout (waves, targets, refusals, drift, each wave job's matrix).",
        "matrix": "Print only the workflow's outputs (waves=N, wave<N>=<JSON>) from the file; no database is read.",
        "drift": "Compare each target's schema with what its applied files build (--no-drift skips it).",
        "scratch_url": "Server for drift's scratch databases (default $SUPADEPLOY_SCRATCH_URL, else the Docker-free "
        "cluster's shadow when local is that cluster, else local's server).",
    }
)
@reports_errors
def plan(
    c: Context,
    from_: str = "staging",
    wave: str = "",
    json: bool = False,
    matrix: bool = False,
    drift: bool = True,
    scratch_url: str = "",
) -> None:
    """What fleet.promote would do: waves, targets, pending versions, refusing gates, drift, the Actions matrix."""
    import os

    from supadeploy import fleet as fleet_file
    from supadeploy import rollout

    proj = project()
    fleet = fleet_file.load(proj)
    if matrix:
        for key, value in fleet.github_outputs().items():
            out.print(f"{key}={value}", markup=False)
        return
    names = _chosen(fleet, wave, "")
    source = environment(proj, from_)
    planned = rollout.plan_fleet(
        proj,
        fleet,
        source,
        cli(proj, quiet=json),
        names=names,
        environ=os.environ,
        with_drift=drift,
        scratch_url=scratch_url or None,
    )
    if json:
        print_json(planned.as_dict())
    else:
        out.print(f"{fleet.file}: {rollout.pending_summary(planned)}", markup=False)
        for chosen in fleet.waves:
            targets = planned.of(chosen)
            if not targets:
                continue
            out.print(
                f"wave {chosen.index} {chosen.name} (max_parallel {chosen.max_parallel}, "
                f"on_failure {chosen.on_failure})",
                markup=False,
            )
            for target in targets:
                out.print(f"  {target.summary()}", markup=False)
            out.print(f"  matrix: {json_module.dumps(chosen.job(), separators=(',', ':'))}", markup=False)
    if planned.refused:
        raise ChecksFailed(f"{len(planned.refused)} target(s) would be refused: {planned.refused[0].summary()}")


@task(
    help={
        "from_": "Source environment whose history every target gets (e.g. staging).",
        "wave": "Promote only this wave (every earlier wave must already be done).",
        "target": "Promote only this target (what each job of promote-fleet.yml runs).",
        "yes": "Confirm protected targets without a prompt (required when stdin is not a terminal).",
        "backup_dir": "Folder for each target's pre-promotion backup (default .supadeploy/backups).",
        "json": "Print the fleet report as JSON on stdout.",
    }
)
@reports_errors
def promote(
    c: Context,
    from_: str,
    wave: str = "",
    target: str = "",
    yes: bool = False,
    backup_dir: str = "",
    json: bool = False,
) -> None:
    """Promote to every target, wave by wave: env.promote's rails per target, max_parallel at once."""
    import os

    from supadeploy import fleet as fleet_file
    from supadeploy import rollout
    from supadeploy.environments import confirm_many

    proj = project()
    fleet = fleet_file.load(proj)
    names = _chosen(fleet, wave, target)
    # With --wave, the earlier waves must be done: read their targets too (with --target, the workflow's
    # needs see to it, and its job has no other target's secrets).
    earlier = [t for w in fleet.waves if wave and w.index < fleet.wave(wave).index for t in w.targets]
    source = environment(proj, from_)
    supabase = cli(proj)
    planned = rollout.plan_fleet(
        proj, fleet, source, supabase, names=earlier + names, environ=os.environ, with_lint=False, with_drift=False
    )
    if wave:
        rollout.require_done(planned, fleet.wave(wave))
        planned = planned.only(names)
    err.print(f"fleet {rollout.pending_summary(planned)}", markup=False)
    for item in planned.targets:
        err.print(f"  {item.summary()}", markup=False)
    confirm_many(
        list(planned.envs.values()),
        action=f"promote {len(planned.source_versions)} migration(s)",
        yes=yes,
        interactive=interactive(),
    )
    report = rollout.promote_fleet(
        proj,
        planned,
        supabase,
        process=process(),
        backup_folder=backup_dir or None,
        on_progress=_progress,
        before_start=_stop_check(fleet.wave_of(target)) if target else None,
    )
    _summary(report)
    if json:
        print_json(report.as_dict())
    else:
        for outcome in report.outcomes:
            out.print(f"{outcome.wave} {outcome.target}: {outcome.outcome}", markup=False)
    if not report.ok:
        first = report.first_failure or next(o for o in report.outcomes if not o.done)
        raise FleetFailed(f"fleet promotion stopped: {first.target}: {first.error}", report)


def _stop_check(wave: Wave) -> BeforeStart | None:
    """In GitHub Actions, a target of a `stop` wave starts only if no sibling job of its wave has failed."""
    settings = process()
    if not settings.github_actions or wave.on_failure != "stop":
        return None
    from supadeploy import github_run

    def check(of: Wave, target: str) -> str | None:
        api, repository, run_id = github_run.from_environment(settings)
        failed = github_run.failed_siblings(api, repository, run_id, of.index, target)
        return f"{failed[0]} failed in this wave (on_failure = stop)" if failed else None

    return check


@task(
    help={
        "reports": "Folder holding the per-target JSON reports of fleet.promote --target (the workflow's artifacts).",
        "json": "Print the gathered report as JSON on stdout.",
    }
)
@reports_errors
def summary(c: Context, reports: str, json: bool = False) -> None:
    """Gather the per-target reports of a promote-fleet run into one report (and the step summary)."""
    from supadeploy import fleet as fleet_file
    from supadeploy import rollout

    fleet = fleet_file.load(project())
    folder = Path(reports)
    if not folder.is_dir():
        raise ConfigError(f"--reports {reports}: no such folder")
    documents = []
    for path in sorted(folder.glob("*.json")):
        try:
            document = json_module.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the report {path.name}: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("waves"), list):
            raise ConfigError(f"{path.name} is not a report of fleet.promote --json")
        documents.append(document)
    report = rollout.gather(fleet, documents)
    _summary(report)
    if json:
        print_json(report.as_dict())
    else:
        out.print(report.markdown(), markup=False)
    if not report.ok:
        raise FleetFailed(f"fleet promotion incomplete: {report.stopped or 'targets not started'}", report)
