"""db.lint: the Supabase rules over a corpus, the migration history they read, squawk, suppressions, the push gate."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import psycopg
import pytest

from supadeploy import lint
from supadeploy.dburl import DbUrl
from supadeploy.errors import ConfigError
from supadeploy.project import Project

from .conftest import REPO, ProjectDir, raw_supabase, run_invoke

CORPUS = Path(__file__).parent / "lint_corpus"
CASES = sorted(CORPUS.glob("*.sql"))
EXPECTED = re.compile(r"^(?P<rule>[a-z0-9-]+)@(?P<line>\d+)$")


def expected(path: Path) -> list[tuple[str, int]]:
    """The `-- expect: rule@line, ...` header: every finding the file must produce, and no other."""
    header = path.read_text().splitlines()[0]
    assert header.startswith("-- expect:"), path.name
    pairs = []
    for item in filter(None, (i.strip() for i in header.removeprefix("-- expect:").split(","))):
        match = EXPECTED.match(item)
        assert match, f"{path.name}: {item!r} is not rule@line"
        pairs.append((match["rule"], int(match["line"])))
    return sorted(pairs)


def settings(path: Path) -> lint.ApiSettings:
    """`-- config: auto_expose_new_tables = false` on the second line switches the Data API default."""
    lines = path.read_text().splitlines()
    off = len(lines) > 1 and lines[1].replace(" ", "") == "--config:auto_expose_new_tables=false"
    return lint.ApiSettings(auto_expose_new_tables=not off)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus(path: Path) -> None:
    found = lint.check_file(path, path.name, settings(path))
    assert sorted((f.rule, f.line) for f in found) == expected(path)
    for finding in found:
        assert finding.level == lint.RULES[finding.rule].level
        assert finding.fix and "\n" not in finding.message


def test_every_rule_fires_somewhere_in_the_corpus() -> None:
    fired = {rule for p in CASES for rule, _ in expected(p)}
    assert set(lint.RULES) == fired


def test_levels_block_only_what_breaks_a_push_or_opens_a_hole() -> None:
    warnings = {name for name, rule in lint.RULES.items() if rule.level == "warn"}
    assert warnings == {
        "policy-without-roles",
        "policy-per-row-call",
        "function-executable-by-anon",
        "api-grant-missing",
    }


def test_lines_point_at_the_offending_statement() -> None:
    found = lint.check_file(CORPUS / "bad_policy_per_row.sql", "f.sql")
    assert sorted(f.line for f in found) == [2, 3, 5]


def test_a_syntax_error_after_multibyte_text_names_its_line() -> None:
    text = "-- ¥€ 日本語 🚀🚀🚀\nselect '¥¥¥ ✓';\n\nselec 1;\n"
    result = lint.check_text(text, "f.sql")
    assert [(f.rule, f.line) for f in result.findings] == [("syntax-error", 4)]


def test_split_statements_counts_lines_in_characters() -> None:
    text = "select '¥¥¥';\n/* ü */ -- ß\n  select 2;\ninsert into t values ('🚀\n🚀');\n"
    assert lint.split_statements(text) == [(1, "select '¥¥¥'"), (3, "select 2"), (4, "insert into t values ('🚀\n🚀')")]


def test_api_settings_come_from_config_toml(project_dir: ProjectDir) -> None:
    config = project_dir.root / "supabase" / "config.toml"
    text = config.read_text()
    assert lint.api_settings(Project(project_dir.root)) == lint.ApiSettings(("public", "graphql_public"), True)
    text = text.replace('schemas = ["public", "graphql_public"]', 'schemas = ["public", "graphql_public", "api"]', 1)
    config.write_text(text.replace("# auto_expose_new_tables = true", "auto_expose_new_tables = false", 1))
    assert lint.api_settings(Project(project_dir.root)) == lint.ApiSettings(("public", "graphql_public", "api"), False)
    assert lint.exposed_schemas(Project(project_dir.root)) == ("public", "graphql_public", "api")
    migration = project_dir.add_migration("1", "api", "create table api.items (id bigint primary key);")
    found = lint.lint(Project(project_dir.root), [migration], squawk=False)
    assert [f.rule for f in found] == ["api-grant-missing", "rls-not-enabled"]


def test_shipped_migrations_lint_clean() -> None:
    repo = Project(REPO)
    findings = lint.lint(repo, sorted(repo.migrations_dir.glob("*.sql")))
    assert findings == []


HISTORY = {
    "20240101000000_notes.sql": """
create table public.notes (id bigint primary key, owner uuid);
alter table public.notes enable row level security;
create function public.pin_note(p_id bigint) returns void
language sql security definer set search_path = ''
as $$ update public.notes set pinned = true where id = p_id $$;
revoke execute on function public.pin_note(bigint) from public, anon;
grant execute on function public.pin_note(bigint) to authenticated;
""",
    "20240102000000_remote_schema.sql": """
grant insert on table "public"."notes" to "anon";
create or replace function public.pin_note(p_id bigint) returns void
language sql security definer set search_path = ''
as $$ update public.notes set pinned = true where id = p_id $$;
""",
    "20240103000000_again.sql": """
