"""local.*: the local Supabase database (Docker when it answers, else a project-local cluster)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from supadeploy.errors import ToolFailed, ToolNotFound
from supadeploy.tasks.boundary import cli, echo_cli, environment, interactive, out, print_json, project, reports_errors

if TYPE_CHECKING:
    from supadeploy.project import Project
    from supadeploy.supabase_cli import SupabaseCli


def _cli_or_none(proj: Project) -> SupabaseCli | None:
    try:
        return cli(proj, quiet=True)
    except (ToolNotFound, ToolFailed):
        return None


@task
@reports_errors
def start(c: Context) -> None:
    """Start the local database; does nothing if it already runs."""
    from supadeploy import local_backend

    proj = project()
    settings = environment(proj, "local").settings
    supabase = _cli_or_none(proj)
    backend = local_backend.recorded_backend(proj) or local_backend.choose_backend(settings, supabase)
    if backend == "docker" and supabase is not None:
        local_backend.run_docker(supabase, ["start"], echo_cli)
        local_backend.record_backend(proj, "docker")
        out.print("local Supabase (docker) is running")
        return
    cluster = local_backend.cluster_for(proj, settings)
    started = cluster.start(fresh_sql=local_backend.setup_sql(proj))
    local_backend.record_backend(proj, "cluster")
    state = "started" if started else "already running"
    out.print(f"local cluster {state} at {cluster.url.masked}")


@task
@reports_errors
def stop(c: Context) -> None:
    """Stop the local database this project started (and nothing else)."""
    from supadeploy import local_backend

    proj = project()
    backend = local_backend.recorded_backend(proj)
    if backend is None:
        out.print("nothing to stop: no running local database is recorded for this project")
        return
    if backend == "docker":
        local_backend.run_docker(cli(proj), ["stop"], echo_cli)
        stopped = True
    else:
        stopped = local_backend.cluster_for(proj, environment(proj, "local").settings).stop()
    local_backend.record_backend(proj, None)
    out.print(f"local {backend} {'stopped' if stopped else 'was not running'}")


@task(help={"json": "Print JSON instead of text."})
@reports_errors
def status(c: Context, json: bool = False) -> None:
    """Show the local database's backend, masked URL and server version."""
    from supadeploy import local_backend

    proj = project()
    local_env = environment(proj, "local")
    backend = local_backend.recorded_backend(proj)
    if backend == "docker":
        local_backend.run_docker(cli(proj), ["status"], echo_cli)
        report = local_backend.LocalStatus("docker", True, local_env.url.masked)
    else:
        report = local_backend.cluster_for(proj, local_env.settings).status()
    if json:
        print_json(report.as_dict())
        return
    state = "running" if report.running else "stopped"
    out.print(f"backend: {report.backend}\nstate:   {state}\nurl:     {report.url}")
    if report.server_version:
        out.print(f"server:  PostgreSQL {report.server_version}")
    if report.detail:
        out.print(f"detail:  {report.detail}")


@task(help={"yes": "Do not ask before deleting the local server's data (every database on it)."})
@reports_errors
def reset(c: Context, yes: bool = False) -> None:
    """Throw away the local server's data, every database on it, and start fresh (Supabase's base schema only)."""
    from supadeploy import local_backend
    from supadeploy.environments import confirm_wipe

    proj = project()
    local_env = environment(proj, "local")
    confirm_wipe(local_env, action="delete every database on the local server", yes=yes, interactive=interactive())
    backend = local_backend.recorded_backend(proj)
    if backend == "docker":
        supabase = cli(proj)
        local_backend.run_docker(supabase, ["stop", "--no-backup"], echo_cli)
        local_backend.run_docker(supabase, ["start"], echo_cli)
        out.print("local Supabase (docker) restarted with empty data")
        return
    cluster = local_backend.cluster_for(proj, local_env.settings)
    cluster.destroy()
    cluster.start(fresh_sql=local_backend.setup_sql(proj))
    local_backend.record_backend(proj, "cluster")
    out.print(f"local cluster recreated at {cluster.url.masked}: run invoke db.push to apply migrations")
