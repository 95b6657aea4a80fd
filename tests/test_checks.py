"""db.test (pgTAP through pg_prove) and db.advisors (the real CLI) on the shipped schema."""

from __future__ import annotations

import json

import psycopg
import pytest

from supadeploy.dburl import DbUrl

from .conftest import REPO, ProjectDir, run_invoke

pytestmark = pytest.mark.e2e


@pytest.fixture
def repo_project(project_dir: ProjectDir, app_url: DbUrl) -> ProjectDir:
    """A project with this repo's migrations and pgTAP files, pointed at a database holding the schema."""
    for source in (REPO / "supabase" / "migrations").glob("*.sql"):
        (project_dir.migrations / source.name).write_text(source.read_text())
    tests = project_dir.root / "supabase" / "tests" / "database"
    tests.mkdir(parents=True)
    for source in (REPO / "supabase" / "tests" / "database").glob("*.sql"):
        (tests / source.name).write_text(source.read_text())
    project_dir.set_env("local", SUPABASE_DB_URL=app_url.raw)
    return project_dir


def test_pgtap_contract_passes_on_the_shipped_schema(repo_project: ProjectDir) -> None:
    ran = run_invoke(repo_project, "db.test")
    assert ran.returncode == 0, ran.output
    assert "Result: PASS" in ran.stderr
    assert "pgTAP: all tests passed" in ran.stdout


def test_pgtap_catches_a_broken_policy(repo_project: ProjectDir, app_url: DbUrl) -> None:
    with psycopg.connect(app_url.raw, autocommit=True) as conn:
        conn.execute('drop policy "deployments: members read" on public.deployments')
        conn.execute(
            'create policy "deployments: members read" on public.deployments for select to authenticated using (true)'
        )
    ran = run_invoke(repo_project, "db.test")
    assert ran.returncode == 1
    assert "pgTAP tests failed on local" in ran.stderr
    assert "Traceback" not in ran.output


def test_pgtap_is_refused_on_production(repo_project: ProjectDir, app_url: DbUrl) -> None:
    repo_project.set_env("production", SUPABASE_DB_URL=app_url.raw)
    ran = run_invoke(repo_project, "db.test", "--env", "production")
    assert ran.returncode == 1 and "refused on protected production" in ran.stderr


def test_advisors_find_no_error_or_warning_on_the_shipped_schema(repo_project: ProjectDir) -> None:
    ran = run_invoke(repo_project, "db.advisors", "--json")
    assert ran.returncode == 0, ran.output
    report = json.loads(ran.stdout)
    serious = [f for f in report["findings"] if f["level"] in ("warn", "error")]
    assert serious == []
    assert report["failing"] == 0


def test_advisors_gate_fails_on_an_unprotected_table(repo_project: ProjectDir, app_url: DbUrl) -> None:
    with psycopg.connect(app_url.raw, autocommit=True) as conn:
        conn.execute("create table public.leaky (id int primary key)")
        # The defaults no longer expose a new table (issue 12): a careless migration grants it.
        conn.execute("grant select on public.leaky to anon, authenticated")
        conn.execute("create function public.loose() returns int language sql as 'select 1'")
    ran = run_invoke(repo_project, "db.advisors", "--level", "error")
    assert ran.returncode == 1
    assert "rls_disabled_in_public" in ran.stdout
    assert "advisor finding(s) at or above error" in ran.stderr
    warn = run_invoke(repo_project, "db.advisors", "--json", "--level", "warn")
    names = {f["name"] for f in json.loads(warn.stdout)["findings"]}
    assert {"rls_disabled_in_public", "function_search_path_mutable"} <= names


def test_advisors_reject_an_unknown_level(repo_project: ProjectDir) -> None:
    ran = run_invoke(repo_project, "db.advisors", "--level", "fatal")
    assert ran.returncode == 1 and "unknown level 'fatal'" in ran.stderr
