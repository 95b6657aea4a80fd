"""The advisors run once by the real CLI through the recording relay, and replayed: the same findings, always."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import psycopg
import pytest

from supadeploy import advisors, advisors_replay
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment
from supadeploy.project import Project
from supadeploy.supabase_cli import find_cli

from .conftest import REPO, ProjectDir, run_invoke

CHANGE = """create table public.leads (id bigint primary key, team_id uuid references public.teams (id));
grant select on public.leads to anon;
drop policy if exists "teams: members read" on public.teams;
"""


def cli_advisors(project_dir: ProjectDir, url: DbUrl) -> list[advisors.Finding]:
    proj = Project(project_dir.root)
    return advisors.advisors(find_cli(proj), Environment.for_url("t", url, source="tests"))


@pytest.mark.e2e
def test_a_replayed_session_finds_what_the_cli_finds_before_and_after_a_change(
    project_dir: ProjectDir, app_url: DbUrl
) -> None:
    with advisors_replay.relay(app_url) as recorder:
        through_relay = cli_advisors(project_dir, recorder.url)
    session = recorder.session
    assert session.replayable, session
    assert through_relay == cli_advisors(project_dir, app_url)  # the relay changes nothing the CLI sees
    assert advisors_replay.replay(session, app_url) == through_relay
    with psycopg.connect(app_url.raw, autocommit=True) as conn:
        conn.execute(CHANGE)
    after = cli_advisors(project_dir, app_url)
    assert after != through_relay, "the change should move the advisors"
    assert advisors_replay.replay(session, app_url) == after
    assert any(f.name == "rls_disabled_in_public" and "public.leads" in f.detail for f in after)


@pytest.mark.e2e
def test_a_held_client_reaches_the_database_only_when_the_gate_opens(db_url: DbUrl) -> None:
    gate = threading.Event()
    connected: list[float] = []
    with advisors_replay.relay(db_url, record=False, gate=gate) as held:

        def client() -> None:
            with psycopg.connect(held.url.raw, connect_timeout=30) as conn:
                conn.execute("select 1")
                connected.append(time.monotonic())

        thread = threading.Thread(target=client)
        thread.start()
        time.sleep(0.8)
        assert connected == [], "the client got through a closed gate"
        opened = time.monotonic()
        gate.set()
        thread.join(timeout=30)
    assert connected and connected[0] >= opened


def test_a_kept_session_is_read_back_and_a_damaged_one_is_ignored(tmp_path: Path) -> None:
    session = advisors_replay.Session(
        [
            advisors_replay.SentStatement("begin"),
            advisors_replay.SentStatement("select set_config('pgrst.db_schemas', $1, true)", ("public",)),
            advisors_replay.SentStatement("select 'x' as name, 'k' as cache_key"),
        ]
    )
    key = advisors_replay.cache_key(cli_version="3.1.0", server_version="15.8", user="postgres", schemas=["public"])
    assert key != advisors_replay.cache_key(
        cli_version="3.1.1", server_version="15.8", user="postgres", schemas=["public"]
    )
    advisors_replay.keep(tmp_path, key, session)
    assert advisors_replay.cached(tmp_path, key) == session
    (tmp_path / f"advisors-{key}.json").write_text("{not json")
    assert advisors_replay.cached(tmp_path, key) is None
    advisors_replay.keep(tmp_path, "other", advisors_replay.Session([advisors_replay.SentStatement("select 1")]))
    assert not (tmp_path / "advisors-other.json").exists(), "a session without the lints' query is never kept"


def counting_cli(folder: Path) -> tuple[Path, Path]:
    """A wrapper around the real CLI that logs each invocation's first two arguments."""
    folder.mkdir()
    log = folder / "cli-calls.log"
    real = find_cli(Project(REPO)).binary
    shim = folder / "supabase"
    shim.write_text(f'#!/bin/sh\necho "$1 $2" >> {log}\nexec {real} "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return shim, log


@pytest.mark.e2e
def test_a_second_plan_replays_the_kept_session_and_starts_no_advisors_cli(
    project_dir: ProjectDir, db_url: DbUrl, tmp_path: Path
) -> None:
    project_dir.add_migration(
        "20990101000000",
        "leads",
        "create table public.leads (id bigint primary key);\ngrant select on public.leads to anon;\n",
    )
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    shim, log = counting_cli(tmp_path / "bin")
    reports = []
    for _ in range(2):
        ran = run_invoke(project_dir, "db.plan", "--json", SUPADEPLOY_SUPABASE_BIN=str(shim))
        assert ran.returncode in (0, 1), ran.output
        reports.append(json.loads(ran.stdout))
    calls = log.read_text().splitlines()
    assert calls.count("db advisors") == 1, calls  # the first plan only
    assert calls.count("db push") == 2
    # Cold and warm agree; the new table's finding is new in both, so the cold "before" read the copy before
    # the held push reached it.
    assert reports[0]["advisors"] == reports[1]["advisors"]
    assert any("rls_disabled_in_public" in json.dumps(f) for f in reports[0]["advisors"]["added"])
    assert list((project_dir.root / ".supadeploy" / "cache").glob("advisors-*.json"))
    assert os.environ.get("SUPADEPLOY_SUPABASE_BIN") is None
