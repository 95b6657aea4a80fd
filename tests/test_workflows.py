"""The GitHub Actions workflows, checked offline: schema, zizmor, pins, secrets, and every invoke line."""

from __future__ import annotations

import itertools
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

from supadeploy import environments, github_run, settings

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
        "promote-fleet.yml",
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
            assert step["uses"].startswith(
                ("actions/checkout@", "actions/upload-artifact@", "actions/download-artifact@")
            )
            if step["uses"].startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
        assert "${{" not in step.get("run", ""), f"expression inside run: {step.get('name')}"
        for value in (step.get("env") or {}).values():
            if "secrets." in str(value):
                assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", str(value))
    assert "secrets." not in "".join(step.get("run", "") for step in steps(workflow))


def test_only_the_plan_job_may_write_and_only_its_pull_request_comment() -> None:
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            if path.name == "plan.yml":
                assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
            elif path.name == "promote-fleet.yml" and name.startswith("wave"):
                # Reads the run's jobs (a failed sibling in a `stop` wave); writes nothing.
                assert job["permissions"] == {"contents": "read", "actions": "read"}
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
        "fleet.plan",
        "fleet.promote",
        "fleet.summary",
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
                # A variable the step's own script reads ("$TARGET") is the script's, not the config's.
                script = set(re.findall(r"\$\{?([A-Z_]+)", step.get("run", "")))
                passed |= set(step.get("env") or {}) - script
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


# --- promote-fleet.yml ------------------------------------------------------------------------------

FLEET_WORKFLOW = REPO / ".github" / "workflows" / "promote-fleet.yml"
EXPRESSION = re.compile(r"^\$\{\{ (.+) \}\}$")


def outputs_file(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT as the runner reads it: name=value lines (a value is the rest of its line)."""
    found = {}
    for line in text.splitlines():
        if line:
            assert "<<" not in line.split("=", 1)[0], line
            key, value = line.split("=", 1)
            found[key] = value
    return found


def evaluate(expression: str, contexts: dict) -> object:
    """The few expression forms the workflow uses: a context path, fromJSON(path)[.field], and `x >= N`."""
    body = EXPRESSION.match(expression.strip())
    text = body.group(1) if body else expression.strip()
    compared = re.fullmatch(r"(.+?) >= (\d+)", text)
    if compared:
        return evaluate(compared.group(1), contexts) >= int(compared.group(2))  # type: ignore[operator]
    parsed = re.fullmatch(r"fromJSON\(([\w.-]+)\)((?:\.\w+)*)", text)
    if parsed:
        value = json.loads(lookup(parsed.group(1), contexts))  # GitHub's fromJSON: JSON, or the step fails
        for key in filter(None, parsed.group(2).split(".")):
            value = value[key]
        return value
    assert re.fullmatch(r"[\w.-]+", text), f"an expression this check cannot evaluate: {text}"
    return lookup(text, contexts)


def lookup(path: str, contexts: dict) -> object:
    """A context path; a property that is not there is null, as in GitHub's expressions."""
    value: object = contexts
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def expand(matrix: dict) -> list[dict]:
    """strategy.matrix as GitHub expands it: the product of the vectors, then exclude, then include."""
    vectors = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    assert vectors or matrix.get("include"), "GitHub refuses a matrix with no vector"
    for key, values in vectors.items():
        assert isinstance(values, list) and values, f"matrix vector {key!r} does not contain any values"
    combos = [dict(zip(vectors, values, strict=True)) for values in itertools.product(*vectors.values())]
    combos = [c for c in combos if not any(all(c.get(k) == v for k, v in e.items()) for e in matrix.get("exclude", []))]
    return combos + list(matrix.get("include", []))


def wave_jobs(workflow: dict) -> list[tuple[int, dict]]:
    return sorted((int(name[4:]), job) for name, job in workflow["jobs"].items() if re.fullmatch(r"wave\d+", name))


def run_plan_job(project: Path) -> dict[str, str]:
    """The plan job's matrix step in a checkout; returns needs.plan.outputs as the wave jobs see them."""
    workflow = load(FLEET_WORKFLOW)
    job = workflow["jobs"]["plan"]
    step = next(s for s in job["steps"] if s.get("id") == "matrix")
    output = project / "github-output"
    output.write_text("")
    done = run_step(project, step["run"], clean_environ(GITHUB_OUTPUT=str(output)))
    assert done.returncode == 0, done.stderr
    steps_ctx = {"matrix": {"outputs": outputs_file(output.read_text())}}
    # A job output is a string; one whose step output was never set is the empty string.
    return {name: str(evaluate(value, {"steps": steps_ctx}) or "") for name, value in job["outputs"].items()}


def targets_github_runs(outputs: dict[str, str]) -> list[tuple[int, str, int, list[dict]]]:
    """Per wave job GitHub does not skip: its index, name, max-parallel and its matrix jobs (name, environment)."""
    workflow = load(FLEET_WORKFLOW)
    ran = []
    for index, job in wave_jobs(workflow):
        contexts = {"needs": {"plan": {"outputs": outputs, "result": "success"}}}
        if not evaluate(job["if"], contexts):
            continue  # skipped: its strategy is never evaluated
        strategy = job["strategy"]
        assert strategy["fail-fast"] is False
        matrix = evaluate(strategy["matrix"], contexts)
        jobs = []
        for combo in expand(matrix):  # type: ignore[arg-type]
            with_matrix = {**contexts, "matrix": combo}
            name = re.sub(r"\$\{\{ (.+?) \}\}", lambda m, c=with_matrix: str(evaluate(m.group(1), c)), job["name"])
            jobs.append(
                {"target": combo["target"], "name": name, "environment": evaluate(job["environment"], with_matrix)}
            )
        name = json.loads(outputs[f"wave{index}"])["name"]
        ran.append((index, name, evaluate(strategy["max-parallel"], contexts), jobs))  # type: ignore[arg-type]
    return ran


@pytest.fixture
def fleet_checkout(tmp_path: Path) -> Path:
    """What the plan job needs of a checkout: the venv, the tasks, config.toml; fleet.toml is the test's."""
    (tmp_path / "supabase").mkdir()
    for name in (".venv", "tasks.py", "src"):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / "supabase" / "config.toml").write_text((REPO / "supabase" / "config.toml").read_text())
    return tmp_path


