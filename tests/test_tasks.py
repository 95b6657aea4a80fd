"""The tasks as a user runs them: `invoke ...` in a subprocess, the real CLI, a real database."""

from __future__ import annotations

import json

import psycopg
import pytest

from supadeploy.dburl import DbUrl

from .conftest import REPO, ProjectDir, rls_table, run_invoke

pytestmark = pytest.mark.e2e
SECRET = "Sekr1t-Pw-7731"


@pytest.fixture
def deployer_url(db_url: DbUrl, conn: psycopg.Connection) -> DbUrl:
    """A login with a distinctive password, so any leak of it in output is caught."""
    conn.execute(
        f"do $$ begin if not exists (select from pg_roles where rolname = 'deployer') then "
        f"create role deployer login superuser password '{SECRET}'; end if; end $$"
    )
    return DbUrl.parse(f"postgresql://deployer:{SECRET}@{db_url.host}:{db_url.port}/{db_url.dbname}")


def assert_one_line_error(output: str, *needles: str) -> None:
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_every_task_and_option_has_help() -> None:
    from invoke import Collection
    from invoke.loader import FilesystemLoader

    module, _ = FilesystemLoader(start=str(REPO)).load("tasks")
    ns = Collection.from_module(module)
    names = ns.task_names
    assert {
        "db.push",
        "db.status",
        "db.new",
        "db.reset",
        "local.start",
        "local.stop",
        "local.status",
        "local.reset",
    } <= set(names)
    for name in names:
        task = ns[name]
        assert task.__doc__ and task.__doc__.strip(), name
        for argument in task.get_arguments():
            assert argument.help, f"{name} --{argument.name} has no help"


def test_push_then_status_without_leaking_the_password(project_dir: ProjectDir, deployer_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=deployer_url.raw)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    pushed = run_invoke(project_dir, "db.push")
    assert pushed.returncode == 0, pushed.output
    assert "applied 1 migration(s) to local" in pushed.stdout
    assert "Applying migration 20240101000000_create_a.sql" in pushed.stderr
    status = run_invoke(project_dir, "db.status", "--json")
    assert status.returncode == 0, status.output
    payload = json.loads(status.stdout)
    assert payload["migrations"] == [
        {"version": "20240101000000", "name": "create_a", "local": True, "applied": {"local": True}, "edited": []}
    ]
    assert payload["environments"][0]["url"].startswith("postgresql://deployer:****@")
    table = run_invoke(project_dir, "db.status")
    assert "applied" in table.stdout
    for ran in (pushed, status, table):
        assert SECRET not in ran.output


def test_status_of_all_shows_the_readable_environments_and_one_line_per_unreadable_one(
    project_dir: ProjectDir, deployer_url: DbUrl
) -> None:
    wrong = "Wr0ng-Pw-5512"
    project_dir.set_env("local", SUPABASE_DB_URL=deployer_url.raw)
    project_dir.set_env("staging", SUPABASE_DB_URL=deployer_url.raw.replace(SECRET, wrong))
    project_dir.set_env("production", SUPABASE_DB_URL=deployer_url.with_dbname("status_nowhere").raw)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    project_dir.add_migration("20240102000000", "create_b", rls_table("b", "id int"))
    assert run_invoke(project_dir, "db.push").returncode == 0
    project_dir.add_migration("20240103000000", "create_c", rls_table("c", "id int"))

    table = run_invoke(project_dir, "db.status", "--env", "all")
    assert table.returncode == 1, table.output
    assert "?" not in table.stdout, table.stdout
    header = next(line for line in table.stdout.splitlines() if "version" in line)
    assert "local" in header and "staging" not in header and "production" not in header, header
    row = next(line for line in table.stdout.splitlines() if "20240103000000" in line)
    assert "pending" in row, row
    assert table.stderr.splitlines() == [
        f"staging: cannot read its history: cannot reach the database at {deployer_url.where}: "
        'password authentication failed for user "deployer"',
        f"production: cannot read its history: cannot reach the database at {deployer_url.where}: "
        'database "status_nowhere" does not exist',
        "error: could not read the history of: staging, production",
    ], table.stderr

    machine = run_invoke(project_dir, "db.status", "--env", "all", "--json")
    assert machine.returncode == 1, machine.output
    payload = json.loads(machine.stdout)
    reachable = {e["name"]: (e["reachable"], e["error"]) for e in payload["environments"]}
    assert reachable["local"] == (True, None)
    assert reachable["staging"][0] is False and "password authentication failed" in reachable["staging"][1]
    assert reachable["production"][0] is False and "status_nowhere" in reachable["production"][1]
    assert [(m["version"], m["applied"]["local"]) for m in payload["migrations"]] == [
        ("20240101000000", True),
        ("20240102000000", True),
        ("20240103000000", False),
    ]
    assert all(m["applied"]["staging"] is None for m in payload["migrations"])
    for ran in (table, machine):
        assert SECRET not in ran.output and wrong not in ran.output and "Traceback" not in ran.output


