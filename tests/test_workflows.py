"""The GitHub Actions workflows, checked offline: schema, zizmor, pins, secrets, and every invoke line."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml
from invoke import Collection
from invoke.loader import FilesystemLoader
from invoke.parser import Parser

from supadeploy import environments, settings

from .conftest import REPO, ProjectDir, Server, clean_environ, database_from
from .github_double import TOKEN, pull_request_event, serving

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
INVOKE_LINE = re.compile(r"(?:^|&&|;)[ \t]*(?:\.venv/bin/)?invoke\s+([^>&|;\n]+)", re.MULTILINE)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def invoke_lines(workflow: dict) -> list[list[str]]:
    lines = []
    for step in steps(workflow):
        for match in INVOKE_LINE.finditer(step.get("run", "")):
            lines.append(shlex.split(match.group(1)))
    return lines


def test_every_expected_workflow_exists() -> None:
    assert {p.name for p in WORKFLOWS} == {
        "ci.yml",
        "deploy-staging.yml",
        "promote-production.yml",
        "drift.yml",
        "plan.yml",
    }


def test_workflows_match_githubs_schema() -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_offline_finds_nothing_even_pedantic() -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "zizmor"),
            "--offline",
            "--persona",
            "pedantic",
            "--format",
            "json",
            str(REPO / ".github" / "workflows"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(done.stdout or "[]") == [], done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_permissions_minimal_secrets_only_through_env(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for step in steps(workflow):
        if "uses" in step:
            assert PINNED.match(step["uses"]), step["uses"]
            assert step["uses"].startswith(("actions/checkout@", "actions/upload-artifact@"))
            if step["uses"].startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
        assert "${{" not in step.get("run", ""), f"expression inside run: {step.get('name')}"
        for value in (step.get("env") or {}).values():
            if "secrets." in str(value):
                assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", str(value))
    assert "secrets." not in "".join(step.get("run", "") for step in steps(workflow))


def test_only_the_plan_job_may_write_and_only_its_pull_request_comment() -> None:
    for path in WORKFLOWS:
        for job in load(path)["jobs"].values():
            if path.name == "plan.yml":
                assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
            else:
                assert "permissions" not in job, path.name


@pytest.mark.parametrize("name", ["deploy-staging.yml", "promote-production.yml"])
def test_deploys_never_cancel_a_running_deploy(name: str) -> None:
    workflow = load(REPO / ".github" / "workflows" / name)
    assert workflow["concurrency"]["cancel-in-progress"] is False
    job = next(iter(workflow["jobs"].values()))
    assert job["environment"] in ("staging", "production")


def test_every_invoke_line_parses_against_the_real_tasks() -> None:
    module, _ = FilesystemLoader(start=str(REPO)).load("tasks")
    parser = Parser(contexts=Collection.from_module(module).to_contexts())
    seen = set()
    for path in WORKFLOWS:
        for argv in invoke_lines(load(path)):
            parsed = parser.parse_argv(argv)  # raises ParseError on an unknown task or flag
            assert parsed, argv
            seen.update(context.name for context in parsed)
    assert {
        "db.push",
        "db.lint",
        "db.drift",
        "env.promote",
        "local.start",
        "db.advisors",
        "db.plan",
        "db.pending",
        "gh.comment",
    } <= seen


def test_every_variable_the_workflows_pass_is_one_the_config_reads() -> None:
    read = settings.variables_read()
    names = {environments.url_variable(n) for n in environments.BUILTIN_ENVIRONMENTS}
    for path in WORKFLOWS:
        workflow = load(path)
        passed = set(workflow.get("env") or {})
        for job in workflow["jobs"].values():
            passed |= set(job.get("env") or {})
            for step in job.get("steps", []):
                passed |= set(step.get("env") or {})
        unknown = {v for v in passed if v not in read and v not in names}
        assert unknown == set(), f"{path.name} passes {unknown}"


def run_step(project: Path, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture
def checkout(project_dir: ProjectDir) -> ProjectDir:
    """A checkout of this repository as the runner has it after `scripts/bootstrap`."""
    for name in (".venv", "node_modules", "tasks.py", "src"):
        (project_dir.root / name).symlink_to(REPO / name)
    (project_dir.root / ".squawk.toml").write_text((REPO / ".squawk.toml").read_text())
    for source in (REPO / "supabase" / "migrations").glob("*.sql"):
        (project_dir.migrations / source.name).write_text(source.read_text())
    return project_dir


@pytest.mark.e2e
def test_the_workflows_deploy_and_promote_commands_run_end_to_end(
    checkout: ProjectDir, pg_server: Server, template_db: str, tmp_path: Path
) -> None:
    deploy = next(s for s in steps(load(REPO / ".github/workflows/deploy-staging.yml")) if "invoke" in s.get("run", ""))
    promote = next(
        s for s in steps(load(REPO / ".github/workflows/promote-production.yml")) if "env.promote" in s.get("run", "")
    )
    summary = tmp_path / "step-summary.md"
    with (
        database_from(pg_server, template_db, "wfstg") as staging,
        database_from(pg_server, template_db, "wfprd") as prod,
    ):
        secrets = {"STAGING_DB_URL": staging.raw, "PRODUCTION_DB_URL": prod.raw}

        def env_of(step: dict) -> dict[str, str]:
            env = clean_environ(
                GITHUB_ACTIONS="true",
                GITHUB_STEP_SUMMARY=str(summary),
                GITHUB_ACTOR="ci-bot",
                GITHUB_SHA="0123456789abcdef",
                CI="true",
            )
            for key, value in (step.get("env") or {}).items():
                env[key] = secrets[re.search(r"secrets\.([A-Z_]+)", value).group(1)]  # type: ignore[union-attr]
            return env

        pushed = run_step(checkout.root, deploy["run"], env_of(deploy))
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        promoted = run_step(checkout.root, promote["run"], env_of(promote))
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        report = json.loads((checkout.root / "promotion.json").read_text())
        assert report["ok"] and len(report["applied"]) == len(list(checkout.migrations.glob("*.sql")))
        assert list((checkout.root / "backups").glob("production-*.manifest.json"))
        assert "Promotion staging → production: done" in summary.read_text()
        with psycopg.connect(prod.raw) as conn:
            assert conn.execute("select promoted_by, git_sha from supadeploy.promotions").fetchone() == (
                "github:ci-bot",
                "0123456789abcdef",
            )
        for output in (pushed.stdout, pushed.stderr, promoted.stderr, summary.read_text()):
            assert staging.password is None or f":{staging.password}@" not in output
        again = run_step(checkout.root, promote["run"], env_of(promote))
        assert again.returncode == 0, again.stderr
        assert json.loads((checkout.root / "promotion.json").read_text())["applied"] == []


def test_url_variables_for_builtin_environments() -> None:
    assert environments.url_variable("production") == "SUPABASE_DB_URL_PRODUCTION"
    assert environments.url_variable("qa-eu") == "SUPABASE_DB_URL_QA_EU"


PLAN_STEPS = [s for s in steps(load(REPO / ".github/workflows/plan.yml")) if "run" in s and s["name"] != "Set up"]


def run_plan_steps(
    project: Path, chosen: list[dict], secrets: dict[str, str], summary: Path, event: Path, api: str
) -> list[str]:
    """Run workflow steps as the runner would (bash -eo pipefail, the step's env from secrets); their stderr."""
    errors = []
    for step in chosen:
        env = clean_environ(
            GITHUB_ACTIONS="true",
            GITHUB_STEP_SUMMARY=str(summary),
            GITHUB_EVENT_PATH=str(event),
            GITHUB_REPOSITORY="acme/vision",
            GITHUB_API_URL=api,
        )
        for key, value in (step.get("env") or {}).items():
            env[key] = secrets[re.search(r"secrets\.([A-Z_]+)", value).group(1)]  # type: ignore[union-attr]
        done = run_step(project, step["run"], env)
        assert done.returncode == 0, step["name"] + ": " + done.stdout + done.stderr
        assert TOKEN not in done.stdout + done.stderr
        errors.append(done.stderr)
    return errors


@pytest.mark.e2e
def test_the_plan_workflow_posts_one_comment_and_updates_it(
    checkout: ProjectDir, pg_server: Server, template_db: str, schema_template: str, tmp_path: Path
) -> None:
    summary = tmp_path / "step-summary.md"
    event = pull_request_event(tmp_path / "event.json")
    with (
        database_from(pg_server, template_db, "plstg") as staging,
        database_from(pg_server, schema_template, "plprd") as production,
        serving() as github,
    ):
        secrets = {
            "STAGING_READONLY_DB_URL": staging.raw,
            "PRODUCTION_READONLY_DB_URL": production.raw,
            "GITHUB_TOKEN": TOKEN,
        }
        github.add("an earlier review comment")
        run_plan_steps(checkout.root, PLAN_STEPS, secrets, summary, event, github.base_url)
        [comment] = [c for c in github.comments if c["body"].startswith("<!-- supadeploy:db.plan -->")]
        body = comment["body"]
        assert "### db.plan · staging · highest risk:" in body
        shipped = len(list((REPO / "supabase" / "migrations").glob("*.sql")))
        assert f"{shipped} pending files" in body and f"**Applies:** ✅ {shipped} of {shipped}" in body
        # Production's pending files (none) differ from staging's: its own plan is posted.
        assert "### db.plan · production: nothing pending" in body
        assert summary.read_text() == body.removeprefix("<!-- supadeploy:db.plan -->\n")
        run_plan_steps(checkout.root, PLAN_STEPS[-1:], secrets, summary, event, github.base_url)  # the next push
        assert len(github.comments) == 2, "the second run stacked a comment instead of updating it"
        assert [m for m, _ in github.calls].count("PATCH") == 1


@pytest.mark.e2e
def test_the_plan_workflow_posts_productions_plan_only_when_its_pending_files_differ(
    checkout: ProjectDir, pg_server: Server, schema_template: str, tmp_path: Path
) -> None:
    checkout.add_migration("20991231000000", "pr_change", "alter table public.teams add column motto text;\n")
    summary = tmp_path / "step-summary.md"
    event = pull_request_event(tmp_path / "event.json")
    with (
        database_from(pg_server, schema_template, "plstg") as staging,
        database_from(pg_server, schema_template, "plprd") as production,
        serving() as github,
    ):
        secrets = {
            "STAGING_READONLY_DB_URL": staging.raw,
            "PRODUCTION_READONLY_DB_URL": production.raw,
            "GITHUB_TOKEN": TOKEN,
        }
        stderr = run_plan_steps(checkout.root, PLAN_STEPS, secrets, summary, event, github.base_url)
        [comment] = [c for c in github.comments if c["body"].startswith("<!-- supadeploy:db.plan -->")]
        body = comment["body"]
        assert (checkout.root / "pending-staging.txt").read_text() == "20991231000000_pr_change.sql\n"
        assert (checkout.root / "pending-production.txt").read_text() == "20991231000000_pr_change.sql\n"
        assert body.count("### db.plan · ") == 2
        assert "### db.plan · staging · highest risk:" in body and "1 pending file" in body
        assert "### db.plan · production: the same pending files as staging (plan above)" in body
        assert "Applying migration" in stderr[0] and "Applying migration" not in stderr[1]  # production not rehearsed
