"""A push that meets a lock: real blocking transactions, production-like readers, a killed index build.

On a protected target a waiting ALTER gives up within lock_timeout (500 ms by default), the reads queued
behind it wait no longer than that, and a retry succeeds once the blocker is gone. A CREATE INDEX
CONCURRENTLY that fails leaves an INVALID index: it is dropped after the failure (or before the next
push), the build is retried or the failure reported, and the blocking session is named.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from supadeploy import environments
from supadeploy.dburl import DbUrl
from supadeploy.errors import PushFailed
from supadeploy.index_builds import file_shape, statement_number
from supadeploy.project import Project
from supadeploy.push import push
from supadeploy.supabase_cli import find_cli

from .conftest import REPO, ProjectDir, clean_environ

READ = "select extract(epoch from clock_timestamp() - statement_timestamp())::float8 from busy limit 1"
# A statement's own start-up and a loaded machine's scheduling, on top of lock_timeout.
SLACK = 0.3


def setup(project_dir: ProjectDir, url: DbUrl, name: str, **extra: str):  # noqa: ANN201
    project_dir.set_env(name, SUPABASE_DB_URL=url.raw, **extra)
    proj = Project(project_dir.root)
    return proj, environments.resolve(proj, name, environ={})


@contextmanager
def readers(url: DbUrl) -> Iterator[list[float]]:
    """Production-like reads of `busy` in a loop; yields how long each waited for its lock (server's clock)."""
    waits: list[float] = []
    stop = threading.Event()

    def loop() -> None:
        # The simple query protocol: statement_timestamp() is when the query arrived, before it waited for its lock.
        with psycopg.connect(url.raw, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
            while not stop.is_set():
                row = conn.execute(READ).fetchone()
                waits.append(row[0] if row else 0.0)
                time.sleep(0.02)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield waits
    finally:
        stop.set()
        thread.join(timeout=30)


def hold(url: DbUrl, statement: str, seconds: float) -> tuple[psycopg.Connection, threading.Timer, int]:
    """Run statement in an open transaction, rolled back after `seconds`; returns the connection, timer and pid."""
    holder = psycopg.connect(url.raw)
    holder.execute(statement)
    timer = threading.Timer(seconds, holder.rollback)
    timer.start()
    return holder, timer, holder.info.backend_pid


def index_state(url: DbUrl, name: str) -> list[bool]:
    """indisvalid of each index named `name` (none: [])."""
    with psycopg.connect(url.raw) as conn:
        rows = conn.execute(
            "select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = %s",
            (name,),
        ).fetchall()
    return [bool(valid) for (valid,) in rows]


def applied_versions(url: DbUrl) -> list[str]:
    with psycopg.connect(url.raw) as conn:
        return [v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations order by 1")]


def make_busy(url: DbUrl, rows: int = 1000) -> None:
    with psycopg.connect(url.raw, autocommit=True) as conn:
        conn.execute("create table busy (id bigint primary key, v int not null)")
        conn.execute("alter table busy enable row level security")
        conn.execute("insert into busy select g, g %% 100 from generate_series(1, %s) g", (rows,))
        conn.execute("analyze busy")


@pytest.mark.e2e
def test_a_blocked_alter_gives_up_within_the_timeout_reads_wait_no_longer_and_the_retry_succeeds(
    project_dir: ProjectDir, db_url: DbUrl
) -> None:
    make_busy(db_url)
    project_dir.add_migration("20240101000000", "alter_busy", "alter table busy add column note text;")
    proj, env = setup(project_dir, db_url, "production")  # protected; lock_timeout and retries by default
    lines: list[str] = []
    holder, timer, blocker = hold(db_url, "select count(*) from busy", 3.0)  # a long read holds ACCESS SHARE
    try:
        with readers(db_url) as waits:
            result = push(proj, env, find_cli(proj), on_line=lines.append)
    finally:
        timer.join()
        holder.close()
    assert result.applied == ("20240101000000_alter_busy.sql",)
    retries = [line for line in lines if line.startswith("lock timeout in 20240101000000_alter_busy.sql: retry ")]
    assert retries and retries[0].endswith("s") and "/10 in " in retries[0], lines
    named = [
        i for i, line in enumerate(lines) if f"blocked by pid {blocker} (" in line and "idle in transaction" in line
    ]
    assert named and named[0] < lines.index(retries[0]), (
        lines
    )  # the first attempt's blocker too (the CLI started early)
    # The readers were queued behind the waiting ALTER (the hazard was real), never for longer than its timeout.
    assert max(waits) > 0.2, waits
    assert max(waits) < 0.5 + SLACK, sorted(waits)[-5:]


@pytest.mark.e2e
def test_a_concurrent_build_blocked_by_a_writer_is_cleaned_up_and_retried_until_it_succeeds(
    project_dir: ProjectDir, db_url: DbUrl
) -> None:
    make_busy(db_url)
    project_dir.add_migration(
        "20240101000000",
        "busy_v",
        "-- a build that waits for writers\ncreate index concurrently busy_v_idx on busy (v);\n",
    )
    proj, env = setup(project_dir, db_url, "production")
    lines: list[str] = []
    holder, timer, blocker = hold(db_url, "update busy set v = v where id = 1", 2.5)  # an open write transaction
    try:
        result = push(proj, env, find_cli(proj), on_line=lines.append)
    finally:
        timer.join()
        holder.close()
    assert result.applied == ("20240101000000_busy_v.sql",)
    assert index_state(db_url, "busy_v_idx") == [True]
    assert any(f"blocked by pid {blocker} (" in line for line in lines), lines
    assert any("INVALID index public.busy_v_idx" in line for line in lines), lines
    with psycopg.connect(db_url.raw) as conn:
        assert conn.execute("select count(*) from pg_index where not indisvalid").fetchone() == (0,)


@pytest.mark.e2e
def test_a_killed_build_leaves_no_invalid_index_and_a_rerun_builds_it(project_dir: ProjectDir, db_url: DbUrl) -> None:
    make_busy(db_url, rows=3000)
    with psycopg.connect(db_url.raw, autocommit=True) as conn:
        # An index expression that takes a millisecond a row: the build lasts a few seconds.
        conn.execute(
            "create function slow_v(v int) returns int language plpgsql immutable "
            "as $$ begin perform pg_sleep(0.001); return v; end $$"
        )
    project_dir.add_migration(
        "20240101000000", "slow_idx", "create index concurrently busy_slow_idx on busy (slow_v(v));"
    )
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    running = subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), "db.push"],
        cwd=project_dir.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=clean_environ(SUPADEPLOY_PROJECT_DIR=str(project_dir.root)),
    )
    with psycopg.connect(db_url.raw, autocommit=True) as watcher:
        builder = None
        deadline = time.monotonic() + 60
        while builder is None and time.monotonic() < deadline and running.poll() is None:
            row = watcher.execute(
                "select pid from pg_stat_progress_create_index where datname = current_database() "
                "and phase like 'building index%%'"
            ).fetchone()
            builder = row[0] if row else None
            time.sleep(0.02)
        assert builder is not None, "the build never started"
        assert index_state(db_url, "busy_slow_idx") == [False]  # mid-build: the catalog entry is there, INVALID
        watcher.execute("select pg_terminate_backend(%s)", (builder,))
    out, err = running.communicate(timeout=120)
    assert running.returncode == 1, out + err
    [error] = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "20240101000000_slow_idx.sql" in error
    assert "dropped the INVALID index public.busy_slow_idx that the failed build left" in error
    assert index_state(db_url, "busy_slow_idx") == []
    assert applied_versions(db_url) == []
    proj, env = setup(project_dir, db_url, "local")
    push(proj, env, find_cli(proj))
    assert index_state(db_url, "busy_slow_idx") == [True]
    assert applied_versions(db_url) == ["20240101000000"]


