"""The fleet file, the wave runner's stop/continue rules, the reports and the stop check: pure logic, no database."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from supadeploy import environments, github_run
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment, confirm_many
from supadeploy.errors import ConfigError, ConfirmationRequired, GitHubError, PromotionRefused
from supadeploy.fleet import FLEET_FILE, WORKFLOW_WAVES, Fleet, Wave, load, parse
from supadeploy.project import Project
from supadeploy.rollout import (
    FAILED,
    NOT_STARTED,
    PROMOTED,
    UP_TO_DATE,
    FleetPlan,
    FleetReport,
    TargetOutcome,
    TargetPlan,
    gather,
    require_done,
    resolve_targets,
    run_waves,
)
from supadeploy.settings import ProcessSettings

from .conftest import ProjectDir
from .github_double import REPOSITORY, TOKEN, serving

GOOD = """
[[waves]]
name = "canary"
targets = ["eu-canary"]

[[waves]]
name = "europe"
targets = ["eu-1", "eu-2", "eu-3"]
max_parallel = 2
on_failure = "continue"
"""


def test_a_fleet_file_is_read_in_order_with_defaults_and_gives_each_wave_jobs_matrix() -> None:
    fleet = parse(GOOD)
    assert fleet.waves == (
        Wave(1, "canary", ("eu-canary",), 1, "stop"),
        Wave(2, "europe", ("eu-1", "eu-2", "eu-3"), 2, "continue"),
    )
    assert fleet.targets == ("eu-canary", "eu-1", "eu-2", "eu-3")
    assert fleet.wave_of("eu-2").name == "europe"
    assert fleet.github_outputs() == {
        "waves": "2",
        "wave1": '{"name":"canary","max_parallel":1,"on_failure":"stop","matrix":{"target":["eu-canary"]}}',
        "wave2": '{"name":"europe","max_parallel":2,"on_failure":"continue",'
        '"matrix":{"target":["eu-1","eu-2","eu-3"]}}',
    }


def wave(name: str, targets: str, extra: str = "") -> str:
    return f'[[waves]]\nname = "{name}"\ntargets = [{targets}]\n{extra}\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[waves]]\nname = "a"\ntargets = ["x"\n', "is not valid TOML: "),
        ("[[waves]\n", "is not valid TOML: "),
        ('source = "staging"\n' + wave("a", '"x"'), "unknown key 'source'"),
        ("", "no waves: add a [[waves]] table"),
        ("waves = [1, 2]\n", "waves must be [[waves]] tables"),
        ('[[waves]]\ntargets = ["x"]\n', "[[waves]] #1: name must be a non-empty string"),
        (wave("Canary!", '"x"'), "[[waves]] #1: name: 'Canary!' is not an environment name"),
        (wave("a", ""), "[[waves]] #1 ('a'): targets must be a non-empty list"),
        ('[[waves]]\nname = "a"\ntargets = "x"\n', "[[waves]] #1 ('a'): targets must be a non-empty list"),
        (wave("a", '"EU 1"'), "[[waves]] #1 ('a'): targets: 'EU 1' is not an environment name"),
        (wave("a", '"x", "x"'), "[[waves]] #1 ('a'): targets lists 'x' twice"),
        (wave("a", '"x"') + wave("b", '"y", "x"'), "target 'x' is in wave 'a' and in 'b'"),
        (wave("a", '"x"') + wave("a", '"y"'), "two waves are named 'a'"),
        (wave("a", '"x"', "max_parallel = 0"), "[[waves]] #1 ('a'): max_parallel must be a whole number from 1"),
        (wave("a", '"x"', 'max_parallel = "4"'), "max_parallel must be a whole number from 1 to 256 (got '4')"),
        (wave("a", '"x"', "max_parallel = true"), "max_parallel must be a whole number from 1 to 256 (got True)"),
        (wave("a", '"x"', 'on_failure = "halt"'), 'on_failure must be "stop" or "continue" (got \'halt\')'),
        (wave("a", '"x"', "max_paralel = 2"), "[[waves]] #1 ('a'): unknown key 'max_paralel'"),
        ("".join(wave(f"w{i}", f'"t{i}"') for i in range(5)), "5 waves, more than the 4 promote-fleet.yml has"),
        (wave("a", ", ".join(f'"t{i}"' for i in range(257))), "at most 256 jobs from one matrix"),
    ],
)
def test_each_mistake_is_one_line_naming_the_file_and_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    line = str(caught.value)
    assert line.startswith("supabase/fleet.toml") and "\n" not in line
    assert message in line, line


def test_the_workflow_has_as_many_wave_slots_as_a_fleet_may_have_waves() -> None:
    parse("".join(wave(f"w{i}", f'"t{i}"') for i in range(WORKFLOW_WAVES)))


def test_missing_file_and_unknown_names_say_what_exists(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no supabase/fleet.toml in .*: create it with one \[\[waves\]\] table"):
        load(Project(tmp_path))
    (tmp_path / "supabase").mkdir()
    (tmp_path / FLEET_FILE).write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="cannot read supabase/fleet.toml"):
        load(Project(tmp_path))
    fleet = parse(GOOD)
    with pytest.raises(ConfigError, match=r"has no wave 'asia' \(waves: canary, europe\)"):
        fleet.wave("asia")
    with pytest.raises(ConfigError, match=r"has no target 'us-1' \(targets: eu-canary, eu-1, eu-2, eu-3\)"):
        fleet.wave_of("us-1")


# --- the wave runner -------------------------------------------------------------------------------


def scripted(results: dict[str, str], seconds: float = 0.05):  # noqa: ANN201
    """A run_one that takes a moment and returns the outcome scripted for each target, recording the order."""
    ran: list[str] = []
    running = {"now": 0, "most": 0}
    lock = threading.Lock()

    def run_one(w: Wave, name: str) -> TargetOutcome:
        with lock:
            ran.append(name)
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(seconds)
        with lock:
            running["now"] -= 1
        return TargetOutcome(
            name, w.name, results.get(name, PROMOTED), seconds, error="boom" if name in results else None
        )

    return run_one, ran, running


def fleet_of(on_failure: str, parallel: int) -> Fleet:
    return Fleet(
        "supabase/fleet.toml",
        (
            Wave(1, "canary", ("c1",)),
            Wave(2, "middle", ("m1", "m2", "m3", "m4", "m5"), parallel, on_failure),
            Wave(3, "last", ("l1", "l2")),
        ),
    )


def run(fleet: Fleet, run_one) -> FleetReport:  # noqa: ANN001
    report = FleetReport(fleet.file, "staging", ("1",))
    run_waves(report, [(w, list(w.targets)) for w in fleet.waves], run_one)
    return report


def outcome_of(report: FleetReport) -> dict[str, str]:
    return {o.target: o.outcome for o in report.outcomes}


def test_stop_starts_nothing_after_a_failure_and_no_later_wave() -> None:
    run_one, ran, _ = scripted({"m2": FAILED})
    report = run(fleet_of("stop", 1), run_one)
    assert ran == ["c1", "m1", "m2"]
    assert outcome_of(report) == {
        "c1": PROMOTED,
        "m1": PROMOTED,
        "m2": FAILED,
        "m3": NOT_STARTED,
        "m4": NOT_STARTED,
        "m5": NOT_STARTED,
        "l1": NOT_STARTED,
        "l2": NOT_STARTED,
    }
    assert report.stopped == "m2 failed in wave middle; waves last not started"
    assert next(o for o in report.outcomes if o.target == "m3").error == (
        "not started: m2 failed in this wave (on_failure = stop)"
    )
    assert not report.ok and report.first_failure is not None and report.first_failure.target == "m2"


def test_continue_finishes_the_wave_then_stops_before_the_next() -> None:
    run_one, ran, _ = scripted({"m2": FAILED})
    report = run(fleet_of("continue", 1), run_one)
    assert ran == ["c1", "m1", "m2", "m3", "m4", "m5"]
    assert [outcome_of(report)[t] for t in ("m3", "m4", "m5", "l1", "l2")] == [PROMOTED] * 3 + [NOT_STARTED] * 2
    assert [status["status"] for status in report.as_dict()["waves"]] == ["done", "failed", "not started"]


def test_a_wave_runs_at_most_max_parallel_at_once_and_a_clean_run_runs_everything() -> None:
    run_one, ran, running = scripted({}, seconds=0.1)
    report = run(fleet_of("stop", 3), run_one)
    assert report.ok and sorted(ran) == sorted(fleet_of("stop", 3).targets) and report.stopped is None
    assert running["most"] == 3


def test_a_failed_canary_starts_no_other_wave() -> None:
    run_one, ran, _ = scripted({"c1": FAILED})
    report = run(fleet_of("continue", 5), run_one)
    assert ran == ["c1"]
    assert report.stopped == "c1 failed in wave canary; waves middle, last not started"


def test_before_start_can_hold_a_target_back() -> None:
    run_one, ran, _ = scripted({})
    report = FleetReport("f", "staging", ())
    fleet = fleet_of("stop", 1)
    run_waves(
        report,
        [(w, list(w.targets)) for w in fleet.waves[:1]],
        run_one,
        before_start=lambda w, name: "m9 failed in this wave (on_failure = stop)",
    )
    assert ran == [] and outcome_of(report) == {"c1": NOT_STARTED}

    def unreachable(w: Wave, name: str) -> str | None:
        raise GitHubError("GitHub API GET /repos/acme/vision/actions/runs/1/jobs returned 403: Forbidden")

    report = FleetReport("f", "staging", ())
    run_waves(report, [(w, list(w.targets)) for w in fleet.waves[:1]], run_one, before_start=unreachable)
    assert ran == [] and report.outcomes[0].error == (
        "not started: cannot tell whether to start it: GitHub API GET /repos/acme/vision/actions/runs/1/jobs "
        "returned 403: Forbidden"
    )


def test_a_wave_starts_only_when_every_earlier_wave_is_done() -> None:
    fleet = fleet_of("stop", 1)
    source = env("staging", protected=False)

    def planned(pending: dict[str, tuple[str, ...]], refused: dict[str, str] | None = None) -> FleetPlan:
        targets = tuple(
            TargetPlan(t, w.name, None, (), pending.get(t, ()), tuple(filter(None, [(refused or {}).get(t)])))
            for w in fleet.waves
            for t in w.targets
        )
        return FleetPlan(fleet, source, ("1",), targets)

    require_done(planned({"l1": ("1",)}), fleet.wave("last"))  # the wave itself may be behind
    with pytest.raises(PromotionRefused, match=r"wave middle comes before last and is not done \(m4: 1 migration"):
        require_done(planned({"m4": ("1",)}), fleet.wave("last"))
    with pytest.raises(PromotionRefused, match=r"\(c1: not a prefix\): promote it first \(invoke fleet.promote --wave"):
        require_done(planned({}, {"c1": "not a prefix"}), fleet.wave("middle"))
    assert [t.target for t in planned({}).only(["m1", "l2"]).targets] == ["m1", "l2"]


# --- reports ---------------------------------------------------------------------------------------


def test_reports_round_trip_and_the_workflow_summary_marks_targets_without_a_report() -> None:
    fleet = parse(GOOD)
    done = TargetOutcome("eu-canary", "canary", PROMOTED, 3.21, ("20240101000000",), "/b/eu-canary-1.dump", 7)
    failed = TargetOutcome("eu-2", "europe", FAILED, 1.5, ("20240101000000",), "/b/eu-2-1.dump", None, "lock | wait")
    same = TargetOutcome("eu-1", "europe", UP_TO_DATE, 0.2)
    assert TargetOutcome.from_dict(failed.as_dict()) == failed
    documents = []
    for outcome in (done, failed, same):
        single = FleetReport(fleet.file, "staging", ("20240101000000",))
        single.waves.append((fleet.wave_of(outcome.target), [outcome]))
        documents.append(single.as_dict())
    report = gather(fleet, documents)
    assert outcome_of(report) == {"eu-canary": PROMOTED, "eu-1": UP_TO_DATE, "eu-2": FAILED, "eu-3": NOT_STARTED}
    assert report.stopped == "eu-2 failed in wave europe" and not report.ok
    text = report.markdown()
    assert text.startswith("## Fleet promotion from staging: FAILED")
    assert "| canary | eu-canary | promoted | 3.2s | 20240101000000 | `eu-canary-1.dump` | - |" in text
    assert "| europe | eu-2 | failed | 1.5s | 20240101000000 | `eu-2-1.dump` | lock \\| wait |" in text
    assert "| europe | eu-3 | not-started | - | - | - | not started: no report from its job |" in text
    assert report.as_dict()["counts"] == {"promoted": 1, "up-to-date": 1, "failed": 1, "refused": 0, "not-started": 1}


# --- resolving targets and confirming ----------------------------------------------------------------


def test_targets_need_no_env_file_are_protected_and_may_not_share_a_database(project_dir: ProjectDir) -> None:
    fleet = parse(GOOD)
    proj = Project(project_dir.root)
    project_dir.set_env("staging", SUPABASE_DB_URL="postgresql://postgres:pw@db.staging.example:5432/postgres")
    source = environments.resolve(proj, "staging", environ={})
    environ = {
        f"SUPABASE_DB_URL_{name.upper().replace('-', '_')}": f"postgresql://postgres:pw@db.{name}.example:5432/postgres"
        for name in fleet.targets
    }
    resolved = resolve_targets(proj, fleet, source, fleet.targets, environ)
    assert all(item.env is not None and item.env.protected for item in resolved.values())
    missing = resolve_targets(proj, fleet, source, fleet.targets, {k: v for k, v in environ.items() if "EU_2" not in k})
    assert missing["eu-2"].env is None and "environment 'eu-2' has no SUPABASE_DB_URL" in str(missing["eu-2"].problem)
    # A generic SUPABASE_DB_URL in the process would point every target without its own at one database.
    shared = {"SUPABASE_DB_URL": "postgresql://postgres:pw@db.one.example:5432/postgres"}
    with pytest.raises(ConfigError, match=r"eu-1 and eu-canary resolve to the same database .*: give each its own URL"):
        resolve_targets(proj, fleet, source, fleet.targets, shared)
    with pytest.raises(ConfigError, match="eu-canary and staging resolve to the same database"):
        resolve_targets(proj, fleet, source, ["eu-canary"], {"SUPABASE_DB_URL_EU_CANARY": source.url.raw})
    production = environments.resolve(proj, "staging", environ={})
    with pytest.raises(ConfigError, match="staging is a target in supabase/fleet.toml"):
        resolve_targets(proj, parse(GOOD.replace("eu-canary", "staging")), production, ["eu-1"], environ)


LOCAL_SOURCE = "postgresql://postgres:pw@localhost/postgres"


@pytest.mark.parametrize(
    "spelling",
    [
        "postgresql://postgres:pw@127.0.0.1:5432/postgres",
        "postgresql://postgres:pw@[::1]/postgres",
        "postgresql://postgres:pw@[0:0:0:0:0:0:0:1]:5432/postgres",
        "postgresql://postgres:pw@LocalHost./postgres",
        "host=127.0.0.1 port=5432 user=postgres password=pw dbname=postgres",
        "host=/var/run/postgresql user=postgres dbname=postgres",
        "postgresql://deployer:other@127.0.0.1/postgres",  # another role of the same server: one database
        "postgresql://postgres:pw@db.other.example,127.0.0.1/postgres",  # one of its hosts is this one
    ],
)
def test_another_spelling_of_the_sources_database_is_refused(project_dir: ProjectDir, spelling: str) -> None:
    proj = Project(project_dir.root)
    project_dir.set_env("staging", SUPABASE_DB_URL=LOCAL_SOURCE)
    source = environments.resolve(proj, "staging", environ={})
    with pytest.raises(ConfigError, match=r"^eu-canary and staging resolve to the same database \("):
        resolve_targets(proj, parse(GOOD), source, ["eu-canary"], {"SUPABASE_DB_URL_EU_CANARY": spelling})


def test_two_targets_on_one_remote_database_are_refused_whatever_the_spelling(project_dir: ProjectDir) -> None:
    proj = Project(project_dir.root)
    project_dir.set_env("staging", SUPABASE_DB_URL=LOCAL_SOURCE)
    source = environments.resolve(proj, "staging", environ={})
    pooler = "aws-0-eu-central-1.pooler.supabase.com"
    environ = {
        "SUPABASE_DB_URL_EU_1": f"postgresql://postgres.abcdefghijklmnop:pw@{pooler}/postgres",
        "SUPABASE_DB_URL_EU_2": f"postgresql://postgres.qrstuvwxyzabcdef:pw@{pooler}/postgres",  # another project
        "SUPABASE_DB_URL_EU_3": "postgresql://postgres:pw@10.0.0.7:5432/postgres",
    }
    names = ["eu-1", "eu-2", "eu-3"]
    assert all(item.env is not None for item in resolve_targets(proj, parse(GOOD), source, names, environ).values())
    for twin in (
        f"postgresql://postgres.abcdefghijklmnop:pw@{pooler.upper()}:5432/postgres",
        "host=10.0.0.7 user=postgres password=pw dbname=postgres",
        "postgresql://postgres:pw@[::ffff:10.0.0.7]/postgres",
    ):
        with pytest.raises(ConfigError, match=r"^eu-canary and eu-[13] resolve to the same database"):
            resolve_targets(
                proj, parse(GOOD), source, [*names, "eu-canary"], {**environ, "SUPABASE_DB_URL_EU_CANARY": twin}
            )
    # Another port, another database name or another server is another database.
    for other in (
        "postgresql://postgres:pw@127.0.0.1:5433/postgres",
        "postgresql://postgres:pw@localhost/app",
        "postgresql://postgres:pw@10.0.0.8/postgres",
    ):
        resolve_targets(proj, parse(GOOD), source, ["eu-canary"], {"SUPABASE_DB_URL_EU_CANARY": other})


def env(name: str, *, protected: bool) -> Environment:
    return Environment.for_url(name, DbUrl.parse(f"postgresql://u:p@{name}.example/postgres"), protected=protected)


def test_confirming_many_targets() -> None:
    open_ones = [env("a", protected=False)]
    confirm_many(open_ones, action="promote", yes=False, interactive=False)
    guarded = [env("a", protected=True), env("b", protected=True), env("c", protected=False)]
    with pytest.raises(ConfirmationRequired, match=r"2 protected target\(s\) \(a, b\) and stdin is not a terminal"):
        confirm_many(guarded, action="promote", yes=False, interactive=False)
    confirm_many(guarded, action="promote", yes=True, interactive=False)
    asked: list[str] = []
    confirm_many(guarded, action="promote", yes=False, interactive=True, ask=lambda q: asked.append(q) or "2")
    assert "Type 2 to continue" in asked[0]
    with pytest.raises(ConfirmationRequired, match="not confirmed: nothing was done"):
        confirm_many(guarded, action="promote", yes=False, interactive=True, ask=lambda _q: "b")


# --- the stop check in GitHub Actions -------------------------------------------------------------


def test_a_stop_wave_job_sees_its_failed_siblings_through_the_run_s_jobs() -> None:
    with serving() as github:
        names = ["plan"] + [f"filler {i}" for i in range(150)]  # more than one page
        github.jobs = [{"id": i, "name": n, "conclusion": "success"} for i, n in enumerate(names)]
        github.jobs += [
            {"id": 900, "name": github_run.job_name(2, "eu-1"), "conclusion": "failure"},
            {"id": 901, "name": github_run.job_name(2, "eu-2"), "conclusion": None},
            {"id": 902, "name": github_run.job_name(3, "us-1"), "conclusion": "failure"},
            {"id": 903, "name": github_run.job_name(2, "eu-3"), "conclusion": "failure"},
        ]
        process = ProcessSettings(
            github_actions=True,
            github_token=TOKEN,
            github_api_url=github.base_url,
            github_repository=REPOSITORY,
            github_run_id=str(github.run_id),
        )
        api, repository, run_id = github_run.from_environment(process)
        assert github_run.failed_siblings(api, repository, run_id, 2, "eu-2") == ["eu-1", "eu-3"]
        assert github_run.failed_siblings(api, repository, run_id, 2, "eu-3") == ["eu-1"]
        assert github_run.failed_siblings(api, repository, run_id, 1, "eu-canary") == []
    with pytest.raises(ConfigError, match="GITHUB_RUN_ID must be"):
        github_run.from_environment(ProcessSettings(github_token=TOKEN, github_repository=REPOSITORY))
