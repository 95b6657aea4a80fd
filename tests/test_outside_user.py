"""What a user nobody planned for types: versions the CLI orders its own way, a clock at the end of time,
a project without the app's tables. Each ends with one true line and a non-zero exit, or succeeds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from supadeploy.dburl import DbUrl
from supadeploy.errors import LocalBackendError
from supadeploy.local_backend import LocalCluster, free_port
from supadeploy.pgtools import find_bindir

from .conftest import REPO, ProjectDir, clean_environ, rls_table, run_invoke

pytestmark = pytest.mark.e2e


def one_error_line(output: str) -> str:
    assert "Traceback" not in output and "unexpected" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    return errors[0]


def history(url: DbUrl) -> list[str]:
    with psycopg.connect(url.raw) as conn:
        return [v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations order by 1")]


def public_tables(url: DbUrl) -> set[str]:
    with psycopg.connect(url.raw) as conn:
        return {t for (t,) in conn.execute("select tablename from pg_tables where schemaname = 'public'")}


def test_the_push_orders_versions_as_the_cli_does(project_dir: ProjectDir, db_url: DbUrl) -> None:
    """100000000000000 is a larger number than 20270101000000, but the CLI (comparing strings) puts it before."""
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20270101000000", "a", rls_table("a"))
    assert run_invoke(project_dir, "db.push").returncode == 0
    late = project_dir.add_migration("100000000000000", "b", rls_table("b"))
    refused = run_invoke(project_dir, "db.push")
    assert refused.returncode == 1
    line = one_error_line(refused.output)
    assert "100000000000000_b.sql is older than the newest migration applied on local" in line
    assert "--include-all" in line
    assert history(db_url) == ["20270101000000"] and public_tables(db_url) == {"a"}

    late.unlink()
    project_dir.add_migration("9", "c", rls_table("c"))  # a smaller number, but after 2027... as the CLI reads it
    pushed = run_invoke(project_dir, "db.push")
    assert pushed.returncode == 0, pushed.output
    assert history(db_url) == ["20270101000000", "9"] and public_tables(db_url) == {"a", "c"}


def test_a_version_the_cli_cannot_repair_is_never_pushed(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("99999999999999999999", "typo", rls_table("a"))
    refused = run_invoke(project_dir, "db.push")
    assert refused.returncode == 1
    line = one_error_line(refused.output)
    assert "99999999999999999999_typo.sql" in line and "migration repair" in line
    assert public_tables(db_url) == set()


def test_db_new_after_the_last_second_of_the_calendar_refuses_and_makes_no_file(project_dir: ProjectDir) -> None:
    project_dir.add_migration("99991231235959", "last", "select 1;")
    ran = run_invoke(project_dir, "db.new", "more")
    assert ran.returncode == 1
    line = one_error_line(ran.output)
    assert "99991231235959_last.sql" in line
    assert sorted(p.name for p in project_dir.migrations.iterdir()) == ["99991231235959_last.sql"]


def test_db_new_after_a_version_no_clock_reaches_refuses_and_makes_no_file(project_dir: ProjectDir) -> None:
    project_dir.add_migration("9", "hand_numbered", "select 1;")  # after any timestamp, as the CLI orders
    ran = run_invoke(project_dir, "db.new", "more")
    assert ran.returncode == 1
    line = one_error_line(ran.output)
    assert "9_hand_numbered.sql" in line
    assert sorted(p.name for p in project_dir.migrations.iterdir()) == ["9_hand_numbered.sql"]


def test_tokens_list_on_a_database_without_the_token_table(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    ran = run_invoke(project_dir, "tokens.list", "--json")
    assert ran.returncode == 1 and ran.stdout == ""
    line = one_error_line(ran.output)
    assert "api_tokens" in line and "42P01" in line


def test_repair_refuses_to_revert_a_version_that_is_not_applied(project_dir: ProjectDir, db_url: DbUrl) -> None:
    """A mistyped version is named, and nothing is reverted: not even the versions typed right."""
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    assert run_invoke(project_dir, "db.push").returncode == 0
    typo = run_invoke(project_dir, "db.repair", "--version", "20240101000000,20240109999999", "--status", "reverted")
    assert typo.returncode == 1
    line = one_error_line(typo.output)
    assert "20240109999999" in line and "not applied" in line and "marked reverted" not in typo.stdout
    assert history(db_url) == ["20240101000000"]
    repaired = run_invoke(project_dir, "db.repair", "--version", "20240101000000", "--status", "reverted")
    assert repaired.returncode == 0, repaired.output
    assert "20240101000000 marked reverted" in repaired.stdout and history(db_url) == []


def test_local_start_with_a_local_dir_that_is_a_file(project_dir: ProjectDir) -> None:
    taken = project_dir.root / "not-a-folder"
    taken.write_text("mine\n")
    ran = run_invoke(
        project_dir, "local.start", SUPADEPLOY_LOCAL_DIR=str(taken / "pg"), SUPADEPLOY_LOCAL_BACKEND="cluster"
    )
    assert ran.returncode == 1
    line = one_error_line(ran.output)
    assert f"cannot create the local database folder {taken / 'pg'}" in line
    assert taken.read_text() == "mine\n"


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


def test_a_cli_killed_in_the_middle_of_a_file_never_reads_nothing_was_applied(
    project_dir: ProjectDir, db_url: DbUrl
) -> None:
    """The file was sent whole: the server goes on and commits it after the CLI is gone (an OOM kill, a crash)."""
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240101000000", "slow", rls_table("slow") + "select pg_sleep(3);\n")
    argv = [sys.executable, "-m", "invoke", "--search-root", str(REPO), "db.push", "--skip-lint"]
    env = clean_environ(SUPADEPLOY_PROJECT_DIR=str(project_dir.root))
    with subprocess.Popen(
        argv, cwd=project_dir.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as task:
        deadline = time.monotonic() + 60
        while not sleeping(db_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        for child in _children(task.pid):
            if "supabase" in Path(f"/proc/{child}/cmdline").read_text():
                os.kill(child, signal.SIGKILL)
        stdout, stderr = task.communicate(timeout=120)
    assert task.returncode == 1
    deadline = time.monotonic() + 30
    while sleeping(db_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert history(db_url) == ["20240101000000"] and public_tables(db_url) == {"slow"}  # the server committed it
    line = one_error_line(stdout + stderr)
    assert "nothing was applied" not in line and "may still" in line


def sleeping(url: DbUrl) -> bool:
    with psycopg.connect(url.raw) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where datname = %s and query like %s and pid <> pg_backend_pid()",
            (url.dbname, "%pg_sleep(3)%"),
        ).fetchone()
    return bool(row and row[0])


def test_a_file_saved_with_a_byte_order_mark_lints_and_pushes(project_dir: ProjectDir, db_url: DbUrl) -> None:
    """Windows editors write a UTF-8 BOM; the CLI strips it, so the lint must not call the file unparsable."""
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    (project_dir.migrations / "20240101000000_bom.sql").write_bytes(b"\xef\xbb\xbf" + rls_table("bom").encode())
    linted = run_invoke(project_dir, "db.lint", "--json")
    assert linted.returncode == 0, linted.output
    assert "syntax-error" not in linted.stdout
    pushed = run_invoke(project_dir, "db.push")
    assert pushed.returncode == 0, pushed.output
    assert public_tables(db_url) == {"bom"}
    status = run_invoke(project_dir, "db.status", "--json")
    assert status.returncode == 0, status.output
    (row,) = json.loads(status.stdout)["migrations"]
    assert row["applied"] == {"local": True} and row["edited"] == []


def test_a_file_with_a_nul_byte_is_refused_before_anything_runs(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    (project_dir.migrations / "20240102000000_nul.sql").write_bytes(b"select 1;\n\x00select 2;\n")
    for task in ("db.push", "db.lint"):
        ran = run_invoke(project_dir, task)
        assert ran.returncode == 1
        line = one_error_line(ran.output)
        assert "20240102000000_nul.sql" in line and "NUL byte on line 2" in line
    assert public_tables(db_url) == set() and history_or_none(db_url) is None


def history_or_none(url: DbUrl) -> list[str] | None:
    with psycopg.connect(url.raw) as conn:
        if conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone() == (None,):
            return None
    return history(url)


def test_a_backup_of_another_environment_is_never_restored_into_a_protected_one(
    project_dir: ProjectDir, db_url: DbUrl
) -> None:
    """A tired operator picks staging's dump for production: refused, production untouched."""
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    project_dir.set_env("staging", SUPABASE_DB_URL=db_url.raw)
    assert run_invoke(project_dir, "db.push", "--env", "staging", "--yes").returncode == 0
    backed_up = run_invoke(project_dir, "db.backup", "--env", "staging", "--backup-dir", str(project_dir.root / "b"))
    assert backed_up.returncode == 0, backed_up.output
    (dump,) = (project_dir.root / "b").glob("staging-*.dump")
    with psycopg.connect(db_url.raw, autocommit=True) as conn:
        conn.execute("create table public.written_since (id int)")
    project_dir.set_env("production", SUPABASE_DB_URL=db_url.raw)
    refused = run_invoke(project_dir, "db.restore", "--env", "production", "--from", str(dump), "--yes")
    assert refused.returncode == 1
    line = one_error_line(refused.output)
    assert f"{dump.name} is a backup of staging, not of production" in line and "nothing was changed" in line
    assert public_tables(db_url) == {"a", "written_since"}

    project_dir.set_env("qa", SUPABASE_DB_URL=db_url.raw)  # not protected: copying staging down is allowed
    copied = run_invoke(project_dir, "db.restore", "--env", "qa", "--from", str(dump), "--yes")
    assert copied.returncode == 0, copied.output
    assert f"restored {dump.name} (a backup of staging) into qa" in copied.stdout
    assert public_tables(db_url) == {"a"}


