"""fleet.promote end to end: 12 real databases in 3 waves, the real CLI, a held lock, a rerun, two runs at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from supadeploy import backups, environments
from supadeploy.dburl import DbUrl
from supadeploy.fleet import load
from supadeploy.project import Project
from supadeploy.push import push
from supadeploy.rollout import FleetReport, plan_fleet, promote_fleet
from supadeploy.settings import ProcessSettings
from supadeploy.supabase_cli import find_cli

from .conftest import REPO, ProjectDir, Server, clean_environ, database_from, rls_table, run_invoke

pytestmark = pytest.mark.e2e

CANARY = ["t01"]
SECOND = ["t02", "t03", "t04", "t05"]
REST = ["t06", "t07", "t08", "t09", "t10", "t11", "t12"]
TARGETS = CANARY + SECOND + REST
FAILING = "t03"


def fleet_toml(*, second_parallel: int = 2, second_on_failure: str = "stop") -> str:
    def names(targets: list[str]) -> str:
        return ", ".join(f'"{t}"' for t in targets)

    return (
        f'[[waves]]\nname = "canary"\ntargets = [{names(CANARY)}]\n\n'
        f'[[waves]]\nname = "second"\ntargets = [{names(SECOND)}]\nmax_parallel = {second_parallel}\n'
        f'on_failure = "{second_on_failure}"\n\n'
        f'[[waves]]\nname = "rest"\ntargets = [{names(REST)}]\nmax_parallel = 4\non_failure = "continue"\n'
    )


@dataclass
class Fleet12:
    project: ProjectDir
    staging: DbUrl
    urls: dict[str, DbUrl]
    backups: Path

    def history(self, name: str) -> list[str]:
        url = self.staging if name == "staging" else self.urls[name]
        with psycopg.connect(url.raw) as conn:
            if conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone() == (None,):
                return []
            return [v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations order by 1")]

    def promotions(self, name: str) -> list[tuple[int, list[str]]]:
        with psycopg.connect(self.urls[name].raw) as conn:
            if conn.execute("select to_regclass('supadeploy.promotions')").fetchone() == (None,):
                return []
            return [(i, a) for i, a in conn.execute("select id, applied from supadeploy.promotions order by id")]

    def dumps(self, name: str) -> set[str]:
        return {p.name for p in self.backups.glob(f"{name}-*.dump")}

    def write_fleet(self, text: str) -> None:
        (self.project.root / "supabase" / "fleet.toml").write_text(text)

    def run(self) -> FleetReport:
        """fleet.promote through the library, as the task runs it."""
        proj = Project(self.project.root)
        fleet = load(proj)
        source = environments.resolve(proj, "staging", environ={})
        cli = find_cli(proj)
        planned = plan_fleet(
            proj, fleet, source, cli, names=fleet.targets, environ={}, with_lint=False, with_drift=False
        )
        return promote_fleet(
            proj, planned, cli, process=ProcessSettings(actor="fleet-test", sha="cafe"), backup_folder=str(self.backups)
        )

    def push_staging(self) -> None:
        proj = Project(self.project.root)
        push(proj, environments.resolve(proj, "staging", environ={}), find_cli(proj))


@pytest.fixture
def fleet12(pg_server: Server, template_db: str, project_dir: ProjectDir, tmp_path: Path) -> Iterator[Fleet12]:
    with ExitStack() as stack:
        staging = stack.enter_context(database_from(pg_server, template_db, "fstg"))
        urls = {name: stack.enter_context(database_from(pg_server, template_db, f"f{name}")) for name in TARGETS}
        project_dir.set_env("staging", SUPABASE_DB_URL=staging.raw)
        for name, url in urls.items():
            extra = {"SUPADEPLOY_LOCK_TIMEOUT": "200ms", "SUPADEPLOY_LOCK_RETRIES": "0"} if name == FAILING else {}
            project_dir.set_env(name, SUPABASE_DB_URL=url.raw, **extra)
        world = Fleet12(project_dir, staging, urls, tmp_path / "backups")
        world.write_fleet(fleet_toml())
        yield world


def outcomes(report: FleetReport | dict) -> dict[str, str]:
    if isinstance(report, FleetReport):
        return {o.target: o.outcome for o in report.outcomes}
    return {t["target"]: t["outcome"] for w in report["waves"] for t in w["targets"]}


A = ["20240101000000", "20240102000000"]
B = ["20240103000000", "20240104000000"]
C = ["20240105000000"]


def test_a_fleet_of_twelve_in_three_waves_stops_where_it_should_and_a_rerun_finishes(
    fleet12: Fleet12, pg_server: Server, template_db: str
) -> None:
    world = fleet12
    world.project.add_migration(A[0], "a", rls_table("a", "id bigint primary key, note text"))
    world.project.add_migration(A[1], "b", rls_table("b", "id bigint primary key"))
    world.push_staging()

    first = world.run()
    assert first.ok, first.as_dict()
    assert outcomes(first) == dict.fromkeys(TARGETS, "promoted")
    assert [w.name for w, _ in first.waves] == ["canary", "second", "rest"]
    for name in TARGETS:
        assert world.history(name) == A
        assert [applied for _, applied in world.promotions(name)] == [["20240101000000_a.sql", "20240102000000_b.sql"]]
        assert len(world.dumps(name)) == 1

    # B: a new table, then a change to table a, which a long transaction on t03 holds (ACCESS SHARE: backups
    # still read it, the ALTER cannot get its lock before the 200 ms lock_timeout of t03's settings).
    world.project.add_migration(B[0], "c", rls_table("c"))
    world.project.add_migration(B[1], "alter_a", "alter table a add column note2 text;")
    world.push_staging()
    with psycopg.connect(world.urls[FAILING].raw, autocommit=True) as conn:
        conn.execute("insert into a (id, note) values (1, 'before B')")
    holder = psycopg.connect(world.urls[FAILING].raw)
    holder.execute("lock table a in access share mode")
    try:
        # stop, one at a time: t02 is promoted, t03 fails, t04 and t05 never start, nor does wave rest.
        world.write_fleet(fleet_toml(second_parallel=1, second_on_failure="stop"))
        summary = world.project.root / "summary.md"
        ran = run_fleet(
            world.project,
            "--from",
            "staging",
            "--yes",
            "--json",
            "--backup-dir",
            str(world.backups),
            GITHUB_STEP_SUMMARY=str(summary),
        )
        assert ran.returncode == 1, ran.stderr
        errors = [line for line in ran.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "t03" in errors[0] and "20240104000000_alter_a.sql" in errors[0], ran.stderr
        assert "  wave second: 4 target(s), at most 1 at once, on_failure = stop" in ran.stderr
        assert "  t03: backup: " in ran.stderr and "  t03: failed in " in ran.stderr
        assert "  stopped: t03 failed in wave second; waves rest not started" in ran.stderr
        report = json.loads(ran.stdout)
        assert outcomes(report) == {
            "t01": "promoted",
            "t02": "promoted",
            "t03": "failed",
            "t04": "not-started",
            "t05": "not-started",
            **dict.fromkeys(REST, "not-started"),
        }
        failed = next(t for w in report["waves"] for t in w["targets"] if t["target"] == FAILING)
        assert failed["applied"] == [B[0]]  # the first file of B went in whole; the second not at all
        assert "55P03" in failed["error"] and failed["backup"]
        assert report["stopped"] == "t03 failed in wave second; waves rest not started"
        assert [w["status"] for w in report["waves"]] == ["done", "failed", "not started"]
        text = summary.read_text()
        assert "## Fleet promotion from staging: FAILED" in text and "| second | t03 | failed |" in text
        assert "| rest | t12 | not-started |" in text
        # No partial migration on t03: c is there with its history row, note2 is not there at all.
        assert world.history(FAILING) == A + [B[0]]
        with psycopg.connect(world.urls[FAILING].raw) as conn:
            assert conn.execute("select to_regclass('public.c') is not null").fetchone() == (True,)
            columns = {
                c for (c,) in conn.execute("select column_name from information_schema.columns where table_name = 'a'")
            }
            assert columns == {"id", "note"}
        for name in ["t04", "t05", *REST]:
            assert world.history(name) == A and len(world.promotions(name)) == 1 and len(world.dumps(name)) == 1
        # t03's backup is the database before B: restored elsewhere it gives back A and its row. (As the
        # superuser: the dump holds the base schema's event triggers, which postgres does not own.)
        with database_from(pg_server, template_db, "frestore") as scratch:
            admin = environments.Environment.for_url("scratch", pg_server.admin(scratch))
            backups.restore(admin, Path(failed["backup"]))
            with psycopg.connect(scratch.raw) as conn:
                assert [
                    v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations order by 1")
                ] == A
                assert conn.execute("select id, note from a").fetchall() == [(1, "before B")]
                assert conn.execute("select to_regclass('public.c')").fetchone() == (None,)

        # continue: the rest of wave second finishes; wave rest still does not start.
        world.write_fleet(fleet_toml(second_parallel=2, second_on_failure="continue"))
        second = world.run()
        assert outcomes(second) == {
            "t01": "up-to-date",
            "t02": "up-to-date",
            "t03": "failed",
            "t04": "promoted",
            "t05": "promoted",
            **dict.fromkeys(REST, "not-started"),
        }
        assert second.stopped == "t03 failed in wave second; waves rest not started"
        assert world.history("t04") == world.history("t05") == A + B
        assert all(world.history(name) == A for name in REST)
    finally:
        holder.close()

    # The lock is gone: a rerun finishes t03 and wave rest and touches nothing that was done.
    world.write_fleet(fleet_toml())
    done = ["t01", "t02", "t04", "t05"]
    before = {name: (world.promotions(name), world.dumps(name)) for name in done}
    third = world.run()
    assert third.ok, third.as_dict()
    assert outcomes(third) == {
        **dict.fromkeys(done, "up-to-date"),
        "t03": "promoted",
        **dict.fromkeys(REST, "promoted"),
    }
    assert {name: (world.promotions(name), world.dumps(name)) for name in done} == before
    t03 = next(o for o in third.outcomes if o.target == FAILING)
    assert t03.applied == (B[1],)
    for name in TARGETS:
        assert world.history(name) == A + B == world.history("staging")

    # Two runs at once (of a fleet file holding wave rest alone) serialize per target: each target gets C
    # once, from one run; the other waits for the target's promotion lock and finds it done.
    world.project.add_migration(C[0], "d", rls_table("d"))
    world.push_staging()
    world.write_fleet(
        '[[waves]]\nname = "rest"\ntargets = [' + ", ".join(f'"{t}"' for t in REST) + "]\nmax_parallel = 4\n"
    )
    args = ("--from", "staging", "--yes", "--json")
    with ThreadPoolExecutor(max_workers=2) as pool:
        finished = list(pool.map(lambda _: run_fleet(world.project, *args), range(2)))
    for ran in finished:
        assert ran.returncode == 0, ran.stderr
    reports = [outcomes(json.loads(ran.stdout)) for ran in finished]
    assert set(reports[0]) == set(reports[1]) == set(REST)
    for name in REST:
        assert sorted([reports[0][name], reports[1][name]]) == ["promoted", "up-to-date"], (name, reports)
        assert world.history(name) == A + B + C
        assert [applied for _, applied in world.promotions(name)][-1] == ["20240105000000_d.sql"]
        assert sum(applied == ["20240105000000_d.sql"] for _, applied in world.promotions(name)) == 1
    # With the whole fleet again, the earlier waves lack C: --wave rest is refused until they are done.
    world.write_fleet(fleet_toml())
    again = run_fleet(world.project, "--from", "staging", "--wave", "rest", "--yes")
    assert again.returncode == 1
    assert "error: wave canary comes before rest and is not done (t01: 1 migration(s) pending)" in again.stderr


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", "--search-root", str(REPO), "fleet.promote", *args]


def run_fleet(project: ProjectDir, *args: str, **env: str) -> Ran:
    done = subprocess.run(
        _argv(*args),
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env=clean_environ(SUPADEPLOY_PROJECT_DIR=str(project.root), **env),
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def test_fleet_plan_reads_every_target_and_names_the_gates_that_would_refuse_it_and_its_drift(
    pg_server: Server, template_db: str, project_dir: ProjectDir
) -> None:
    project_dir.add_migration(A[0], "a", rls_table("a", "id bigint primary key, note text"))
    project_dir.add_migration(A[1], "b", rls_table("b", "id bigint primary key"))
    # Applies, but the lint gate refuses it: a new enum value in the file that creates the type.
    project_dir.add_migration(
        "20240103000000", "mood", "create type mood as enum ('a');\nalter type mood add value 'b';\n"
    )
    (project_dir.root / "supabase" / "fleet.toml").write_text(
        '[[waves]]\nname = "canary"\ntargets = ["p1"]\n\n[[waves]]\nname = "rest"\ntargets = ["p2", "p3"]\n'
        "max_parallel = 2\n"
    )
    with ExitStack() as stack:
        staging = stack.enter_context(database_from(pg_server, template_db, "pstg"))
        urls = {n: stack.enter_context(database_from(pg_server, template_db, f"p{n}")) for n in ("p1", "p2", "p3")}
        project_dir.set_env("staging", SUPABASE_DB_URL=staging.raw)
        project_dir.set_env("local", SUPABASE_DB_URL=pg_server.url.raw)  # drift's scratch databases go here
        for name, url in urls.items():
            project_dir.set_env(name, SUPABASE_DB_URL=url.raw)
        proj = Project(project_dir.root)
        cli = find_cli(proj)
        for name in ("staging", "p2"):
            push(proj, environments.resolve(proj, name, environ={}, declared=True), cli, lint=False)
        with psycopg.connect(urls["p2"].raw, autocommit=True) as conn:
            conn.execute("alter table a add column sneaky text")
            # p2 got an earlier edition of a.sql: the push's checksum gate would refuse it.
            conn.execute(
                "update supadeploy.migration_checksums set sha256 = repeat('0', 64) where version = %s", (A[0],)
            )
        # p3 got a hotfix that no checkout has (pushed alone, its file deleted since).
        aside = project_dir.root / "aside"
        aside.mkdir()
        for path in list(project_dir.migrations.glob("*.sql")):
            path.rename(aside / path.name)
        hotfix = project_dir.add_migration("20231231000000", "hotfix", rls_table("hotfix"))
        push(proj, environments.resolve(proj, "p3", environ={}, declared=True), cli)
        hotfix.unlink()
        for path in aside.glob("*.sql"):
            path.rename(project_dir.migrations / path.name)

        ran = run_invoke(project_dir, "fleet.plan", "--json")
        assert ran.returncode == 1, ran.stderr
        errors = [line for line in ran.stderr.splitlines() if line.startswith("error: ")]
        assert errors == [
            "error: 3 target(s) would be refused: p1: REFUSED: lint: 20240103000000_mood.sql:2 enum-value-not-alone"
            " · no drift"
        ], ran.stderr
        plan = json.loads(ran.stdout)
        assert plan["source_versions"] == [*A, "20240103000000"]
        targets = {t["target"]: t for w in plan["waves"] for t in w["targets"]}
        assert targets["p1"]["pending"] == [*A, "20240103000000"] and targets["p1"]["drift"] == []
        assert targets["p2"]["pending"] == []
        assert [line.split(":")[0] for line in targets["p2"]["refused"]] == [
            "20240101000000_a.sql changed after it was applied to p2"
        ]
        assert [(d["kind"], d["name"]) for d in targets["p2"]["drift"]] == [("column", "public.a.sneaky")]
        assert targets["p3"]["refused"] == [
            "p3's history is not a prefix of staging's: it has 20231231000000 that staging lacks"
        ]
        assert targets["p3"]["drift"] is None and "no local file for applied version(s) 20231231000000" in str(
            targets["p3"]["drift_problem"]
        )
        assert [w["job"]["matrix"] for w in plan["waves"]] == [{"target": ["p1"]}, {"target": ["p2", "p3"]}]
        assert plan["github_outputs"]["waves"] == "2"
        text = run_invoke(project_dir, "fleet.plan", "--wave", "rest", "--no-drift")
        assert text.returncode == 1
        assert "  p2: REFUSED: 20240101000000_a.sql changed after it was applied to p2: undo the edit" in text.stdout
        assert "p1" not in text.stdout
        # Nothing was written anywhere: no target has a backup or a promotion.
        for url in urls.values():
            with psycopg.connect(url.raw) as conn:
                rows = conn.execute("select to_regclass('supadeploy.promotions') is not null").fetchone()
                assert rows == (False,) or conn.execute("select count(*) from supadeploy.promotions").fetchone() == (0,)