create table if not exists public.notes (id bigint primary key, owner uuid);
""",
}


def test_rules_read_what_earlier_migrations_did(project_dir: ProjectDir) -> None:
    paths = {name: project_dir.migrations / name for name in HISTORY}
    for name, body in HISTORY.items():
        paths[name].write_text(body)
    pending = [paths["20240102000000_remote_schema.sql"], paths["20240103000000_again.sql"]]
    found = lint.lint(Project(project_dir.root), pending, squawk=False)
    # RLS is on and anon lost EXECUTE in the applied file: the grant restates a default, the replaced
    # function keeps its privileges; it is still a SECURITY DEFINER RPC for signed-in users.
    assert [(f.rule, f.file, f.line) for f in found] == [
        ("security-definer-exposed", "supabase/migrations/20240102000000_remote_schema.sql", 3)
    ]
    assert "every signed-in user" in found[0].message
    # Without that history the same files mean an open table and an RPC anon can write through.
    paths["20240101000000_notes.sql"].unlink()
    alone = {(f.rule, f.line) for f in lint.lint(Project(project_dir.root), pending, squawk=False)}
    assert alone == {
        ("anon-write-grant", 2),
        ("security-definer-exposed", 3),
        ("function-executable-by-anon", 3),
        ("rls-not-enabled", 2),
    }


def test_squawk_findings_are_reported_with_file_and_line(project_dir: ProjectDir) -> None:
    (project_dir.root / ".squawk.toml").write_text((REPO / ".squawk.toml").read_text())
    migration = project_dir.add_migration(
        "2", "alter", "-- ¥€ 🚀\nalter table public.projects alter column name type varchar(10);\n"
    )
    found = lint.lint(Project(project_dir.root), [migration])
    squawk = [f for f in found if f.source == "squawk"]
    assert {"changing-column-type", "prefer-text-field"} <= {f.rule for f in squawk}
    assert all(f.file == "supabase/migrations/2_alter.sql" and f.line == 2 and f.level == "warn" for f in squawk)


def test_squawk_lock_rules_are_quiet_on_a_table_this_file_created(project_dir: ProjectDir) -> None:
    (project_dir.root / ".squawk.toml").write_text((REPO / ".squawk.toml").read_text())
    migration = project_dir.migrations / "3_diff.sql"
    shutil.copy(CORPUS / "good_db_diff_grants.sql", migration)
    proj = Project(project_dir.root)
    raw = {f.line for f in lint.run_squawk(proj, [migration]) if f.rule == "constraint-missing-not-valid"}
    # Line 16 validates and line 20 checks a table created on line 2; line 22 alters an existing table.
    assert raw == {16, 20, 22}
    kept = [(f.rule, f.line) for f in lint.lint(proj, [migration])]
    assert kept == [("constraint-missing-not-valid", 22)]


def test_a_squawk_parse_failure_is_one_warning_unless_postgresql_fails_too() -> None:
    accepted = lint.FileResult([], set(), parsed=True)
    rejected = lint.FileResult([], set(), parsed=False)
    squawk = [
        lint.Finding("syntax-error", "error", name, line, "expected command", "", source="squawk")
        for name in ("a.sql", "b.sql")
        for line in (3, 4)
    ]
    kept = lint._sift_squawk(squawk, {"a.sql": accepted, "b.sql": rejected})
    assert [(f.rule, f.level, f.file, f.line) for f in kept] == [("squawk-cannot-parse", "warn", "a.sql", 3)]


def test_fail_on_picks_what_blocks() -> None:
    warn = lint.Finding("policy-per-row-call", "warn", "f.sql", 1, "m", "x")
    error = lint.Finding("lock-table", "error", "f.sql", 2, "m", "x")
    assert lint.blocking([warn, error]) == [error]
    assert lint.blocking([warn, error], "warn") == [warn, error]
    with pytest.raises(ConfigError, match="--fail-on must be one of warn, error, not 'info'"):
        lint.blocking([warn], "info")


@pytest.mark.e2e
def test_lock_table_fails_under_the_pinned_cli_as_the_rule_says(project_dir: ProjectDir, db_url: DbUrl) -> None:
    project_dir.add_migration(
        "20240101000000", "lock", "create table public.a (id int);\nlock table public.a in access exclusive mode;\n"
    )
    [finding] = lint.lint(Project(project_dir.root), list(project_dir.migrations.glob("*.sql")), squawk=False)[1:]
    assert (finding.rule, finding.line) == ("lock-table", 2) and "25P01" in finding.message
    pushed = raw_supabase(project_dir, "db", "push", "--yes", url=db_url)
    assert pushed.returncode != 0
    assert "LOCK TABLE can only be used in transaction blocks (SQLSTATE 25P01)" in pushed.stdout + pushed.stderr
    with psycopg.connect(db_url.raw) as conn:
        assert conn.execute("select to_regclass('public.a')").fetchone() == (None,)


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
def test_warnings_block_only_with_fail_on_warn(project_dir: ProjectDir) -> None:
    project_dir.add_migration(
        "1",
        "own",
        "create table public.a (id bigint primary key, owner uuid);\nalter table public.a enable row level security;\n"
        "create policy p on public.a for select using (owner = (select auth.uid()));\n",
    )
    shown = run_invoke(project_dir, "db.lint", "--json")
    assert shown.returncode == 0, shown.output
    report = json.loads(shown.stdout)
    assert report["errors"] == 0 and ("policy-without-roles", 3) in {(f["rule"], f["line"]) for f in report["findings"]}
    strict = run_invoke(project_dir, "db.lint", "--fail-on", "warn")
    assert strict.returncode == 1
    count = len(report["findings"])
    assert strict.stderr.strip().splitlines()[-1] == f"error: {count} lint finding(s) at or above warn"
    wrong = run_invoke(project_dir, "db.lint", "--fail-on", "info")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == "error: --fail-on must be one of warn, error, not 'info'"


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
