"""The CLI is started, asking, while the gates after the lock run: it must apply nothing until every gate has passed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from supadeploy import environments
from supadeploy import push as pipeline
from supadeploy.dburl import DbUrl
from supadeploy.errors import HistoryConflict, MigrationFileError
from supadeploy.project import Project
from supadeploy.supabase_cli import CLI_APPLICATION_NAME, find_cli

from .conftest import ProjectDir, rls_table

pytestmark = pytest.mark.e2e
PATIENCE = 60.0  # the CLI starts in about 0.5 s; far longer on a loaded machine


def cli_asking(url: DbUrl) -> bool:
    """A session of the CLI is idle after reading its history: it has listed the files and asks."""
    with psycopg.connect(url.raw) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where datname = %s and application_name = %s"
            " and state = 'idle' and query ilike %s",
            (url.dbname, CLI_APPLICATION_NAME, "%supabase_migrations.schema_migrations%"),
        ).fetchone()
    return bool(row and row[0])


def cli_sessions(url: DbUrl) -> int:
    with psycopg.connect(url.raw) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where datname = %s and application_name = %s",
            (url.dbname, CLI_APPLICATION_NAME),
        ).fetchone()
    return int(row[0]) if row else 0


def tables(url: DbUrl) -> set[str]:
    with psycopg.connect(url.raw) as conn:
        return {t for (t,) in conn.execute("select tablename from pg_tables where schemaname = 'public'")}


def once_the_cli_asks(url: DbUrl) -> tuple[bool, set[str]]:
    """Wait (inside a gate) until the CLI asks, or has applied the pending file."""
    deadline = time.monotonic() + PATIENCE
    while True:
        asking, present = cli_asking(url), tables(url)
        if asking or "b" in present or time.monotonic() > deadline:
            return asking, present
        time.sleep(0.1)


def mark_b_reverted(url: DbUrl) -> None:
    """What `supabase migration repair --status reverted 20240102000000` does, by someone else."""
    with psycopg.connect(url.raw, autocommit=True) as conn:
        conn.execute("delete from supabase_migrations.schema_migrations where version = '20240102000000'")


def right_after_the_lock(gate: Callable[[Any], None]) -> tuple[Callable[[Any], None], ...]:
    """The push's gates with `gate` run right after the lock gate (as the CLI starts up)."""
    at = pipeline.GATES.index(pipeline.lock) + 1
    return (*pipeline.GATES[:at], gate, *pipeline.GATES[at:])


@pytest.fixture
def pushed_once(project_dir: ProjectDir, db_url: DbUrl) -> tuple[Project, environments.Environment]:
    """A target with a history, and one more file pending."""
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    proj = Project(project_dir.root)
    env = environments.resolve(proj, "local", environ={})
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    pipeline.push(proj, env, find_cli(proj))
    project_dir.add_migration("20240102000000", "b", rls_table("b"))
    return proj, env


