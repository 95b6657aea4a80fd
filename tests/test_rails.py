"""Every push's rails: lock, pooler refusal, checksums, timeouts with retries, the validating dry run."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from supadeploy import environments
from supadeploy.database import PUSH_LOCK_KEY
from supadeploy.dburl import DbUrl
from supadeploy.errors import ChecksumMismatch, ConfigError, LockTimeout
from supadeploy.maintenance import repair
from supadeploy.project import Project
from supadeploy.push import push
from supadeploy.supabase_cli import find_cli

from .conftest import ProjectDir, rls_table, run_invoke

pytestmark = pytest.mark.e2e


def setup(project_dir: ProjectDir, url: DbUrl, name: str = "local", **extra: str):  # noqa: ANN201
    project_dir.set_env(name, SUPABASE_DB_URL=url.raw, **extra)
    proj = Project(project_dir.root)
    return proj, environments.resolve(proj, name, environ={})


def test_transaction_pooler_is_refused_with_the_url_to_use(project_dir: ProjectDir) -> None:
    project_dir.set_env(
        "staging", SUPABASE_DB_URL="postgresql://postgres.ref:pw@aws-0-x.pooler.supabase.com:6543/postgres"
    )
    ran = run_invoke(project_dir, "db.push", "--env", "staging")
    assert ran.returncode == 1
    assert "transaction-mode pooler (port 6543)" in ran.stderr and "port 5432" in ran.stderr
    assert ":pw@" not in ran.output


def test_checksums_are_recorded_and_an_edited_file_is_refused(project_dir: ProjectDir, db_url: DbUrl) -> None:
    proj, env = setup(project_dir, db_url)
    path = project_dir.add_migration("20240101000000", "a", rls_table("a"))
    push(proj, env, find_cli(proj))
    with psycopg.connect(db_url.raw) as conn:
        recorded = conn.execute("select version, how from supadeploy.migration_checksums").fetchall()
    assert recorded == [("20240101000000", "push")]
    path.write_text(rls_table("a") + "\ncreate index a_id on a (id);")
    project_dir.add_migration("20240102000000", "b", rls_table("b"))
    with pytest.raises(ChecksumMismatch, match="20240101000000_a.sql changed after it was applied to local"):
        push(proj, env, find_cli(proj))
    with psycopg.connect(db_url.raw) as conn:
        assert conn.execute("select to_regclass('public.b')").fetchone() == (None,)
    refused = run_invoke(project_dir, "db.push")
    assert refused.returncode == 1 and "invoke db.new" in refused.stderr and "db.repair" in refused.stderr
    repaired = run_invoke(project_dir, "db.repair", "--version", "20240101000000", "--status", "applied")
    assert repaired.returncode == 0, repaired.output
    assert run_invoke(project_dir, "db.push").returncode == 0


def test_pushes_made_before_tracking_are_backfilled_when_statements_match(
    project_dir: ProjectDir, db_url: DbUrl
) -> None:
    from .conftest import raw_supabase

    proj, env = setup(project_dir, db_url)
    project_dir.add_migration("20240101000000", "a", "-- a comment\n" + rls_table("a"))
    edited = project_dir.add_migration("20240102000000", "b", rls_table("b"))
    assert raw_supabase(project_dir, "db", "push", "--yes", url=db_url).returncode == 0
    edited.write_text(rls_table("b", "id bigint"))
    with pytest.raises(ChecksumMismatch, match="20240102000000_b.sql"):
        push(proj, env, find_cli(proj))
    edited.write_text(rls_table("b"))
    push(proj, env, find_cli(proj))
    with psycopg.connect(db_url.raw) as conn:
        rows = conn.execute("select version, how from supadeploy.migration_checksums order by 1").fetchall()
    assert rows == [("20240101000000", "backfill"), ("20240102000000", "backfill")]


def test_a_push_waits_for_the_lock_and_gives_up_after_the_bound(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    proj, env = setup(project_dir, db_url, SUPADEPLOY_LOCK_WAIT="1")
    with psycopg.connect(db_url.raw, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (PUSH_LOCK_KEY,))
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="more than 1s"):
            push(proj, env, find_cli(proj))
        assert time.monotonic() - started < 10
    push(proj, env, find_cli(proj))


def test_protected_targets_get_lock_timeouts_and_retries(project_dir: ProjectDir, db_url: DbUrl) -> None:
    with psycopg.connect(db_url.raw, autocommit=True) as conn:
        conn.execute(rls_table("busy"))
    project_dir.add_migration("20240101000000", "alter_busy", "alter table busy add column note text;")
    proj, env = setup(project_dir, db_url, "production", SUPADEPLOY_LOCK_TIMEOUT="300ms", SUPADEPLOY_LOCK_RETRIES="3")
    holder = psycopg.connect(db_url.raw)
    holder.execute("lock table busy in access exclusive mode")
    releaser = threading.Timer(5, holder.rollback)
    releaser.start()
    lines: list[str] = []
    try:
        result = push(proj, env, find_cli(proj), on_line=lines.append)
    finally:
        releaser.join()
        holder.close()
    assert result.applied == ("20240101000000_alter_busy.sql",)
    assert any("lock timeout in 20240101000000_alter_busy.sql: retry 1/3" in line for line in lines), lines


def test_retries_are_bounded(project_dir: ProjectDir, db_url: DbUrl) -> None:
    with psycopg.connect(db_url.raw, autocommit=True) as conn:
        conn.execute(rls_table("busy"))
    project_dir.add_migration("20240101000000", "alter_busy", "alter table busy add column note text;")
    project_dir.set_env(
        "production", SUPABASE_DB_URL=db_url.raw, SUPADEPLOY_LOCK_TIMEOUT="100ms", SUPADEPLOY_LOCK_RETRIES="1"
    )
    with psycopg.connect(db_url.raw) as holder:
        holder.execute("lock table busy in access exclusive mode")
        ran = run_invoke(project_dir, "db.push", "--env", "production", "--yes")
    assert ran.returncode == 1
    assert "lock timeout" in ran.stderr.lower() and "55P03" in ran.stderr
    assert "retry 1/1" in ran.stderr


@pytest.mark.parametrize("hold_connection", [False, True], ids=["template-clone", "scratch-copy-of-its-history"])
def test_dry_run_validates_each_file(project_dir: ProjectDir, db_url: DbUrl, hold_connection: bool) -> None:
    proj, env = setup(project_dir, db_url)
    project_dir.add_migration("20240101000000", "good", rls_table("good"))
    project_dir.add_migration("20240102000000", "bad", rls_table("t") + "\nalter table missing add column x int;\n")
    project_dir.add_migration("20240103000000", "later", rls_table("later"))
    other = psycopg.connect(db_url.raw) if hold_connection else None  # a live database has other sessions
    try:
        result = push(proj, env, find_cli(proj), dry_run=True)
    finally:
        if other is not None:
            other.close()
    method = "scratch" if hold_connection else "clone"
    assert [(c.filename, c.ok, c.method) for c in result.validation] == [
        ("20240101000000_good.sql", True, method),
        ("20240102000000_bad.sql", False, method),
        ("20240103000000_later.sql", None, method),
    ]
    assert 'relation "missing" does not exist' in result.validation[1].reason
    assert all(c.seconds is not None for c in result.validation[:2])
    with psycopg.connect(db_url.raw) as conn:
        assert conn.execute("select to_regclass('public.good')").fetchone() == (None,)
        dbs = conn.execute("select count(*) from pg_database where datname like 'supadeploy\\_scratch\\_%'").fetchone()
        assert dbs == (0,)
    ran = run_invoke(project_dir, "db.push", "--dry-run")
    assert ran.returncode == 1
    assert "would FAIL" in ran.stdout and "dry run: 20240102000000_bad.sql would fail" in ran.stderr


def test_repair_rejects_bad_input(project_dir: ProjectDir, db_url: DbUrl) -> None:
    proj, env = setup(project_dir, db_url)
    with pytest.raises(ConfigError, match="unknown status"):
        repair(proj, env, find_cli(proj), ["1"], "maybe")
    with pytest.raises(ConfigError, match="no migration file for version"):
        repair(proj, env, find_cli(proj), ["20990101000000"], "applied")