def waves_of(count: int) -> str:
    """A fleet of `count` waves, wave i holding i + 1 targets, at most i + 1 at once."""
    text = ""
    for i in range(count):
        targets = ", ".join(f'"t{i}-{j}"' for j in range(i + 1))
        text += f'[[waves]]\nname = "w{i}"\ntargets = [{targets}]\nmax_parallel = {i + 1}\n'
    return text


@pytest.mark.parametrize("fleet_file", ["repo", "twelve", "one", "two", "four"])
def test_the_plan_jobs_matrix_parsed_as_github_does_yields_exactly_the_fleet_files_targets(
    fleet_checkout: Path, fleet_file: str
) -> None:
    from supadeploy.fleet import parse

    from .test_fleet_rollout import fleet_toml

    texts = {"repo": (REPO / "supabase" / "fleet.toml").read_text(), "twelve": fleet_toml()}
    texts.update({"one": waves_of(1), "two": waves_of(2), "four": waves_of(4)})
    text = texts[fleet_file]
    (fleet_checkout / "supabase" / "fleet.toml").write_text(text)
    fleet = parse(text)
    ran = targets_github_runs(run_plan_job(fleet_checkout))
    assert [(index, name, parallel) for index, name, parallel, _ in ran] == [
        (w.index, w.name, w.max_parallel) for w in fleet.waves
    ]
    assert [[j["target"] for j in jobs] for *_, jobs in ran] == [list(w.targets) for w in fleet.waves]
    for index, _, _, jobs in ran:
        for job in jobs:
            assert job["environment"] == job["target"]  # the target's own GitHub environment, secrets and reviewers
            assert job["name"] == github_run.job_name(index, job["target"])  # what the stop check looks for


def test_a_fleet_with_more_waves_than_wave_jobs_is_refused_and_every_slot_is_chained(fleet_checkout: Path) -> None:
    from supadeploy.fleet import WORKFLOW_WAVES

    workflow = load(FLEET_WORKFLOW)
    slots = wave_jobs(workflow)
    assert [index for index, _ in slots] == list(range(1, WORKFLOW_WAVES + 1))
    for index, job in slots:
        assert job["needs"] == ("plan" if index == 1 else ["plan", f"wave{index - 1}"])
        assert set(workflow["jobs"]["plan"]["outputs"]) >= {"waves", f"wave{index}"}
    assert workflow["jobs"]["summary"]["needs"] == ["plan", *(f"wave{i}" for i, _ in slots)]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    one_too_many = "".join(f'[[waves]]\nname = "w{i}"\ntargets = ["t{i}"]\n' for i in range(WORKFLOW_WAVES + 1))
    (fleet_checkout / "supabase" / "fleet.toml").write_text(one_too_many)
    step = next(s for s in workflow["jobs"]["plan"]["steps"] if s.get("id") == "matrix")
    done = run_step(fleet_checkout, step["run"], clean_environ(GITHUB_OUTPUT=str(fleet_checkout / "out")))
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        f"error: supabase/fleet.toml: {WORKFLOW_WAVES + 1} waves, more than the {WORKFLOW_WAVES} promote-fleet.yml "
        "has jobs for: merge waves, or add wave jobs to the workflow and raise fleet.WORKFLOW_WAVES"
    ]