@pytest.mark.parametrize("assume_yes", [None, "1"], ids=["plain", "SUPABASE_YES-exported"])
def test_a_gate_failing_while_the_cli_asks_applies_nothing(
    pushed_once: tuple[Project, environments.Environment], monkeypatch: pytest.MonkeyPatch, assume_yes: str | None
) -> None:
    """Also with SUPABASE_YES in the shell, which would have the CLI answer itself before the gates ran."""
    if assume_yes:
        monkeypatch.setenv("SUPABASE_YES", assume_yes)
    proj, env = pushed_once
    seen: list[bool] = []

    def slow_refusal(run: object) -> None:
        seen.append(once_the_cli_asks(env.url)[0])
        raise HistoryConflict("refused by the test's last gate")

    monkeypatch.setattr(pipeline, "GATES", (*pipeline.GATES, slow_refusal))
    with pytest.raises(HistoryConflict, match="refused by the test"):
        pipeline.push(proj, env, find_cli(proj))
    assert seen == [True], "the CLI had started and was asking"
    deadline = time.monotonic() + PATIENCE
    while cli_sessions(env.url) and time.monotonic() < deadline:
        time.sleep(0.1)  # the killed CLI's session ends once the server notices
    assert cli_sessions(env.url) == 0 and tables(env.url) == {"a"}
    with psycopg.connect(env.url.raw) as conn:
        versions = [v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations")]
    assert versions == ["20240101000000"]


def test_the_cli_started_early_applies_once_the_gates_pass(
    pushed_once: tuple[Project, environments.Environment], monkeypatch: pytest.MonkeyPatch
) -> None:
    proj, env = pushed_once
    seen: list[tuple[bool, set[str]]] = []

    def slow_pass(run: object) -> None:
        seen.append(once_the_cli_asks(env.url))

    monkeypatch.setattr(pipeline, "GATES", (*pipeline.GATES, slow_pass))
    result = pipeline.push(proj, env, find_cli(proj))
    assert seen == [(True, {"a"})]  # asking, nothing applied while the gates ran
    assert result.applied == ("20240102000000_b.sql",)
    assert tables(env.url) == {"a", "b"}


def test_the_cli_starts_early_on_an_empty_database_too(
    project_dir: ProjectDir, db_url: DbUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No history table to hold: the CLI's own question holds it."""
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    proj = Project(project_dir.root)
    env = environments.resolve(proj, "local", environ={})
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    project_dir.add_migration("20240102000000", "b", rls_table("b"))
    seen: list[tuple[bool, set[str]]] = []

    def slow_pass(run: object) -> None:
        seen.append(once_the_cli_asks(env.url))

    monkeypatch.setattr(pipeline, "GATES", (*pipeline.GATES, slow_pass))
    result = pipeline.push(proj, env, find_cli(proj))
    assert seen == [(True, set())]
    assert result.applied == ("20240101000000_a.sql", "20240102000000_b.sql")
    assert tables(env.url) == {"a", "b"}


def test_a_history_changed_under_the_gates_stops_the_push_with_nothing_applied(
    pushed_once: tuple[Project, environments.Environment], project_dir: ProjectDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gates checked c; b is marked reverted behind their back before the CLI reads: it would apply b too."""
    proj, env = pushed_once
    pipeline.push(proj, env, find_cli(proj))  # b applied
    project_dir.add_migration("20240103000000", "c", rls_table("c"))

    def revert_b_behind_the_gates(run: object) -> None:
        assert not cli_asking(env.url), "the CLI read its history before the test could change it"
        mark_b_reverted(env.url)

    monkeypatch.setattr(pipeline, "GATES", right_after_the_lock(revert_b_behind_the_gates))
    with pytest.raises(HistoryConflict, match="changed while the gates ran.*20240102000000_b.sql"):
        pipeline.push(proj, env, find_cli(proj))
    assert tables(env.url) == {"a", "b"}  # c not applied, b not run again


def test_a_cli_that_died_before_answering_leaves_no_push_of_a_history_changed_since_the_gates(
    project_dir: ProjectDir, db_url: DbUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The asking CLI dies (a kill, the OOM killer) while b is marked reverted behind the gates' back.

    The push with --yes that replaces it reads the history anew: it would run b again, which the gates of
    this push never checked, then c.
    """
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    proj = Project(project_dir.root)
    env = environments.resolve(proj, "local", environ={})
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    project_dir.add_migration("20240102000000", "b", "insert into a (id) values (1);")
    pipeline.push(proj, env, find_cli(proj))
    project_dir.add_migration("20240103000000", "c", rls_table("c"))

    def kill_the_cli_and_revert_b(run: pipeline._Push) -> None:
        assert run.held is not None
        run.held.proc.kill()
        run.held.proc.wait()
        mark_b_reverted(env.url)

    monkeypatch.setattr(pipeline, "GATES", right_after_the_lock(kill_the_cli_and_revert_b))
    with pytest.raises(HistoryConflict, match="changed while the gates ran.*20240102000000_b.sql"):
        pipeline.push(proj, env, find_cli(proj))
    with psycopg.connect(env.url.raw) as conn:
        rows = conn.execute("select count(*) from a").fetchone()
    assert rows == (1,), "b ran once, when it was pushed"
    assert tables(env.url) == {"a"}  # c not applied


def test_a_file_edited_after_the_gates_read_it_is_not_applied(
    pushed_once: tuple[Project, environments.Environment], project_dir: ProjectDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI reads a file's SQL only once answered: an edit saved while the gates ran was never linted."""
    proj, env = pushed_once
    pending = project_dir.migrations / "20240102000000_b.sql"

    def edit_after_the_lint(run: object) -> None:
        pending.write_text("create table b (id int);")  # no RLS: the lint gate refuses this

    monkeypatch.setattr(pipeline, "GATES", (*pipeline.GATES, edit_after_the_lint))
    with pytest.raises(MigrationFileError, match=r"20240102000000_b.sql changed while the gates ran.*nothing was"):
        pipeline.push(proj, env, find_cli(proj))
    assert tables(env.url) == {"a"}