@pytest.mark.e2e
def test_an_earlier_failed_builds_invalid_index_is_dropped_before_the_push(
    project_dir: ProjectDir, db_url: DbUrl
) -> None:
    make_busy(db_url)
    with psycopg.connect(db_url.raw, autocommit=True) as conn:
        # An earlier attempt at the same index, on duplicates, left it INVALID (as a killed push would).
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("create unique index concurrently busy_v_idx on busy (v)")
    assert index_state(db_url, "busy_v_idx") == [False]
    project_dir.add_migration(
        "20240101000000", "busy_v", "create index concurrently if not exists busy_v_idx on busy (v);"
    )
    proj, env = setup(project_dir, db_url, "local")
    lines: list[str] = []
    push(proj, env, find_cli(proj), on_line=lines.append)
    assert "dropped the INVALID index public.busy_v_idx that an earlier failed build left" in lines
    assert index_state(db_url, "busy_v_idx") == [True]  # IF NOT EXISTS alone would have kept the broken one


@pytest.mark.e2e
def test_a_failed_unique_build_is_reported_not_retried_and_its_index_dropped(
    project_dir: ProjectDir, db_url: DbUrl
) -> None:
    make_busy(db_url)
    project_dir.add_migration("20240101000000", "unique_v", "create unique index concurrently busy_v_key on busy (v);")
    proj, env = setup(project_dir, db_url, "production")
    lines: list[str] = []
    with pytest.raises(PushFailed, match="23505") as failed:
        push(proj, env, find_cli(proj), on_line=lines.append)
    assert "dropped the INVALID index public.busy_v_key that the failed build left" in str(failed.value)
    assert not any("retry" in line for line in lines), lines
    assert index_state(db_url, "busy_v_key") == []


