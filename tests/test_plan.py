"""`invoke db.plan` as a user runs it: the real CLI, a real target that is only read, a copy for the rehearsal."""

from __future__ import annotations

import json
import shutil

import psycopg
import pytest

from supadeploy.dburl import DbUrl

from .conftest import REPO, ProjectDir, Server, run_invoke

pytestmark = pytest.mark.e2e

EXPOSING = """create table public.leads (id bigint primary key, email text);
grant select on public.leads to anon;
alter table public.projects add column archived_at timestamptz default clock_timestamp();
"""


def with_repo_migrations(project_dir: ProjectDir) -> None:
    for source in (REPO / "supabase" / "migrations").glob("*.sql"):
        shutil.copy(source, project_dir.migrations / source.name)
    shutil.copy(REPO / ".squawk.toml", project_dir.root / ".squawk.toml")


def history(url: DbUrl) -> list[str]:
    with psycopg.connect(url.raw) as conn:
        return [v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations order by 1")]


def test_plan_reports_locks_exposure_and_a_blocking_lint_error(project_dir: ProjectDir, app_url: DbUrl) -> None:
    with_repo_migrations(project_dir)
    project_dir.add_migration("20990101000000", "leads", EXPOSING)
    project_dir.set_env("local", SUPABASE_DB_URL=app_url.raw)
    before = history(app_url)
    ran = run_invoke(project_dir, "db.plan", "--env", "local")
    assert ran.returncode == 1, ran.output
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: the plan for local found a blocking problem (see the report)"]
    report = ran.stdout
    assert report.startswith("### db.plan · local · highest risk: ")
    assert "**Applies:** ✅ 1 of 1" in report
    assert "RLS off on public.leads" in report
    # The shipped migrations make new tables private by default: only the explicit grant exposes leads.
    assert "+SELECT on public.leads to anon" in report and "+ALL on public.leads" not in report
    assert "| ACCESS EXCLUSIVE | public.projects |" in report and "rewrites the table" in report
    assert "rls-not-enabled" in report and "anon-write-grant" not in report
    assert history(app_url) == before, "the target was changed"
    as_json = run_invoke(project_dir, "db.plan", "--env", "local", "--json")
    payload = json.loads(as_json.stdout)
    assert payload["pending"] == ["20990101000000_leads.sql"] and payload["ok"] is False
    [statement] = [s for s in payload["files"][0]["statements"] if s["form"] == "ALTER TABLE ADD COLUMN"]
    assert statement["locks"][0]["mode"] == "ACCESS EXCLUSIVE" and statement["effect"] == "rewrite"
    assert payload["applies"][0]["ok"] is True and payload["applies"][0]["seconds"] >= 0


def test_a_read_only_role_is_enough_and_nothing_is_claimed_that_did_not_run(
    project_dir: ProjectDir, app_url: DbUrl, conn_app: psycopg.Connection, pg_server: Server
) -> None:
    with_repo_migrations(project_dir)
    project_dir.add_migration("20990101000000", "widen", "alter table public.projects alter column name type text;\n")
    conn_app.execute(
        "do $$ begin if not exists (select from pg_roles where rolname = 'planner') then "
        "create role planner login password 'Plan-Only-42'; end if; end $$"
    )
    conn_app.execute("grant usage on schema supabase_migrations to planner")
    conn_app.execute("grant select on supabase_migrations.schema_migrations to planner")
    reader = DbUrl.parse(f"postgresql://planner:Plan-Only-42@{app_url.host}:{app_url.port}/{app_url.dbname}")
    before = history(app_url)
    # No server to rebuild the history on: the reader may not create databases, and nothing is claimed.
    project_dir.set_env("local", SUPABASE_DB_URL=reader.raw)
    ran = run_invoke(project_dir, "db.plan", "--env", "local")
    assert ran.returncode == 0, ran.output
    assert "**Applies:** not run (cannot create a scratch database on" in ran.stdout
    assert "**Exposure:** not run" in ran.stdout and "**pgTAP:** not run" in ran.stdout
    assert "| ACCESS EXCLUSIVE | public.projects |" in ran.stdout
    assert "Plan-Only-42" not in ran.output
    # With a scratch server on the runner, the target's history is rebuilt there and the file rehearsed.
    scratch = pg_server.postgres.with_dbname("postgres")
    project_dir.set_env("local", SUPABASE_DB_URL=reader.raw, SUPADEPLOY_SCRATCH_URL=scratch.raw)
    ran = run_invoke(project_dir, "db.plan", "--env", "local")
    assert ran.returncode == 0, ran.output
    assert "**Applies:** ✅ 1 of 1" in ran.stdout and "rebuilt from local's history" in ran.stdout
    assert "Plan-Only-42" not in ran.output and (scratch.password or "") not in ran.output
    assert history(app_url) == before, "the target was changed"


def test_a_file_that_fails_on_the_copy_is_named_and_the_rest_is_not_claimed(
    project_dir: ProjectDir, app_url: DbUrl
) -> None:
    with_repo_migrations(project_dir)
    project_dir.add_migration("20990101000000", "fine", "comment on table public.projects is 'team projects';\n")
    project_dir.add_migration("20990101000001", "broken", "alter table public.nope add column x int;\n")
    project_dir.add_migration("20990101000002", "later", "comment on table public.teams is 'teams';\n")
    project_dir.set_env("local", SUPABASE_DB_URL=app_url.raw)
    ran = run_invoke(project_dir, "db.plan", "--env", "local", "--json")
    assert ran.returncode == 1, ran.output
    payload = json.loads(ran.stdout)
    assert [(a["file"], a["ok"]) for a in payload["applies"]] == [
        ("20990101000000_fine.sql", True),
        ("20990101000001_broken.sql", False),
        ("20990101000002_later.sql", None),
    ]
    assert 'relation "public.nope" does not exist' in payload["applies"][1]["reason"]
    assert payload["exposure"] is None and payload["pgtap"] is None
    assert payload["not_run"]["exposure"] == "a pending file does not apply"


@pytest.fixture
def conn_app(app_url: DbUrl):  # noqa: ANN201
    with psycopg.connect(app_url.raw, autocommit=True) as connection:
        yield connection
