"""Faults with real processes and a real server: concurrent pushes, kill -9, a restart mid-push."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from supadeploy.dburl import DbUrl

from .conftest import REPO, ProjectDir, Server, clean_environ, database_from, run_invoke

pytestmark = pytest.mark.e2e
FILES = 8


def slow_migrations(project_dir: ProjectDir, count: int = FILES, sleep: float = 0.05) -> list[str]:
    """Migrations that each take a moment, create a table and log themselves once."""
    project_dir.add_migration(
        "20240100000000",
        "push_log",
        "create table push_log (version text not null, at timestamptz default clock_timestamp());\n"
        "alter table push_log enable row level security;\n",
    )
    versions = []
    for i in range(count):
        version = f"202401{i + 1:02d}000000"
        project_dir.add_migration(
            version,
            f"step_{i}",
            f"select pg_sleep({sleep});\n"
            f"create table step_{i} (id bigint primary key);\n"
            f"alter table step_{i} enable row level security;\n"
            f"insert into push_log (version) values ('{version}');\n",
        )
        versions.append(version)
    return versions


def state(url: DbUrl, versions: list[str]) -> dict[str, tuple[bool, bool, int]]:
    """Per version: (in the CLI's history, its table exists, how many times it logged itself)."""
    with psycopg.connect(url.raw) as conn:
        history = (
            {v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations").fetchall()}
            if conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone()[0]
            else set()
        )
        has_log = conn.execute("select to_regclass('public.push_log')").fetchone()[0] is not None
        logged = dict(conn.execute("select version, count(*) from push_log group by 1").fetchall()) if has_log else {}
        result = {}
        for i, version in enumerate(versions):
            exists = conn.execute("select to_regclass(%s)", (f"public.step_{i}",)).fetchone()[0] is not None
            result[version] = (version in history, exists, int(logged.get(version, 0)))
    return result


def assert_no_partial(observed: dict[str, tuple[bool, bool, int]]) -> None:
    for version, (in_history, exists, logged) in observed.items():
        assert (in_history, exists, logged) in ((True, True, 1), (False, False, 0)), (version, observed)


def start_push(project_dir: ProjectDir, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), "db.push", *args],
        cwd=project_dir.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=clean_environ(SUPADEPLOY_PROJECT_DIR=str(project_dir.root)),
    )


def test_eight_concurrent_pushes_apply_each_migration_once(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    versions = slow_migrations(project_dir)
    pushes = [start_push(project_dir) for _ in range(8)]
    outcomes = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in pushes]  # type: ignore[union-attr]
    for code, out, err in outcomes:
        assert code == 0, out + err
    assert sum("applied 9 migration(s)" in out for _, out, _ in outcomes) == 1
    assert sum("up to date" in out for _, out, _ in outcomes) == 7
    observed = state(db_url, versions)
    assert all(v == (True, True, 1) for v in observed.values()), observed


def test_kill_9_never_leaves_a_partial_migration(
    project_dir: ProjectDir, pg_server: Server, schema_template: str, template_db: str
) -> None:
    rng = random.Random(20261125)
    versions = slow_migrations(project_dir, sleep=0.1)
    killed_mid_way = 0
    for _trial in range(20):
        with database_from(pg_server, template_db, "kill") as url:
            project_dir.set_env("local", SUPABASE_DB_URL=url.raw)
            push = start_push(project_dir)
            # Kill at a random moment once the CLI is applying files (the files take about 0.8s in all).
            for line in push.stderr:  # type: ignore[union-attr]
                if "Applying migration" in line:
                    break
            time.sleep(rng.uniform(0.0, 1.0))
            push.send_signal(signal.SIGKILL)
            push.wait(timeout=60)
            time.sleep(0.3)  # the server notices the dropped sessions and rolls back their transactions
            observed = state(url, versions)
            assert_no_partial(observed)
            if 0 < sum(v[0] for v in observed.values()) < len(versions):
                killed_mid_way += 1
            again = run_invoke(project_dir, "db.push")
            assert again.returncode == 0, again.output
            assert all(v == (True, True, 1) for v in state(url, versions).values())
    assert killed_mid_way >= 3, "the kills should land in the middle of pushes, not only before or after"


def test_a_server_restart_mid_push_is_a_clear_error_then_a_rerun_converges(
    project_dir: ProjectDir, pg_server: Server, db_url: DbUrl
) -> None:
    if pg_server.cluster is None:
        pytest.skip("needs the session's own cluster to restart")
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    versions = slow_migrations(project_dir, sleep=0.4)
    push = start_push(project_dir)
    time.sleep(1.8)
    pg_server.cluster.restart()
    code = push.wait(timeout=120)
    out, err = push.stdout.read(), push.stderr.read()  # type: ignore[union-attr]
    assert code == 1, out + err
    assert "Traceback" not in err
    assert sum(line.startswith("error: ") for line in err.splitlines()) == 1, err
    assert_no_partial(state(db_url, versions))
    again = run_invoke(project_dir, "db.push")
    assert again.returncode == 0, again.output
    assert all(v == (True, True, 1) for v in state(db_url, versions).values())