@pytest.mark.parametrize("rows", ["abc", "1e3", "", "-5", "0"])
def test_nova_import_batch_rows_that_are_not_a_count(project_dir: ProjectDir, rows: str) -> None:
    ran = run_invoke(project_dir, "nova.import", "--dry-run", "--batch-rows", rows, "--from-url", "postgresql://u@h/n")
    assert ran.returncode == 1
    assert "--batch-rows" in one_error_line(ran.output)


def test_local_stop_with_nothing_running_claims_nothing_about_the_past(project_dir: ProjectDir) -> None:
    """Said after a stop too, so it cannot say that local.start never started anything."""
    ran = run_invoke(project_dir, "local.stop", SUPADEPLOY_LOCAL_BACKEND="cluster")
    assert ran.returncode == 0, ran.output
    assert ran.stdout == "nothing to stop: no running local database is recorded for this project\n"


def test_local_start_after_an_initdb_cut_short_starts_afresh() -> None:
    """Ctrl-C during the first local.start: initdb had written the data folder, not yet supadeploy's settings.

    The next start must not call that folder a cluster made by an older supadeploy, nor stop on initdb's
    "directory exists": nothing in it was ever used, so it is made again.
    """
    root = Path(tempfile.mkdtemp(prefix="supadeploy-cut-", dir="/tmp"))
    root.chmod(0o755)
    try:
        real = find_bindir()
        cut = root / "bin"
        cut.mkdir()
        for tool in real.iterdir():
            (cut / tool.name).symlink_to(tool)
        (cut / "initdb").unlink()
        (cut / "initdb").write_text(f'#!/bin/sh\n"{real}/initdb" "$@" >/dev/null\nexit 130\n')
        (cut / "initdb").chmod(0o755)
        with pytest.raises(LocalBackendError, match="initdb failed"):
            LocalCluster(root=root / "local", port=free_port(), bindir=cut, durable=False).start()
        again = LocalCluster(root=root / "local", port=free_port(), bindir=real, durable=False)
        try:
            assert again.start() is True
            with psycopg.connect(again.url.raw) as conn:
                assert conn.execute("select to_regclass('auth.users') is not null").fetchone() == (True,)
        finally:
            again.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_file_name_with_a_space_is_counted_and_named(project_dir: ProjectDir, db_url: DbUrl) -> None:
    """The CLI takes any name after `<digits>_`; a push reporting 0 applied after applying one tells a lie."""
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240101000000", "add notes", rls_table("notes"))
    pushed = run_invoke(project_dir, "db.push", "--skip-lint")
    assert pushed.returncode == 0, pushed.output
    assert "applied 1 migration(s) to local" in pushed.stdout
    project_dir.add_migration("20240102000000", "fix notes", "select 1/0;")
    failed = run_invoke(project_dir, "db.push", "--skip-lint")
    assert failed.returncode == 1
    assert "migration 20240102000000_fix notes.sql failed: division by zero" in one_error_line(failed.output)
