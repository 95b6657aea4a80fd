"""A Supabase project used the way real ones use the database, on a fresh Docker-free local cluster.

tests/fixture_project pushes, seeds (a data-only dump's shape: every auth.users column, an
auth.identities row), passes its pgTAP suite (a .sql and a .pg file, plan() unqualified) and
rebuilds without drift; what the platform refuses fails here too, with the reason on one line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from supadeploy.dburl import DbUrl
from supadeploy.local_backend import free_port

from .conftest import REPO, ProjectDir, Ran, raw_supabase, run_invoke

pytestmark = pytest.mark.e2e

FIXTURE = REPO / "tests" / "fixture_project"
ADA = "a0000000-0000-4000-8000-000000000001"


@dataclass(frozen=True)
class Fixture:
    """The fixture project copied to a temporary folder, its cluster's settings and URL."""

    project: ProjectDir
    env: dict[str, str]
    url: str

    def invoke(self, *args: str) -> Ran:
        return run_invoke(self.project, *args, **self.env)

    def add_migration(self, name: str, body: str) -> Path:
        path = self.project.migrations / f"20250201000000_{name}.sql"
        path.write_text(body)
        return path


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    """local.start and db.push from nothing, then db.reset to seed: the project as a developer has it."""
    root = tmp_path_factory.mktemp("fixture") / "project"
    shutil.copytree(FIXTURE, root)
    config = root / "supabase" / "config.toml"
    config.write_text(re.sub(r"shadow_port = \d+", f"shadow_port = {free_port()}", config.read_text()))
    local = Path(tempfile.mkdtemp(prefix="supadeploy-fixture-", dir="/tmp"))
    local.chmod(0o755)  # the postgres system user enters it when we run as root
    port = free_port()
    env = {
        "SUPADEPLOY_LOCAL_DIR": str(local),
        "SUPADEPLOY_LOCAL_PORT": str(port),
        "SUPADEPLOY_LOCAL_BACKEND": "cluster",
    }
    made = Fixture(ProjectDir(root), env, f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres")
    try:
        started = made.invoke("local.start", "db.push")
        assert started.returncode == 0, started.output
        assert "applied 4 migration(s) to local" in started.stdout
        seeded = made.invoke("db.reset")
        assert seeded.returncode == 0, seeded.output
        yield made
    finally:
        made.invoke("local.stop")
        shutil.rmtree(local, ignore_errors=True)


def test_the_seed_lands_every_auth_column_and_the_identity(fixture: Fixture) -> None:
    with psycopg.connect(fixture.url) as conn:
        user = conn.execute(
            "select email_change_token_current, reauthentication_token, phone_change, confirmed_at is not null "
            "from auth.users where id = %s",
            (ADA,),
        ).fetchone()
        identity = conn.execute("select provider, email from auth.identities where user_id = %s", (ADA,)).fetchone()
    assert user == ("", "", "", True)
    assert identity == ("email", "ada@example.com")


def test_the_pgtap_suite_runs_both_sql_and_pg_files_and_leaves_no_pgtap(fixture: Fixture) -> None:
    ran = fixture.invoke("db.test")
    assert ran.returncode == 0, ran.output
    assert "./database/01_platform.test.sql .." in ran.output
    assert "./database/02_isolation.test.pg .." in ran.output
    assert "Files=2, Tests=18" in ran.output
    with psycopg.connect(fixture.url) as conn:
        assert conn.execute("select count(*) from pg_extension where extname = 'pgtap'").fetchone() == (0,)


def test_a_failing_pgtap_assertion_fails_db_test(fixture: Fixture) -> None:
    broken = fixture.project.root / "supabase" / "tests" / "database" / "03_broken.test.pg"
    broken.write_text("begin; select plan(1); select is(1, 2, 'one is two'); select * from finish(); rollback;\n")
    try:
        ran = fixture.invoke("db.test")
    finally:
        broken.unlink()
    assert ran.returncode == 1
    assert "pgTAP tests failed on local" in ran.stderr and "03_broken.test.pg" in ran.output


def test_the_rebuilt_migrations_match_the_live_database(fixture: Fixture) -> None:
    ran = fixture.invoke("db.drift")
    assert ran.returncode == 0, ran.output
    assert "local: 0 difference(s) from its migrations" in ran.stdout


def test_db_lint_db_finds_a_function_body_naming_a_missing_column(fixture: Fixture) -> None:
    clean = fixture.invoke("db.lint", "--db", "--json")
    assert clean.returncode == 0, clean.output
    with psycopg.connect(fixture.url, autocommit=True) as conn:
        conn.execute(
            "create function public.latest_title() returns text language plpgsql as "
            "$$ begin return (select title from public.notes order by created_at desc limit 1); end $$"
        )
    try:
        found = fixture.invoke("db.lint", "--db", "--json")
    finally:
        with psycopg.connect(fixture.url, autocommit=True) as conn:
            conn.execute("drop function public.latest_title()")
    assert found.returncode == 1
    assert '"file": "public.latest_title()"' in found.stdout
    assert 'column \\"title\\" does not exist' in found.stdout
    with psycopg.connect(fixture.url) as conn:
        assert conn.execute("select count(*) from pg_extension where extname = 'plpgsql_check'").fetchone() == (0,)


def _raw_push(fixture: Fixture) -> subprocess.CompletedProcess[str]:
    return raw_supabase(fixture.project, "db", "push", "--yes", url=DbUrl.parse(fixture.url))


def test_a_migration_the_platform_refuses_fails_here_too(fixture: Fixture) -> None:
    migration = fixture.add_migration("nickname", "alter table auth.users add column nickname text;\n")
    try:
        ran = fixture.invoke("db.push")
        raw = _raw_push(fixture)
    finally:
        migration.unlink()
    assert ran.returncode == 1
    assert "migration 20250201000000_nickname.sql failed: must be owner of table users" in ran.stderr
    assert "must be owner of table users" in raw.stdout + raw.stderr
    with psycopg.connect(fixture.url) as conn:
        assert conn.execute("select to_regclass('auth.users') is not null").fetchone() == (True,)
        columns = conn.execute(
            "select count(*) from information_schema.columns where table_schema = 'auth' and column_name = 'nickname'"
        ).fetchone()
    assert columns == (0,)


def test_an_extension_this_machine_lacks_is_named_on_one_line_even_for_the_raw_cli(fixture: Fixture) -> None:
    migration = fixture.add_migration("vectors", "create extension if not exists vector with schema extensions;\n")
    try:
        ran = fixture.invoke("db.push")
        raw = _raw_push(fixture)
    finally:
        migration.unlink()
    expected = 'extension "vector" is not available on the Docker-free local database'
    assert ran.returncode == 1
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0] and "SUPADEPLOY_LOCAL_BACKEND=docker" in errors[0]
    assert raw.returncode != 0 and expected in raw.stdout + raw.stderr
    assert "control file" not in ran.output + raw.stdout + raw.stderr


def test_the_cli_refusing_the_config_gives_its_own_reason(fixture: Fixture) -> None:
    config = fixture.project.root / "supabase" / "config.toml"
    before = config.read_text()
    config.write_text(before + "\n[inbucket]\nenabled = true\n")
    migration = fixture.add_migration("noop", "select 1;\n")
    try:
        ran = fixture.invoke("db.push")
    finally:
        config.write_text(before)
        migration.unlink()
    assert ran.returncode == 1
    assert "error: db push failed: [inbucket] in supabase/config.toml is no longer supported." in ran.stderr
    assert "Use [local_smtp] instead." in ran.stderr
