"""The CLI is started while the gates after the lock run: it must apply nothing until every gate has passed."""

from __future__ import annotations

import time

import psycopg
import pytest

from supadeploy import environments
from supadeploy import push as pipeline
from supadeploy.dburl import DbUrl
from supadeploy.errors import HistoryConflict
from supadeploy.project import Project
from supadeploy.supabase_cli import find_cli

from .conftest import ProjectDir, rls_table

pytestmark = pytest.mark.e2e
PATIENCE = 60.0  # the CLI starts in about 0.5 s; far longer on a loaded machine


def blocked_cli_backends(url: DbUrl) -> int:
    """Sessions of the CLI waiting for a lock on its history table."""
    with psycopg.connect(url.raw) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where datname = %s and wait_event_type = 'Lock' and query ilike %s",
            (url.dbname, "%supabase_migrations.schema_migrations%"),
        ).fetchone()
    return int(row[0]) if row else 0


def tables(url: DbUrl) -> set[str]:
    with psycopg.connect(url.raw) as conn:
        return {t for (t,) in conn.execute("select tablename from pg_tables where schemaname = 'public'")}


def once_the_cli_got_going(url: DbUrl) -> tuple[int, set[str]]:
    """Wait (inside a gate) until the CLI waits on its history table or has applied the pending file."""
    deadline = time.monotonic() + PATIENCE
    while True:
        blocked, present = blocked_cli_backends(url), tables(url)
        if blocked or "b" in present or time.monotonic() > deadline:
            return blocked, present
        time.sleep(0.1)


@pytest.fixture
def pushed_once(project_dir: ProjectDir, db_url: DbUrl) -> tuple[Project, environments.Environment]:
    """A target with a history (so the CLI is started early), and one more file pending."""
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    proj = Project(project_dir.root)
    env = environments.resolve(proj, "local", environ={})
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    pipeline.push(proj, env, find_cli(proj))
    project_dir.add_migration("20240102000000", "b", rls_table("b"))
    return proj, env


def test_a_gate_failing_while_the_cli_waits_applies_nothing(
    pushed_once: tuple[Project, environments.Environment], monkeypatch: pytest.MonkeyPatch
) -> None:
    proj, env = pushed_once
    seen: list[int] = []

    def slow_refusal(run: object) -> None:
        seen.append(once_the_cli_got_going(env.url)[0])
        raise HistoryConflict("refused by the test's last gate")

    monkeypatch.setattr(pipeline, "GATES", (*pipeline.GATES, slow_refusal))
    with pytest.raises(HistoryConflict, match="refused by the test"):
        pipeline.push(proj, env, find_cli(proj))
    assert seen == [1], "the CLI had started and was held at its first read of the history"
    assert tables(env.url) == {"a"}
    with psycopg.connect(env.url.raw) as conn:
        versions = [v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations")]
    assert versions == ["20240101000000"]
    deadline = time.monotonic() + PATIENCE
    while blocked_cli_backends(env.url) and time.monotonic() < deadline:
        time.sleep(0.1)  # the killed CLI's session ends once the server notices
    assert blocked_cli_backends(env.url) == 0 and tables(env.url) == {"a"}


def test_the_cli_started_early_applies_once_the_gates_pass(
    pushed_once: tuple[Project, environments.Environment], monkeypatch: pytest.MonkeyPatch
) -> None:
    proj, env = pushed_once
    seen: list[tuple[int, set[str]]] = []

    def slow_pass(run: object) -> None:
        seen.append(once_the_cli_got_going(env.url))

    monkeypatch.setattr(pipeline, "GATES", (*pipeline.GATES, slow_pass))
    result = pipeline.push(proj, env, find_cli(proj))
    assert seen == [(1, {"a"})]  # held, nothing applied while the gates ran
    assert result.applied == ("20240102000000_b.sql",)
    assert tables(env.url) == {"a", "b"}
