"""db.lint: the Supabase rules over a corpus, squawk, suppressions, and the push gate."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from supadeploy import lint
from supadeploy.dburl import DbUrl
from supadeploy.project import Project

from .conftest import REPO, ProjectDir, run_invoke

CORPUS = Path(__file__).parent / "lint_corpus"
CASES = sorted(CORPUS.glob("*.sql"))


def expected(path: Path) -> set[str]:
    header = path.read_text().splitlines()[0]
    assert header.startswith("-- expect:"), path.name
    return {r.strip() for r in header.removeprefix("-- expect:").split(",") if r.strip()}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus(path: Path) -> None:
    found = lint.check_file(path, path.name, lint.DEFAULT_EXPOSED)
    assert {f.rule for f in found} == expected(path)
    for finding in found:
        assert finding.line >= 1 and finding.fix and "\n" not in finding.message


def test_every_rule_fires_somewhere_in_the_corpus() -> None:
    fired = set().union(*(expected(p) for p in CASES))
    assert set(lint.RULES) == fired


def test_lines_point_at_the_offending_statement() -> None:
    found = lint.check_file(CORPUS / "bad_policy_per_row.sql", "f.sql", lint.DEFAULT_EXPOSED)
    assert sorted(f.line for f in found) == [2, 3, 5]


def test_exposed_schemas_come_from_config_toml(project_dir: ProjectDir) -> None:
    config = project_dir.root / "supabase" / "config.toml"
    config.write_text(
        config.read_text().replace(
            'schemas = ["public", "graphql_public"]', 'schemas = ["public", "graphql_public", "api"]', 1
        )
    )
    assert lint.exposed_schemas(Project(project_dir.root)) == ("public", "graphql_public", "api")
    migration = project_dir.add_migration("1", "api", "create table api.items (id bigint primary key);")
    found = lint.lint(Project(project_dir.root), [migration], squawk=False)
    assert [f.rule for f in found] == ["rls-not-enabled"]


def test_shipped_migrations_lint_clean() -> None:
    repo = Project(REPO)
    findings = lint.lint(repo, sorted(repo.migrations_dir.glob("*.sql")))
    assert findings == []


def test_squawk_findings_are_reported_with_file_and_line(project_dir: ProjectDir) -> None:
    (project_dir.root / ".squawk.toml").write_text((REPO / ".squawk.toml").read_text())
    migration = project_dir.add_migration(
        "2", "alter", "alter table public.projects alter column name type varchar(10);\n"
    )
    found = lint.lint(Project(project_dir.root), [migration])
    squawk = [f for f in found if f.source == "squawk"]
    assert {"changing-column-type", "prefer-text-field"} <= {f.rule for f in squawk}
    assert all(f.file == "supabase/migrations/2_alter.sql" and f.line == 1 for f in squawk)


@pytest.mark.e2e
def test_db_lint_task_exits_non_zero_with_json_and_annotations(project_dir: ProjectDir) -> None:
    project_dir.add_migration(
        "1", "good", "create table public.a (id bigint primary key);\nalter table public.a enable row level security;\n"
    )
    project_dir.add_migration("2", "bad", "create table public.b (id bigint primary key);\n")
    ran = run_invoke(project_dir, "db.lint", "--json")
    assert ran.returncode == 1
    report = json.loads(ran.stdout)
    assert report["errors"] == 1
    assert [(f["rule"], f["file"], f["line"]) for f in report["findings"] if f["source"] == "supadeploy"] == [
        ("rls-not-enabled", "supabase/migrations/2_bad.sql", 1)
    ]
    annotated = run_invoke(project_dir, "db.lint", GITHUB_ACTIONS="true")
    assert "::error file=supabase/migrations/2_bad.sql,line=1,title=rls-not-enabled::" in annotated.stdout
    assert "error: 1 lint error(s)" in annotated.stderr


@pytest.mark.e2e
def test_push_lints_pending_files_and_applies_nothing_on_error(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    project_dir.add_migration(
        "20240101000000",
        "ok",
        "create table public.a (id bigint primary key);\nalter table public.a enable row level security;\n",
    )
    project_dir.add_migration("20240102000000", "open", "create table public.b (id bigint primary key);\n")
    refused = run_invoke(project_dir, "db.push")
    assert refused.returncode == 1
    assert "lint: supabase/migrations/20240102000000_open.sql:1 rls-not-enabled" in refused.stderr
    assert "--skip-lint" in refused.stderr and "Traceback" not in refused.output
    with psycopg.connect(db_url.raw) as conn:
        assert conn.execute("select to_regclass('public.a')").fetchone() == (None,)
    forced = run_invoke(project_dir, "db.push", "--skip-lint")
    assert forced.returncode == 0, forced.output
    assert "lint skipped (--skip-lint)" in forced.stderr
    with psycopg.connect(db_url.raw) as conn:
        assert conn.execute("select to_regclass('public.b')").fetchone() is not None
    only_pending = run_invoke(project_dir, "db.lint", "--env", "local")
    assert only_pending.returncode == 0 and "linted 0 file(s) pending on local" in only_pending.stdout
