"""The rollback path on the shipped schema, with real processes: backup, restore, kills, concurrency.

db.backup -> change -> db.restore gives back exactly the backup point (every schema's pg_dump --schema-only,
every table's rows, the trigger on auth.users and a storage policy that depend on ours); backups never
share a file; a restore waits for a push; kill -9 during a backup, a restore or a dry run leaves no
process and, after the next run, no database or partial file behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg import sql

from supadeploy import backups
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment
from supadeploy.pgtools import client_tool
from supadeploy.project import Project

from . import world
from .conftest import REPO, ProjectDir, Server, clean_environ, database_from, rls_table, run_invoke
from .test_faults import slow_migrations, state

pytestmark = pytest.mark.e2e

SYSTEM = ("pg_catalog", "information_schema", "pg_toast")
STORAGE_POLICY = (
    'create policy "team files: members read" on storage.objects for select to authenticated '
    "using (bucket_id = 'team-files' and (storage.foldername(name))[1]::uuid = any (private.team_ids('viewer')))"
)


# --- helpers -------------------------------------------------------------------------------------


def start_invoke(project_dir: ProjectDir, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args],
        cwd=project_dir.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=clean_environ(SUPADEPLOY_PROJECT_DIR=str(project_dir.root)),
    )


def wait_for(condition: Callable[[], object], seconds: float = 60, what: str = "") -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def sessions(admin: DbUrl, where: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(admin.with_dbname("postgres").raw, autocommit=True) as conn:
        return conn.execute(
            f"select pid, datname, application_name, wait_event_type, query from pg_stat_activity where {where}",
            params,
        ).fetchall()


def kill_and_reap(process: subprocess.Popen[str]) -> set[str]:
    """kill -9 the task; every child it had must be gone within a few seconds. Returns their names."""
    children = psutil.Process(process.pid).children(recursive=True)
    assert children, "the task should have been running a tool"
    names = {child.name() for child in children}
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"children outlived the killed task: {[(p.pid, p.name()) for p in alive]}"
    return names


def whole_schema(admin: DbUrl) -> str:
    """pg_dump --schema-only of the whole database, every schema (Supabase's included)."""
    done = subprocess.run(
        [client_tool("pg_dump"), "--schema-only", "--dbname", admin.without_password],
        capture_output=True,
        text=True,
        check=True,
        env={**clean_environ(PGPASSWORD=admin.password or "", PGSSLMODE="disable")},
    )
    return "\n".join(line for line in done.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def tables(conn: psycopg.Connection, schemas: list[str] | None = None) -> list[sql.Identifier]:
    rows = conn.execute(
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where c.relkind in ('r', 'p') and n.nspname <> all(%s) and (%s::text[] is null or n.nspname = any(%s))"
        " order by 1, 2",
        (list(SYSTEM), schemas, schemas),
    ).fetchall()
    return [sql.Identifier(schema, name) for schema, name in rows]


def has_rows(conn: psycopg.Connection, table: sql.Identifier) -> bool:
    return bool(conn.execute(sql.SQL("select exists (select from {})").format(table)).fetchone()[0])


def every_row(admin: DbUrl) -> dict[str, list[str]]:
    """Every table's rows, as text, in a stable order: row for row."""
    with psycopg.connect(admin.raw) as conn:
        found = {}
        for table in tables(conn):
            rows = conn.execute(sql.SQL("select t::text from {} t order by 1").format(table)).fetchall()
            found[table.as_string(conn)] = [row for (row,) in rows]
        return found


SAMPLES = {
    "text": "x",
    "uuid": "00000000-0000-0000-0000-000000000001",
    "boolean": "false",
    "jsonb": "{}",
    "text[]": "{x}",
    "timestamp with time zone": "now",
}


def fill_empty_tables(conn: psycopg.Connection, schemas: list[str]) -> None:
    """One row in each table still empty: defaults, a value of each NOT NULL column's type, a referenced key."""
    for _ in range(3):  # a table referencing another empty one gets its row on a later pass
        for table in tables(conn, schemas):
            if has_rows(conn, table):
                continue
            columns = conn.execute(
                "select a.attname, a.atttypid::regtype::text, t.typtype = 'e', ref.relid, ref.attname"
                " from pg_attribute a join pg_type t on t.oid = a.atttypid"
                " left join lateral (select fk.confrelid::regclass::text as relid, ra.attname from pg_constraint fk"
                "   join pg_attribute ra on ra.attrelid = fk.confrelid and ra.attnum = fk.confkey[1]"
                "   where fk.conrelid = a.attrelid and fk.contype = 'f' and fk.conkey[1] = a.attnum limit 1) ref"
                " on true"
                " where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped and a.attnotnull"
                " and not a.atthasdef and a.attidentity = '' and a.attgenerated = ''",
                (table.as_string(conn),),
            ).fetchall()
            values = []
            for _, type_name, enum, relid, referenced in columns:
                kind = sql.SQL(type_name)  # regtype's own text: a qualified, quoted type name
                if relid:
                    values.append(
                        sql.SQL("(select {} from {} limit 1)").format(sql.Identifier(referenced), sql.SQL(relid))
                    )
                elif enum:
                    values.append(sql.SQL("(enum_range(null::{}))[1]").format(kind))
                else:
                    values.append(sql.SQL("{}::{}").format(sql.Literal(SAMPLES.get(type_name, "1")), kind))
            names = sql.SQL(", ").join(sql.Identifier(name) for name, *_ in columns)
            insert = sql.SQL("insert into {} ({}) values ({})").format(table, names, sql.SQL(", ").join(values))
            if not columns:
                insert = sql.SQL("insert into {} default values").format(table)
            try:
                with conn.transaction():
                    conn.execute(insert)
            except psycopg.Error:
                pass  # another pass, once what it references has rows


@pytest.fixture
def bk(tmp_path: Path) -> Path:
    """A folder for backups (the project folder holds .env files)."""
    return tmp_path / "backups"


@pytest.fixture
def shipped(project_dir: ProjectDir, pg_server: Server, app_url: DbUrl) -> Iterator[DbUrl]:
    """The shipped schema (every file in supabase/migrations) as staging, with data in every table of ours."""
    for path in sorted((REPO / "supabase" / "migrations").glob("*.sql")):
        shutil.copy(path, project_dir.migrations / path.name)
    project_dir.set_env("staging", SUPABASE_DB_URL=app_url.raw)
    admin = pg_server.admin(app_url)
    with psycopg.connect(app_url.raw, autocommit=True) as conn:
        conn.execute(STORAGE_POLICY)  # as a project does: a storage policy calling our function
    with psycopg.connect(admin.raw, autocommit=True) as conn:
        world.build(conn)
        conn.execute("insert into storage.buckets (id, name) values ('team-files', 'team-files')")
        ours = [
            n
            for (n,) in conn.execute(
                "select nspname from pg_namespace where pg_get_userbyid(nspowner) in ('postgres', 'pg_database_owner')"
                " and nspname not in ('extensions', 'graphql_public', 'realtime')"
            ).fetchall()
        ]
        fill_empty_tables(conn, ours)
        empty = [t.as_string(conn) for t in tables(conn, ours) if not has_rows(conn, t)]
    assert not empty, f"no rows could be made for {empty}: add them to tests/world.py"
    yield app_url


# --- restore gives back the backup point ------------------------------------------------------------


def test_backup_change_restore_gives_back_exactly_the_backup_point_on_the_shipped_schema(
    project_dir: ProjectDir, pg_server: Server, shipped: DbUrl, bk: Path
) -> None:
    admin = pg_server.admin(shipped)
    schema_before, rows_before = whole_schema(admin), every_row(admin)
    assert "on_auth_user_created" in schema_before and "team files: members read" in schema_before
    made = run_invoke(project_dir, "db.backup", "--env", "staging", "--backup-dir", str(bk))
    assert made.returncode == 0, made.output
    (dump,) = bk.glob("staging-*.dump")

    # A later migration (tables, one with an identity column, a function, a changed policy and grant), a hand
    # edit, data written since.
    project_dir.add_migration(
        "20991231000000",
        "regret",
        rls_table("public.regret", "id bigint primary key")
        + "\ncreate table public.gadgets (id bigint generated always as identity primary key);"
        + "\nalter table public.gadgets enable row level security;"
        + "\ncreate schema reporting;\ncreate function reporting.f() returns int language sql as $$ select 1 $$;"
        + '\ndrop policy "teams: members read" on public.teams;'
        + '\ncreate policy "teams: members read" on public.teams for select to authenticated using (true);'
        + "\ngrant select on public.profiles to anon;",
    )
    pushed = run_invoke(project_dir, "db.push", "--env", "staging", "--skip-lint")
    assert pushed.returncode == 0, pushed.output
    with psycopg.connect(admin.raw, autocommit=True) as conn:
        conn.execute("delete from public.ad_campaigns")
        conn.execute("update public.teams set name = name || ' (renamed)'")
        conn.execute("insert into public.projects (team_id, name) values (%s, 'since')", (world.TEAM,))
        conn.execute("drop trigger on_auth_user_created on auth.users")
        conn.execute('drop policy "team files: members read" on storage.objects')
        conn.execute(
            "create or replace function private.touch_updated_at() returns trigger language plpgsql"
            " as $$ begin return new; end $$"
        )
    assert whole_schema(admin) != schema_before and every_row(admin) != rows_before

    restored = run_invoke(project_dir, "db.restore", "--env", "staging", "--from", str(dump), "--yes")
    assert restored.returncode == 0, restored.output
    assert whole_schema(admin) == schema_before
    assert every_row(admin) == rows_before
    # The history is the backup point's: the later migration is pending again, and applies again.
    again = run_invoke(project_dir, "db.push", "--env", "staging", "--skip-lint")
    assert again.returncode == 0 and "applied 1 migration(s)" in again.stdout, again.output


def test_backups_made_in_the_same_second_never_share_a_file(
    project_dir: ProjectDir, shipped: DbUrl, bk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)

    monkeypatch.setattr(backups, "datetime", Frozen)
    env = Environment.for_url("staging", shipped)
    proj = Project(project_dir.root)
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(lambda _: backups.backup(proj, env, folder=str(bk)), range(4)))
    assert len({m.file for m in made}) == 4
    for manifest in made:
        dump = Path(manifest.file)
        assert dump.name.startswith("staging-20261125T120000Z")
        assert hashlib.sha256(dump.read_bytes()).hexdigest() == manifest.sha256
        assert json.loads(dump.with_suffix(".manifest.json").read_text())["file"] == str(dump)
        assert dump.stat().st_mode & 0o077 == 0  # a backup holds the data: only its owner reads it
    assert not list(bk.glob(".*"))  # no partial file left

    # Two tasks started together, as two promotions would be.
    runs = [
        start_invoke(project_dir, "db.backup", "--env", "staging", "--backup-dir", str(bk / "cli")) for _ in range(2)
    ]
    assert [r.wait(timeout=120) for r in runs] == [0, 0]
    kept = sorted((bk / "cli").glob("*.dump"))
    assert len(kept) == 2
    for dump in kept:
        manifest = json.loads(dump.with_suffix(".manifest.json").read_text())
        assert hashlib.sha256(dump.read_bytes()).hexdigest() == manifest["sha256"]


def test_a_restore_waits_for_a_push_on_the_same_target(
    project_dir: ProjectDir, pg_server: Server, template_db: str, bk: Path
) -> None:
    with database_from(pg_server, template_db, "rdp") as url:
        project_dir.set_env("staging", SUPABASE_DB_URL=url.raw)
        made = run_invoke(project_dir, "db.backup", "--env", "staging", "--backup-dir", str(bk))
        assert made.returncode == 0, made.output
        (dump,) = bk.glob("*.dump")
        versions = slow_migrations(project_dir, sleep=0.3)
        push = start_invoke(project_dir, "db.push", "--env", "staging")
        for line in push.stderr:  # type: ignore[union-attr]
            if "Applying migration" in line:
                break
        restore = start_invoke(project_dir, "db.restore", "--env", "staging", "--from", str(dump), "--yes")
        waiting = "datname = %s and wait_event_type = 'Lock' and wait_event = 'advisory'"
        wait_for(lambda: sessions(pg_server.url, waiting, url.dbname), what="the restore waiting for the push lock")
        assert push.poll() is None, "the restore should be waiting while the push runs"
        assert push.wait(timeout=120) == 0
        assert "applied 9 migration(s)" in push.stdout.read()  # type: ignore[union-attr]
        assert restore.wait(timeout=120) == 0, restore.stderr.read()  # type: ignore[union-attr]
        assert all(v == (False, False, 0) for v in state(url, versions).values())  # then the backup point


# --- kill -9: no process left, and the next run converges ----------------------------------------


def test_kill_9_during_a_backup_leaves_no_pg_dump_and_the_next_backup_cleans_up(
    project_dir: ProjectDir, pg_server: Server, shipped: DbUrl, bk: Path
) -> None:
    admin = pg_server.admin(shipped)
    with psycopg.connect(admin.raw) as holder:
        holder.execute("lock table public.teams in access exclusive mode")  # pg_dump waits for it
        task = start_invoke(project_dir, "db.backup", "--env", "staging", "--backup-dir", str(bk))
        wait_for(
            lambda: sessions(
                admin, "datname = %s and application_name = 'pg_dump' and wait_event_type = 'Lock'", shipped.dbname
            ),
            what="pg_dump waiting for the lock",
        )
        kill_and_reap(task)
        assert list(bk.glob(".staging-*.partial")), "the killed backup's partial file"
    wait_for(lambda: not sessions(admin, "application_name = 'pg_dump'"), seconds=30, what="pg_dump's session")
    again = run_invoke(project_dir, "db.backup", "--env", "staging", "--backup-dir", str(bk))
    assert again.returncode == 0, again.output
    assert len(list(bk.glob("*.dump"))) == 1 and not list(bk.glob(".*"))


def test_kill_9_during_a_restore_changes_nothing_and_the_next_restore_converges(
    project_dir: ProjectDir, pg_server: Server, shipped: DbUrl, bk: Path
) -> None:
    admin = pg_server.admin(shipped)
    made = run_invoke(project_dir, "db.backup", "--env", "staging", "--backup-dir", str(bk))
    assert made.returncode == 0, made.output
    (dump,) = bk.glob("*.dump")
    with psycopg.connect(admin.raw, autocommit=True) as conn:
        conn.execute("update public.teams set name = 'after the backup'")
    schema, rows = whole_schema(admin), every_row(admin)
    with psycopg.connect(admin.raw) as holder:
        holder.execute("lock table public.teams in access share mode")  # the restore's drops wait for it
        task = start_invoke(project_dir, "db.restore", "--env", "staging", "--from", str(dump), "--yes")
        wait_for(
            lambda: sessions(
                admin, "datname = %s and application_name = 'psql' and wait_event_type = 'Lock'", shipped.dbname
            ),
            what="the restore waiting for the lock",
        )
        assert {"psql", "pg_restore"} <= kill_and_reap(task)
    wait_for(lambda: not sessions(admin, "application_name = 'psql'"), seconds=30, what="psql's session")
    assert whole_schema(admin) == schema and every_row(admin) == rows  # nothing half-restored
    again = run_invoke(project_dir, "db.restore", "--env", "staging", "--from", str(dump), "--yes")
    assert again.returncode == 0, again.output
    with psycopg.connect(admin.raw) as conn:
        assert "after the backup" not in {n for (n,) in conn.execute("select name from public.teams")}


def test_kill_9_during_a_dry_run_leaves_no_cli_and_the_next_run_drops_its_database(
    project_dir: ProjectDir, pg_server: Server, db_url: DbUrl
) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    assert run_invoke(project_dir, "db.push").returncode == 0
    slow = project_dir.add_migration("20240102000000", "slow", "select pg_sleep(60);\n" + rls_table("b"))
    scratch_like = "datname like 'supadeploy\\_scratch\\_%%'"
    with psycopg.connect(db_url.raw) as busy:  # an app is connected: the dry run rebuilds the history elsewhere
        busy.execute("select 1")
        task = start_invoke(project_dir, "db.push", "--dry-run")
        (found,) = wait_for(
            lambda: sessions(pg_server.url, f"{scratch_like} and query like '%%pg_sleep%%'"),
            what="the CLI applying the slow file to the scratch database",
        )
        leftover = str(found[1])
        assert leftover.split("_")[-2] == str(task.pid)  # named with the killed run's pid
        kill_and_reap(task)
        assert run_invoke(project_dir, "db.status").returncode == 0  # the target was never touched
        slow.write_text(rls_table("b"))
        again = run_invoke(project_dir, "db.push", "--dry-run")
    assert again.returncode == 0, again.output
    assert "would apply" in again.stdout and "(scratch)" in again.stdout
    with psycopg.connect(pg_server.url.raw) as conn:
        left = conn.execute(f"select datname from pg_database where {scratch_like}".replace("%%", "%")).fetchall()
    assert left == []
