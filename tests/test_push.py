"""db.push, db.status and db.reset through the library, against real PostgreSQL and the real Supabase CLI."""

from __future__ import annotations

import json

import psycopg
import pytest

from supadeploy import environments
from supadeploy.database import applied_migrations, connect
from supadeploy.dburl import DbUrl
from supadeploy.errors import ConfigError, DatabaseUnreachable, MigrationFileError, PushFailed, SupadeployError
from supadeploy.maintenance import reset
from supadeploy.project import Project
from supadeploy.push import push
from supadeploy.status import status
from supadeploy.supabase_cli import find_cli

from .conftest import ProjectDir, raw_supabase, rls_table

pytestmark = pytest.mark.e2e


def setup(project_dir: ProjectDir, url: DbUrl) -> tuple[Project, environments.Environment]:
    project_dir.set_env("local", SUPABASE_DB_URL=url.raw)
    proj = Project(project_dir.root)
    return proj, environments.resolve(proj, "local", environ={})


def versions(url: DbUrl) -> list[str]:
    with connect(url) as c:
        return [m.version for m in applied_migrations(c)]


def tables(conn: psycopg.Connection) -> set[str]:
    return {t for (t,) in conn.execute("select tablename from pg_tables where schemaname = 'public'")}


def test_push_applies_and_the_raw_cli_agrees(project_dir: ProjectDir, db_url: DbUrl, conn: psycopg.Connection) -> None:
    proj, env = setup(project_dir, db_url)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int primary key"))
    project_dir.add_migration("20240102000000", "create_b", rls_table("b", "id int primary key"))
    lines: list[str] = []
    result = push(proj, env, find_cli(proj), on_line=lines.append)
    assert result.applied == ("20240101000000_create_a.sql", "20240102000000_create_b.sql")
    assert tables(conn) == {"a", "b"}
    assert any("Applying migration 20240102000000_create_b.sql" in line for line in lines)
    raw = raw_supabase(project_dir, "migration", "list", "--output-format", "json", url=db_url)
    assert raw.returncode == 0, raw.stderr
    listed = json.loads(raw.stdout)["migrations"]
    assert [(m["local"], m["remote"]) for m in listed] == [
        ("20240101000000", "20240101000000"),
        ("20240102000000", "20240102000000"),
    ]
    again = push(proj, env, find_cli(proj))
    assert again.plan.pending == () and again.applied == ()


def test_a_raw_cli_push_shows_as_applied_in_status(project_dir: ProjectDir, db_url: DbUrl) -> None:
    proj, _ = setup(project_dir, db_url)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    project_dir.add_migration("20240102000000", "create_b", rls_table("b", "id int"))
    raw = raw_supabase(project_dir, "db", "push", "--yes", url=db_url)
    assert raw.returncode == 0, raw.stdout + raw.stderr
    project_dir.add_migration("20240103000000", "create_c", rls_table("c", "id int"))
    report = status(proj, ["local"], environ={})
    assert report.ok
    assert [(r.version, r.applied["local"]) for r in report.rows] == [
        ("20240101000000", True),
        ("20240102000000", True),
        ("20240103000000", False),
    ]


def test_a_failing_migration_names_file_and_statement_and_is_rolled_back(
    project_dir: ProjectDir, db_url: DbUrl, conn: psycopg.Connection
) -> None:
    proj, env = setup(project_dir, db_url)
    project_dir.add_migration("20240101000000", "good", rls_table("good", "id int"))
    project_dir.add_migration(
        "20240102000000",
        "bad",
        rls_table("half", "id int") + "\ninsert into missing_table values (1);\n",
    )
    project_dir.add_migration("20240103000000", "later", rls_table("later", "id int"))
    with pytest.raises(PushFailed) as caught:
        push(proj, env, find_cli(proj))
    failure = caught.value
    assert failure.file == "20240102000000_bad.sql"
    assert failure.statement is not None and "insert into missing_table" in failure.statement
    assert 'relation "missing_table" does not exist' in failure.detail
    assert failure.applied == ("20240101000000_good.sql",)
    assert "\n" not in str(failure)
    assert tables(conn) == {"good"}  # the failing file's first statement was rolled back, later never ran
    assert versions(db_url) == ["20240101000000"]


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("init.sql", "malformed migration file name init.sql"), ("20240101000000_dup.sql", "duplicate migration version")],
)
def test_bad_files_are_refused_before_anything_is_applied(
    project_dir: ProjectDir, db_url: DbUrl, conn: psycopg.Connection, filename: str, expected: str
) -> None:
    proj, env = setup(project_dir, db_url)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    (project_dir.migrations / filename).write_text(rls_table("z", "id int"))
    with pytest.raises(MigrationFileError, match=expected):
        push(proj, env, find_cli(proj))
    assert tables(conn) == set()
    assert versions(db_url) == []


