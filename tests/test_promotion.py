"""env.promote, db.backup/db.restore and db.drift, end to end with the commands a workflow runs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from supadeploy.dburl import DbUrl
from supadeploy.pgtools import find_bindir

from .conftest import ProjectDir, Server, database_from, rls_table, run_invoke

pytestmark = pytest.mark.e2e


SECRET = "Promo-Secret-4417"


def as_promoter(url: DbUrl) -> DbUrl:
    """The same database through a login with a distinctive password, so a leak of it is caught."""
    return DbUrl.parse(f"postgresql://promoter:{SECRET}@{url.host}:{url.port}/{url.dbname}")


@pytest.fixture
def stage_and_prod(pg_server: Server, template_db: str, project_dir: ProjectDir) -> Iterator[tuple[DbUrl, DbUrl]]:
    with psycopg.connect(pg_server.url.raw, autocommit=True) as admin:
        if admin.execute("select 1 from pg_roles where rolname = 'promoter'").fetchone() is None:
            admin.execute(f"create role promoter login superuser password '{SECRET}'")
    with database_from(pg_server, template_db, "stg") as stg, database_from(pg_server, template_db, "prd") as prd:
        staging, prod = as_promoter(stg), as_promoter(prd)
        project_dir.set_env("staging", SUPABASE_DB_URL=staging.raw)
        project_dir.set_env("production", SUPABASE_DB_URL=prod.raw)
        project_dir.set_env("local", SUPABASE_DB_URL=staging.raw)  # scratch databases for drift go here
        yield staging, prod


def history(url: DbUrl) -> list[str]:
    with psycopg.connect(url.raw) as conn:
        if conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone() == (None,):
            return []
        return [v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations order by 1")]


def add_two(project_dir: ProjectDir) -> None:
    project_dir.add_migration("20240101000000", "a", rls_table("a", "id bigint primary key, note text"))
    project_dir.add_migration("20240102000000", "b", rls_table("b", "id bigint primary key"))


def test_promotion_end_to_end_as_github_actions_runs_it(
    project_dir: ProjectDir, stage_and_prod: tuple[DbUrl, DbUrl], tmp_path: Path
) -> None:
    staging, prod = stage_and_prod
    add_two(project_dir)
    assert run_invoke(project_dir, "db.push", "--env", "staging").returncode == 0
    summary = tmp_path / "summary.md"
    backups = tmp_path / "backups"
    ran = run_invoke(
        project_dir,
        "env.promote",
        "--from",
        "staging",
        "--to",
        "production",
        "--yes",
        "--json",
        "--backup-dir",
        str(backups),
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_ACTOR="octocat",
        GITHUB_SHA="abc123",
    )
    assert ran.returncode == 0, ran.output
    report = json.loads(ran.stdout)
    assert report["ok"] is True
    assert report["applied"] == ["20240101000000_a.sql", "20240102000000_b.sql"]
    assert [s["step"] for s in report["steps"]] == ["gates", "plan", "backup", "push", "verify", "record"]
    assert history(prod) == history(staging) == ["20240101000000", "20240102000000"]
    text = summary.read_text()
    assert "## Promotion staging → production: done" in text and "| push | applied 2 migration(s) |" in text
    dump = Path(report["backup"]["file"])
    manifest = json.loads(dump.with_suffix(".manifest.json").read_text())
    assert dump.parent == backups and manifest["env"] == "production" and manifest["versions"] == []
    assert "****" in manifest["url"]
    listed = subprocess.run([str(find_bindir() / "pg_restore"), "--list", str(dump)], capture_output=True, check=False)
    assert listed.returncode == 0
    with psycopg.connect(prod.raw) as conn:
        row = conn.execute(
            "select source_env, target_env, promoted_by, git_sha, applied, backup_file from supadeploy.promotions"
        ).fetchone()
    assert row == (
        "staging",
        "production",
        "github:octocat",
        "abc123",
        ["20240101000000_a.sql", "20240102000000_b.sql"],
        str(dump),
    )
    for shown in (ran.output, text, json.dumps(manifest)):
        assert SECRET not in shown


def promotions(url: DbUrl) -> int:
    with psycopg.connect(url.raw) as conn:
        if conn.execute("select to_regclass('supadeploy.promotions')").fetchone() == (None,):
            return 0
        return conn.execute("select count(*) from supadeploy.promotions").fetchone()[0]


def test_promotion_to_an_up_to_date_target_backs_up_and_records_nothing(
    project_dir: ProjectDir, stage_and_prod: tuple[DbUrl, DbUrl], tmp_path: Path
) -> None:
    staging, prod = stage_and_prod
    add_two(project_dir)
    assert run_invoke(project_dir, "db.push", "--env", "staging").returncode == 0
    assert run_invoke(project_dir, "db.push", "--env", "production", "--yes").returncode == 0
    backups, summary = tmp_path / "backups", tmp_path / "summary.md"
    argv = ("env.promote", "--from", "staging", "--to", "production", "--backup-dir", str(backups))
    ran = run_invoke(project_dir, *argv, "--yes", "--json", GITHUB_STEP_SUMMARY=str(summary))
    assert ran.returncode == 0, ran.output
    report = json.loads(ran.stdout)
    assert (report["backup"], report["promotion_id"]) == (None, None)
    assert not backups.exists()
    assert promotions(prod) == 0
    assert (report["ok"], report["outcome"], report["applied"], report["to_apply"]) == (True, "up-to-date", [], [])
    assert [s["step"] for s in report["steps"]] == ["gates", "up to date"]
    assert "## Promotion staging → production: up to date, nothing applied" in summary.read_text()
    # Nothing changes, so nothing is asked: no prompt, no --yes needed, even for production.
    plain = run_invoke(project_dir, *argv)
    assert plain.returncode == 0, plain.output
    assert plain.stdout.strip() == (
        "production is up to date with staging: nothing to promote (no backup taken, nothing recorded)"
    )
    assert not backups.exists()
    assert promotions(prod) == 0
    assert history(prod) == history(staging)


def test_promotion_refused_when_the_source_lacks_a_migration(
    project_dir: ProjectDir, stage_and_prod: tuple[DbUrl, DbUrl], tmp_path: Path
) -> None:
    _, prod = stage_and_prod
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    assert run_invoke(project_dir, "db.push", "--env", "staging").returncode == 0
    project_dir.add_migration("20240102000000", "b", rls_table("b"))
    ran = run_invoke(
        project_dir,
        "env.promote",
        "--from",
        "staging",
        "--to",
        "production",
        "--yes",
        "--backup-dir",
        str(tmp_path / "backups"),
    )
    assert ran.returncode == 1
    assert "staging lacks 20240102000000_b.sql: push to staging first" in ran.stderr
    assert history(prod) == []
    assert not (tmp_path / "backups").exists()


def test_promotion_refused_when_the_target_is_not_a_prefix(
    project_dir: ProjectDir, stage_and_prod: tuple[DbUrl, DbUrl]
) -> None:
    add_two(project_dir)
    assert run_invoke(project_dir, "db.push", "--env", "staging").returncode == 0
    (project_dir.migrations / "20240101000000_a.sql").rename(project_dir.root / "20240101000000_a.sql")
    project_dir.add_migration("20231231000000", "hotfix", rls_table("hotfix"))
    assert run_invoke(project_dir, "db.push", "--env", "production", "--yes", "--include-all").returncode == 0
    (project_dir.migrations / "20231231000000_hotfix.sql").unlink()
    (project_dir.root / "20240101000000_a.sql").rename(project_dir.migrations / "20240101000000_a.sql")
    ran = run_invoke(project_dir, "env.promote", "--from", "staging", "--to", "production", "--yes")
    assert ran.returncode == 1
    assert "production's history is not a prefix of staging's: it has 20231231000000" in ran.stderr


def test_non_interactive_production_needs_yes(project_dir: ProjectDir, stage_and_prod: tuple[DbUrl, DbUrl]) -> None:
    _, prod = stage_and_prod
    add_two(project_dir)
    assert run_invoke(project_dir, "db.push", "--env", "staging").returncode == 0
    ran = run_invoke(project_dir, "env.promote", "--from", "staging", "--to", "production")
    assert ran.returncode == 1 and "pass --yes" in ran.stderr
    assert history(prod) == []


def test_backup_and_restore_round_trip(
    project_dir: ProjectDir, stage_and_prod: tuple[DbUrl, DbUrl], tmp_path: Path
) -> None:
    staging, _ = stage_and_prod
    add_two(project_dir)
    assert run_invoke(project_dir, "db.push", "--env", "staging").returncode == 0
    with psycopg.connect(staging.raw, autocommit=True) as conn:
        conn.execute("insert into a (id, note) values (1, 'keep me')")
    made = run_invoke(project_dir, "db.backup", "--env", "staging", "--backup-dir", str(tmp_path))
    assert made.returncode == 0, made.output
    (dump,) = tmp_path.glob("staging-*.dump")
    with psycopg.connect(staging.raw, autocommit=True) as conn:
        conn.execute("drop table a")
    refused = run_invoke(project_dir, "db.restore", "--env", "staging", "--from", str(dump))
    assert refused.returncode == 1 and "pass --yes" in refused.stderr
    restored = run_invoke(project_dir, "db.restore", "--env", "staging", "--from", str(dump), "--yes")
    assert restored.returncode == 0, restored.output
    with psycopg.connect(staging.raw) as conn:
        assert conn.execute("select note from a").fetchall() == [("keep me",)]
    dump.write_bytes(dump.read_bytes() + b"tampered")
    tampered = run_invoke(project_dir, "db.restore", "--env", "staging", "--from", str(dump), "--yes")
    assert tampered.returncode == 1 and "does not match its manifest" in tampered.stderr


def test_drift_is_none_after_a_push_and_listed_after_a_manual_change(
    project_dir: ProjectDir, stage_and_prod: tuple[DbUrl, DbUrl]
) -> None:
    _, prod = stage_and_prod
    add_two(project_dir)
    assert run_invoke(project_dir, "db.push", "--env", "production", "--yes").returncode == 0
    clean = run_invoke(project_dir, "db.drift", "--env", "production")
    assert clean.returncode == 0, clean.output
    assert "0 difference(s)" in clean.stdout
    with psycopg.connect(prod.raw, autocommit=True) as conn:
        conn.execute("alter table a disable row level security")
        conn.execute("alter table b add column sneaky text default 'x'")
        conn.execute("create policy open on a for select to anon using (true)")
        conn.execute("grant insert on b to anon")
    drifted = run_invoke(project_dir, "db.drift", "--env", "production", "--json")
    assert drifted.returncode == 1
    found = {(d["kind"], d["name"]) for d in json.loads(drifted.stdout)["drift"]}
    assert {
        ("table", "public.a"),
        ("column", "public.b.sneaky"),
        ("policy", "public.a.open"),
        ("grant", "public.b to anon"),
    } <= found
    assert "has drifted from its migrations" in drifted.stderr


def test_promote_carries_out_the_plan_it_was_given_and_refuses_a_stale_one(
    project_dir: ProjectDir, stage_and_prod: tuple[DbUrl, DbUrl], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from supadeploy import environments, promotion
    from supadeploy.errors import PromotionRefused
    from supadeploy.project import Project
    from supadeploy.settings import ProcessSettings
    from supadeploy.supabase_cli import find_cli

    _, prod = stage_and_prod
    add_two(project_dir)
    assert run_invoke(project_dir, "db.push", "--env", "staging").returncode == 0
    proj = Project(project_dir.root)
    source, target = (environments.resolve(proj, name, environ={}) for name in ("staging", "production"))
    cli = find_cli(proj)
    planned = promotion.plan(proj, source, target, cli)
    assert planned.to_apply == ("20240101000000", "20240102000000")

    def plan_again(*_args: object, **_kwargs: object) -> None:
        pytest.fail("promote planned again instead of carrying out the plan it was given")

    monkeypatch.setattr(promotion, "plan", plan_again)
    process = ProcessSettings(actor="tester", sha="f00d")
    report = promotion.promote(proj, planned, source, target, cli, process=process, backup_folder=str(tmp_path))
    assert report.ok and report.applied == ("20240101000000_a.sql", "20240102000000_b.sql")
    assert history(prod) == ["20240101000000", "20240102000000"]
    with pytest.raises(PromotionRefused, match="production's history changed since the plan was made"):
        promotion.promote(proj, planned, source, target, cli, process=process, backup_folder=str(tmp_path / "again"))
    assert not (tmp_path / "again").exists()
