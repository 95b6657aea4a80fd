"""Every failure message tells the truth, with the real CLI and a real server: what a push left applied, a
dropped connection's cause, the variable to change, the file that cannot be read, an edited applied file."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psycopg
import pytest

from supadeploy.database import PUSH_LOCK_KEY
from supadeploy.dburl import DbUrl

from .conftest import REPO, ProjectDir, Server, clean_environ, raw_supabase, rls_table, run_invoke
from .test_tasks import assert_one_line_error

pytestmark = pytest.mark.e2e


def exists(url: DbUrl, table: str) -> bool:
    with psycopg.connect(url.raw) as conn:
        return conn.execute("select to_regclass(%s)", (table,)).fetchone() != (None,)


def test_a_failing_file_with_its_own_commit_names_what_stays(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240101000000", "first", rls_table("first"))
    project_dir.add_migration(
        "20240102000000",
        "own_transaction",
        "create table before_tx (id int);\nbegin;\ncreate table inside_tx (id int);\ncommit;\n"
        "create table after_tx (id int);\nselect 1/0;\n",
    )
    ran = run_invoke(project_dir, "db.push", "--skip-lint")
    assert ran.returncode == 1
    assert_one_line_error(
        ran.output,
        "migration 20240102000000_own_transaction.sql failed: division by zero",
        "commits on its own, so 3 of its statements before the failure stay applied although the history does "
        "not record it (line 1: create table before_tx (id int); line 3: create table inside_tx (id int); "
        "line 5: create table after_tx (id int))",
        "(applied before the failure: 20240101000000_first.sql)",
    )
    assert all(exists(db_url, t) for t in ("before_tx", "inside_tx", "after_tx"))  # what the message says


def test_a_dropped_connection_is_named_as_the_cause(project_dir: ProjectDir, pg_server: Server, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240101000000", "slow", "select pg_sleep(30);\n" + rls_table("a"))
    push = subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), "db.push"],
        cwd=project_dir.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environ(SUPADEPLOY_PROJECT_DIR=str(project_dir.root)),
    )
    with psycopg.connect(pg_server.url.raw, autocommit=True) as admin:
        deadline = time.monotonic() + 60
        while not admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and query like %s",
            (db_url.dbname, "%pg_sleep(30)%"),
        ).fetchall():
            assert time.monotonic() < deadline, "the push never reached the slow statement"
            time.sleep(0.1)
    _, err = push.communicate(timeout=60)
    assert push.returncode == 1
    assert_one_line_error(
        err,
        "migration 20240101000000_slow.sql failed: the server closed the connection: "
        "terminating connection due to administrator command (SQLSTATE 57P01)",
        "(nothing was applied)",
    )
    assert "Try rerunning" not in err.splitlines()[-1]


def test_after_lock_timeout_retries_the_report_covers_the_whole_push(project_dir: ProjectDir, db_url: DbUrl) -> None:
    with psycopg.connect(db_url.raw, autocommit=True) as conn:
        conn.execute(rls_table("busy"))
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    project_dir.add_migration("20240102000000", "alter_busy", "alter table busy add column note text;")
    project_dir.set_env(
        "production", SUPABASE_DB_URL=db_url.raw, SUPADEPLOY_LOCK_TIMEOUT="200ms", SUPADEPLOY_LOCK_RETRIES="1"
    )
    with psycopg.connect(db_url.raw) as holder:
        holder.execute("lock table busy in access exclusive mode")
        ran = run_invoke(project_dir, "db.push", "--env", "production", "--yes")
    assert ran.returncode == 1
    assert "retry 1/1" in ran.stderr
    assert_one_line_error(
        ran.output,
        "migration 20240102000000_alter_busy.sql failed: canceling statement due to lock timeout",
        "(applied before the failure: 20240101000000_a.sql)",
    )
    assert "nothing was applied" not in ran.output and exists(db_url, "public.a")


def test_lock_wait_errors_name_the_variable(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    malformed = run_invoke(project_dir, "db.push", SUPADEPLOY_LOCK_WAIT="ten")
    assert malformed.returncode == 1
    assert_one_line_error(malformed.output, "SUPADEPLOY_LOCK_WAIT must be a number of seconds (got 'ten')")
    with psycopg.connect(db_url.raw, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (PUSH_LOCK_KEY,))
        waited = run_invoke(project_dir, "db.push", SUPADEPLOY_LOCK_WAIT="1")
    assert waited.returncode == 1
    assert_one_line_error(waited.output, "for more than 1s", "raise SUPADEPLOY_LOCK_WAIT")
    assert "--lock-wait" not in waited.output


@pytest.mark.parametrize("task", ["db.push", "db.lint"])
def test_an_unreadable_migration_file_is_named(project_dir: ProjectDir, db_url: DbUrl, task: str) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    latin1 = project_dir.migrations / "20240102000000_latin1.sql"
    latin1.write_bytes(b"-- caf\xe9\n" + rls_table("b").encode())
    ran = run_invoke(project_dir, task)
    assert ran.returncode == 1
    assert_one_line_error(ran.output, "20240102000000_latin1.sql is not UTF-8 text (byte 0xe9 on line 1)")
    latin1.unlink()
    (project_dir.migrations / "20240103000000_moved.sql").symlink_to(project_dir.root / "gone.sql")
    ran = run_invoke(project_dir, task)
    assert ran.returncode == 1
    assert_one_line_error(ran.output, "20240103000000_moved.sql is a symbolic link to", "which does not exist")
    assert not exists(db_url, "public.a")


def test_a_raw_cli_history_is_compared_by_the_parser(project_dir: ProjectDir, pg_server: Server, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration(
        "20240101000000",
        "literals",
        "-- rows for the demo\ncreate table notes (id int, body text default '--');\n"
        "alter table notes enable row level security;  /* as always */\n"
        "insert into notes values (1, 'row 2');\n",
    )
    project_dir.add_migration("20240102000000", "empty", "")
    assert raw_supabase(project_dir, "db", "push", "--yes", url=db_url).returncode == 0
    unedited = run_invoke(project_dir, "db.push")
    assert unedited.returncode == 0, unedited.output  # no false alarm on '--' in a literal, nor on an empty file
    assert "up to date" in unedited.stdout
    with psycopg.connect(db_url.raw) as conn:
        backfilled = conn.execute("select version from supadeploy.migration_checksums order by 1").fetchall()
    assert backfilled == [("20240101000000",), ("20240102000000",)]

    # An edit inside a string literal, on a history the raw CLI wrote: caught, not backfilled.
    project_dir.add_migration("20240103000000", "more", "insert into notes values (2, 'row 3');\n")
    assert raw_supabase(project_dir, "db", "push", "--yes", url=db_url).returncode == 0
    edited = project_dir.migrations / "20240103000000_more.sql"
    edited.write_text("insert into notes values (2, 'row3');\n")
    refused = run_invoke(project_dir, "db.push")
    assert refused.returncode == 1
    assert_one_line_error(refused.output, "20240103000000_more.sql changed after it was applied to local")
    status = run_invoke(project_dir, "db.status", "--json")
    assert status.returncode == 0, status.output
    rows = {m["version"]: m["edited"] for m in json.loads(status.stdout)["migrations"]}
    assert rows == {"20240101000000": [], "20240102000000": [], "20240103000000": ["local"]}
    table = run_invoke(project_dir, "db.status")
    assert "edited" in next(line for line in table.stdout.splitlines() if "20240103000000" in line)

    # A login that may read only the CLI's history (RUNBOOK: drift_reader) sees the same, from the statements.
    with psycopg.connect(pg_server.url.with_dbname(db_url.dbname).raw, autocommit=True) as admin:
        if admin.execute("select 1 from pg_roles where rolname = 'history_reader'").fetchone() is None:
            admin.execute("create role history_reader login password 'reader-pw'")
        admin.execute("grant usage on schema supabase_migrations to history_reader")
        admin.execute("grant select on supabase_migrations.schema_migrations to history_reader")
    reader = f"postgresql://history_reader:reader-pw@{db_url.host}:{db_url.port}/{db_url.dbname}"
    project_dir.set_env("readonly", SUPABASE_DB_URL=reader)
    seen = run_invoke(project_dir, "db.status", "--env", "readonly", "--json")
    assert seen.returncode == 0, seen.output
    rows = {m["version"]: m["edited"] for m in json.loads(seen.stdout)["migrations"]}
    assert rows == {"20240101000000": [], "20240102000000": [], "20240103000000": ["readonly"]}


@pytest.mark.parametrize(
    ("body", "stays", "gone"),
    [
        (  # the CLI commits what came before a non-transactional statement, then runs it on its own
            "create table before_build (id int);\ncreate index concurrently before_build_id on before_build (id);\n"
            "create table after_build (id int);\nselect 1/0;\n",
            ["before_build", "before_build_id"],
            ["after_build"],
        ),
        (  # the directive: statement by statement
            "-- pg-delta: transaction=false\ncreate table one_by_one (id int);\nselect 1/0;\n",
            ["one_by_one"],
            [],
        ),
    ],
)
def test_a_failing_file_the_cli_commits_in_parts_names_what_stays(
    project_dir: ProjectDir, db_url: DbUrl, body: str, stays: list[str], gone: list[str]
) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240102000000", "in_parts", body)
    ran = run_invoke(project_dir, "db.push", "--skip-lint")
    assert ran.returncode == 1
    assert [exists(db_url, t) for t in stays + gone] == [True] * len(stays) + [False] * len(gone)  # the CLI's way
    assert "nothing was applied" not in ran.output
    assert f"commits on its own, so {len(stays)} of its statements before the failure stay applied" in ran.output


def test_the_shipped_migrations_pushed_by_the_raw_cli_are_backfilled_not_called_edited(
    project_dir: ProjectDir, db_url: DbUrl
) -> None:
    for file in sorted((REPO / "supabase" / "migrations").glob("*.sql")):
        (project_dir.migrations / file.name).write_text(file.read_text())
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    assert raw_supabase(project_dir, "db", "push", "--yes", url=db_url).returncode == 0
    ran = run_invoke(project_dir, "db.push", "--skip-lint")
    assert ran.returncode == 0, ran.output
    assert "up to date" in ran.stdout
    with psycopg.connect(db_url.raw) as conn:
        ways = conn.execute("select how, count(*) from supadeploy.migration_checksums group by 1").fetchall()
    assert ways == [("backfill", len(list(project_dir.migrations.glob("*.sql"))))]


def test_a_failed_push_records_what_it_applied_and_the_fixed_file_goes_on(
    project_dir: ProjectDir, db_url: DbUrl
) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration(
        "20240101000000",
        "with_function",
        rls_table("first") + "create function public.one() returns int language sql as $$ select 1 $$;\n",
    )
    project_dir.add_migration("20240102000000", "fails", "select 1/0;\n")
    failed = run_invoke(project_dir, "db.push", "--skip-lint")
    assert failed.returncode == 1
    with psycopg.connect(db_url.raw) as conn:
        recorded = conn.execute("select version, how from supadeploy.migration_checksums").fetchall()
    assert recorded == [("20240101000000", "push")]
    (project_dir.migrations / "20240102000000_fails.sql").write_text("select 1;\n")
    fixed = run_invoke(project_dir, "db.push", "--skip-lint")
    assert fixed.returncode == 0, fixed.output
    assert "applied 1 migration(s)" in fixed.stdout


@pytest.mark.parametrize("folder", ["/proc/no-such-folder", "a-file"])
def test_a_backup_folder_that_cannot_be_made_is_one_line(project_dir: ProjectDir, db_url: DbUrl, folder: str) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    (project_dir.root / "a-file").write_text("not a folder\n")
    ran = run_invoke(project_dir, "db.backup", "--backup-dir", folder)
    assert ran.returncode == 1
    assert_one_line_error(ran.output, "cannot create the backup folder")


def test_a_connection_cut_in_the_middle_is_named_lost_not_unreachable(pg_server: Server, db_url: DbUrl) -> None:
    from supadeploy.database import push_lock
    from supadeploy.errors import DatabaseUnreachable

    with pytest.raises(DatabaseUnreachable) as caught, push_lock(db_url, wait_seconds=5, work="restore") as conn:
        with psycopg.connect(pg_server.url.raw, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (conn.info.backend_pid,))
        conn.execute("select 1")
    message = str(caught.value)
    assert message.startswith(f"the connection to the database at {db_url.where} was lost during the restore: ")
    assert message.endswith("nothing is half-applied: run it again") and "cannot reach" not in message