def test_an_unreachable_database_is_named_without_password(project_dir: ProjectDir) -> None:
    proj = Project(project_dir.root)
    project_dir.set_env("staging", SUPABASE_DB_URL="postgresql://postgres:Zebra-99@127.0.0.1:1/postgres")
    env = environments.resolve(proj, "staging", environ={})
    with pytest.raises(DatabaseUnreachable) as caught:
        push(proj, env, find_cli(proj))
    assert "127.0.0.1:1" in str(caught.value) and "Zebra-99" not in str(caught.value)
    assert "refused" in str(caught.value).lower()


def test_out_of_order_files_need_include_all(project_dir: ProjectDir, db_url: DbUrl, conn: psycopg.Connection) -> None:
    proj, env = setup(project_dir, db_url)
    project_dir.add_migration("20240102000000", "newer", rls_table("newer", "id int"))
    push(proj, env, find_cli(proj))
    project_dir.add_migration("20240101000000", "older", rls_table("older", "id int"))
    with pytest.raises(SupadeployError, match="older than the newest migration applied on local.*--include-all"):
        push(proj, env, find_cli(proj))
    assert "older" not in tables(conn)
    push(proj, env, find_cli(proj), include_all=True)
    assert "older" in tables(conn)
    assert versions(db_url) == ["20240101000000", "20240102000000"]


def test_versions_applied_remotely_but_missing_locally_are_refused(project_dir: ProjectDir, db_url: DbUrl) -> None:
    proj, env = setup(project_dir, db_url)
    gone = project_dir.add_migration("20240101000000", "gone", rls_table("gone", "id int"))
    push(proj, env, find_cli(proj))
    gone.unlink()
    project_dir.add_migration("20240102000000", "next", rls_table("nxt", "id int"))
    with pytest.raises(SupadeployError, match="no local file: 20240101000000.*db.repair"):
        push(proj, env, find_cli(proj))
    report = status(proj, ["local"], environ={})
    gone_row = next(r for r in report.rows if r.version == "20240101000000")
    assert gone_row.local is False and gone_row.applied["local"] is True


def test_dry_run_applies_nothing(project_dir: ProjectDir, db_url: DbUrl, conn: psycopg.Connection) -> None:
    proj, env = setup(project_dir, db_url)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    result = push(proj, env, find_cli(proj), dry_run=True)
    assert [f.filename for f in result.plan.pending] == ["20240101000000_create_a.sql"]
    assert tables(conn) == set() and versions(db_url) == []


def test_status_reads_several_environments_and_reports_the_unreachable(project_dir: ProjectDir, db_url: DbUrl) -> None:
    proj, env = setup(project_dir, db_url)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    push(proj, env, find_cli(proj))
    project_dir.set_env("staging", SUPABASE_DB_URL="postgresql://postgres:x@127.0.0.1:1/postgres")
    report = status(proj, environments.expand(proj, "all"), environ={})
    by_name = {h.name: h for h in report.environments}
    assert by_name["local"].error is None
    assert by_name["staging"].error is not None and "127.0.0.1:1" in by_name["staging"].error
    assert by_name["production"].error is not None and ".env.production" in by_name["production"].error
    assert not report.ok
    assert report.rows[0].applied == {"local": True, "staging": None, "production": None}


def test_reset_rebuilds_local_from_migrations_and_seed(project_dir: ProjectDir, db_url: DbUrl) -> None:
    proj, env = setup(project_dir, db_url)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    (project_dir.root / "supabase" / "seed.sql").write_text("insert into a values (42);")
    push(proj, env, find_cli(proj))
    with connect(db_url) as c:
        c.execute("create table stray (id int)")
    reset(proj, env, find_cli(proj))
    with connect(db_url) as c:
        assert tables(c) == {"a"}
        assert c.execute("select id from a").fetchall() == [(42,)]
        assert c.execute("select to_regprocedure('auth.uid()') is not null").fetchone() == (True,)
    assert versions(db_url) == ["20240101000000"]


def test_reset_refuses_anything_but_local(project_dir: ProjectDir) -> None:
    proj = Project(project_dir.root)
    project_dir.set_env("staging", SUPABASE_DB_URL="postgresql://postgres:x@127.0.0.1:5432/postgres")
    project_dir.set_env("local", SUPABASE_DB_URL="postgresql://postgres:x@db.example.com:5432/postgres")
    for name in ("staging", "local"):
        env = environments.resolve(proj, name, environ={})
        with pytest.raises(ConfigError, match="db.reset only resets the local database"):
            reset(proj, env, find_cli(proj))