def test_a_failed_push_exits_non_zero_with_one_line(project_dir: ProjectDir, deployer_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=deployer_url.raw)
    project_dir.add_migration(
        "20240101000000",
        "broken",
        rls_table("a", "id int") + "\nselect * from nope;\n",
    )
    ran = run_invoke(project_dir, "db.push")
    assert ran.returncode == 1
    assert_one_line_error(
        ran.output, "20240101000000_broken.sql", 'relation "nope" does not exist', "select * from nope"
    )
    assert SECRET not in ran.output
    with psycopg.connect(deployer_url.raw) as c:
        assert c.execute("select to_regclass('public.a')").fetchone() == (None,)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("db.push", "--env", "prod"), ("unknown environment 'prod'", ".env.prod")),
        (("db.push", "--env", "staging"), ("'staging' has no SUPABASE_DB_URL", ".env.staging")),
        (("db.status", "--env", "nowhere"), ("unknown environment 'nowhere'",)),
        (("db.new", "Bad Name"), ("invalid migration name",)),
        (("db.reset", "--env", "staging"), ("'staging' has no SUPABASE_DB_URL",)),
    ],
)
def test_bad_input_gets_one_line_and_non_zero(
    project_dir: ProjectDir, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    ran = run_invoke(project_dir, *args)
    assert ran.returncode != 0
    assert_one_line_error(ran.output, *needles)


def test_unreachable_database_names_host_and_port(project_dir: ProjectDir) -> None:
    project_dir.set_env("staging", SUPABASE_DB_URL=f"postgresql://postgres:{SECRET}@127.0.0.1:1/postgres")
    ran = run_invoke(project_dir, "db.push", "--env", "staging")
    assert ran.returncode == 1
    assert_one_line_error(ran.output, "cannot reach the database at 127.0.0.1:1")
    assert SECRET not in ran.output


def test_malformed_file_is_refused_and_nothing_applied(project_dir: ProjectDir, deployer_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=deployer_url.raw)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    (project_dir.migrations / "create_b.sql").write_text(rls_table("b", "id int"))
    ran = run_invoke(project_dir, "db.push")
    assert ran.returncode == 1
    assert_one_line_error(ran.output, "malformed migration file name create_b.sql")
    with psycopg.connect(deployer_url.raw) as c:
        assert c.execute("select to_regclass('public.a')").fetchone() == (None,)


def test_production_needs_yes_when_not_interactive(project_dir: ProjectDir, deployer_url: DbUrl) -> None:
    project_dir.set_env("production", SUPABASE_DB_URL=deployer_url.raw)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    refused = run_invoke(project_dir, "db.push", "--env", "production")
    assert refused.returncode == 1
    assert_one_line_error(refused.output, "production is protected", "--yes")
    with psycopg.connect(deployer_url.raw) as c:
        assert c.execute("select to_regclass('public.a')").fetchone() == (None,)
    accepted = run_invoke(project_dir, "db.push", "--env", "production", "--yes")
    assert accepted.returncode == 0, accepted.output
    with psycopg.connect(deployer_url.raw) as c:
        assert c.execute("select to_regclass('public.a')").fetchone() is not None


def test_missing_cli_says_run_npm_ci(project_dir: ProjectDir, deployer_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=deployer_url.raw)
    ran = run_invoke(project_dir, "db.push", SUPADEPLOY_SUPABASE_BIN=str(project_dir.root / "no-such-cli"))
    assert ran.returncode == 1
    assert_one_line_error(ran.output, "Supabase CLI was not found", "run npm ci")


def test_db_new_creates_a_timestamped_file(project_dir: ProjectDir) -> None:
    ran = run_invoke(project_dir, "db.new", "add_teams")
    assert ran.returncode == 0, ran.output
    (created,) = project_dir.migrations.glob("*_add_teams.sql")
    assert created.name[:14].isdigit()
    assert f"created supabase/migrations/{created.name}" in ran.stdout


def test_db_new_comes_after_a_file_from_a_clock_ahead_of_this_one(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("29991231235959", "from_the_future", rls_table("a"))
    assert run_invoke(project_dir, "db.push").returncode == 0
    ran = run_invoke(project_dir, "db.new", "add_b")
    assert ran.returncode == 0, ran.output
    (created,) = project_dir.migrations.glob("*_add_b.sql")
    assert created.name == "30000101000000_add_b.sql"
    assert f"created supabase/migrations/{created.name}" in ran.stdout
    created.write_text(rls_table("b"))
    pushed = run_invoke(project_dir, "db.push")  # not refused as older than the newest applied file
    assert pushed.returncode == 0, pushed.output


def test_db_reset_rebuilds_local(project_dir: ProjectDir, deployer_url: DbUrl, pg_server: object) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=deployer_url.raw)
    project_dir.add_migration("20240101000000", "create_a", rls_table("a", "id int"))
    ran = run_invoke(project_dir, "db.reset")
    assert ran.returncode == 0, ran.output
    assert "reset done: 1 migration(s) applied" in ran.stdout
    assert SECRET not in ran.output


def test_tables_are_not_cut_when_output_is_not_a_terminal(project_dir: ProjectDir) -> None:
    name = "20240101000000_a_long_descriptive_name_for_a_migration_that_adds_a_table.sql"
    (project_dir.migrations / name).write_text("create table public.t (id int);\n")
    ran = run_invoke(project_dir, "db.lint")  # output to a pipe, as in CI logs
    assert f"supabase/migrations/{name}:1" in ran.output, ran.output