# --- what the CLI commits before a failed statement (pure) ------------------------------------------


def test_a_file_with_no_statement_outside_the_transaction_can_always_run_again() -> None:
    shape = file_shape("create table a (id int);\nalter table busy add column note text;\n")
    assert (shape.builds, shape.on_their_own, shape.one_by_one) == ((), (), False)
    assert not shape.commits_before(1)


def test_statements_before_a_concurrent_build_are_committed_by_the_cli() -> None:
    shape = file_shape(
        "create table a (id int);\n"
        "create index concurrently if not exists a_idx on public.a (id);\n"
        "create unique index concurrently on b (id);\n"
        "alter table a add column note text;\n"
    )
    assert [(b.statement, b.schema, b.table, b.index) for b in shape.builds] == [
        (1, "public", "a", "a_idx"),
        (2, None, "b", None),
    ]
    assert shape.tables == (("public", "a"), (None, "b"))
    assert shape.on_their_own == (1, 2)
    assert shape.commits_before(1) and shape.commits_before(3)
    assert not shape.commits_before(0)
    alone = file_shape("-- one build per file\ncreate index concurrently a_idx on a (id);\n")
    assert not alone.commits_before(0)


@pytest.mark.parametrize(
    "text",
    [
        "-- pg-delta: transaction=false\ncreate table a (id int);\nalter table a add column b int;\n",
        "begin;\ncreate table a (id int);\ncommit;\nalter table a add column b int;\n",
        "create table a (id int);\nvacuum a;\nalter table a add column b int;\n",
        "create table a (id int);\nreindex index concurrently a_idx;\nalter table a add column b int;\n",
        "create table a (id int);\ndrop index concurrently a_idx;\nalter table a add column b int;\n",
    ],
    ids=["directive", "transaction-control", "vacuum", "reindex-concurrently", "drop-concurrently"],
)
def test_files_the_cli_runs_in_pieces_are_not_run_again_after_their_first_statement(text: str) -> None:
    shape = file_shape(text)
    assert shape.commits_before(2) and not shape.commits_before(0)


def test_analyze_and_plain_index_builds_stay_in_the_files_transaction() -> None:
    shape = file_shape("create table a (id int);\nanalyze a;\ncreate index a_idx on a (id);\n")
    assert shape.on_their_own == () and not shape.commits_before(2)


def test_the_failed_statements_number_is_read_from_the_cli_report() -> None:
    assert statement_number("#3 alter table busy add column note text") == 3
    assert statement_number(None) is None and statement_number("alter table") is None