@pytest.mark.e2e
def test_the_fleet_workflows_target_and_summary_steps_run_end_to_end(
    checkout: ProjectDir, pg_server: Server, template_db: str, tmp_path: Path
) -> None:
    """One wave job's promote step with the secrets as GitHub maps them, then the summary job's step."""
    workflow = load(FLEET_WORKFLOW)
    promote = next(s for s in workflow["jobs"]["wave1"]["steps"] if "fleet.promote" in s.get("run", ""))
    gather = next(s for s in workflow["jobs"]["summary"]["steps"] if "fleet.summary" in s.get("run", ""))
    deploy = next(s for s in steps(load(REPO / ".github/workflows/deploy-staging.yml")) if "invoke" in s.get("run", ""))
    (checkout.root / "supabase" / "fleet.toml").write_text(
        '[[waves]]\nname = "canary"\ntargets = ["eu-1"]\n\n[[waves]]\nname = "rest"\ntargets = ["eu-2"]\n'
    )
    summary = tmp_path / "step-summary.md"
    with (
        database_from(pg_server, template_db, "fwstg") as staging,
        database_from(pg_server, template_db, "fweu") as target,
    ):
        secrets = {"STAGING_DB_URL": staging.raw, "TARGET_DB_URL": target.raw, "GITHUB_TOKEN": "unused-outside-actions"}

        def env_of(step: dict, **matrix: str) -> dict[str, str]:
            env = clean_environ(GITHUB_STEP_SUMMARY=str(summary), GITHUB_ACTOR="ci-bot", GITHUB_SHA="feed")
            for key, value in (step.get("env") or {}).items():
                secret = re.search(r"secrets\.([A-Z_]+)", value)
                env[key] = secrets[secret.group(1)] if secret else str(evaluate(value, {"matrix": matrix}))
            return env

        assert run_step(checkout.root, deploy["run"], env_of(deploy)).returncode == 0
        promoted = run_step(checkout.root, promote["run"], env_of(promote, target="eu-1"))
        assert promoted.returncode == 0, promoted.stderr
        report = json.loads((checkout.root / "fleet-eu-1.json").read_text())
        assert [(t["target"], t["outcome"]) for w in report["waves"] for t in w["targets"]] == [("eu-1", "promoted")]
        assert len(report["waves"][0]["targets"][0]["applied"]) == len(list(checkout.migrations.glob("*.sql")))
        with psycopg.connect(target.raw) as conn:
            assert conn.execute("select target_env, promoted_by from supadeploy.promotions").fetchall() == [
                ("eu-1", "github:ci-bot")
            ]
        # Without STAGING_DB_URL, staging would fall back to SUPABASE_DB_URL, the target's own URL: refused.
        secrets["STAGING_DB_URL"] = ""
        refused = run_step(checkout.root, promote["run"], env_of(promote, target="eu-2"))
        assert refused.returncode == 1
        assert "error: eu-2 and staging resolve to the same database" in refused.stderr
        # Staging's own database under another name for this machine, as key=value: refused the same way.
        other_name = "localhost" if staging.host != "localhost" else "127.0.0.1"
        secrets.update(STAGING_DB_URL=staging.raw, TARGET_DB_URL=staging.with_address(other_name, staging.port).raw)
        twin = run_step(checkout.root, promote["run"], env_of(promote, target="eu-2"))
        assert twin.returncode == 1
        assert "error: eu-2 and staging resolve to the same database" in twin.stderr
        secrets.update(STAGING_DB_URL=staging.raw, TARGET_DB_URL="")
        missing = run_step(checkout.root, promote["run"], env_of(promote, target="eu-2"))
        assert missing.returncode == 1
        assert "environment 'eu-2' has no SUPABASE_DB_URL" in missing.stderr
        with psycopg.connect(staging.raw) as conn:
            assert conn.execute("select count(*) from supadeploy.promotions").fetchone() == (0,)
        reports = checkout.root / "reports"
        reports.mkdir()
        (checkout.root / "fleet-eu-1.json").rename(reports / "fleet-eu-1.json")
        gathered = run_step(checkout.root, gather["run"], env_of(gather))
        assert gathered.returncode == 1  # eu-2 has no report: the fleet is not done
        fleet = json.loads((checkout.root / "fleet.json").read_text())
        assert [(t["target"], t["outcome"]) for w in fleet["waves"] for t in w["targets"]] == [
            ("eu-1", "promoted"),
            ("eu-2", "not-started"),
        ]
        text = summary.read_text()
        assert "## Fleet promotion from staging: FAILED" in text and "| rest | eu-2 | not-started |" in text
        for output in (promoted.stdout, promoted.stderr, refused.stderr, missing.stderr, text):
            assert target.password is None or f":{target.password}@" not in output
