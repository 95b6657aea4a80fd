"""db.plan: what an environment's pending migrations would do, learned without changing the environment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from supadeploy import ddl_locks, lint, rehearsal
from supadeploy.database import applied_migrations, connect
from supadeploy.environments import Environment
from supadeploy.errors import CopyUnavailable
from supadeploy.migrations import discover
from supadeploy.plan_report import SECTIONS, PlanReport
from supadeploy.project import Project
from supadeploy.push import plan_push
from supadeploy.supabase_cli import LineSink, SupabaseCli, discard
from supadeploy.table_sizes import read_tables


def build_plan(project: Project, env: Environment, cli: SupabaseCli, *, on_line: LineSink = discard) -> PlanReport:
    """Read the target (history, catalog statistics), classify and lint the pending files, rehearse them on a copy.

    The target is only read, in a read-only session: a role with SELECT on the catalog and the CLI's history
    is enough. Where no copy can be made, the sections that need one say why they did not run.
    """
    files = discover(project.migrations_dir)
    with connect(env.url) as conn:
        conn.execute("set default_transaction_read_only = on")
        applied = applied_migrations(conn)
        target = read_tables(conn)
    push_plan = plan_push(files, applied, env.name)
    pending = push_plan.pending
    notes = []
    if push_plan.remote_only:
        notes.append(
            f"{env.name} has applied {', '.join(push_plan.remote_only)}, which this branch does not have: "
            "db.push would refuse; rebase on the branch that shipped them"
        )
    if push_plan.out_of_order:
        notes.append(
            f"{', '.join(f.filename for f in push_plan.out_of_order)}: older than the newest migration applied on "
            f"{env.name}; db.push needs --include-all (or rename to a newer version)"
        )
    if not pending:
        return PlanReport(env.name, env.url.where, (), notes=tuple(notes))
    paths = [f.path for f in pending]
    try:
        with rehearsal.rehearsal_database(project, env, cli) as (copy, made), ThreadPoolExecutor(max_workers=1) as pool:
            # The rehearsal spends most of its time waiting for the CLI to start: classify and lint meanwhile.
            rehearsing = pool.submit(
                rehearsal.rehearse, project, cli, copy, pending, schemas=lint.exposed_schemas(project), on_line=on_line
            )
            locks = tuple(ddl_locks.classify(paths, target))
            findings = tuple(lint.lint(project, paths))
            result = rehearsing.result()
    except CopyUnavailable as exc:
        locks = tuple(ddl_locks.classify(paths, target))
        findings = tuple(lint.lint(project, paths))
        return PlanReport(
            env.name,
            env.url.where,
            locks,
            findings,
            not_run={section: str(exc) for section in SECTIONS},
            notes=tuple(notes),
        )
    return PlanReport(
        env.name,
        env.url.where,
        locks,
        findings,
        applies=result.applies,
        applied_on=made,
        exposure=result.exposure,
        advisors=result.advisors,
        pgtap=result.pgtap,
        not_run=result.not_run,
        notes=tuple(notes),
    )
