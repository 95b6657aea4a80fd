"""The push's pure logic, without a database or a CLI: planning, the CLI's failure output, the retry loop,
the ledger's comparison of recorded statements with files, and the limits from settings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from supadeploy.database import AppliedMigration
from supadeploy.errors import PushFailed
from supadeploy.ledger import statements_match, verify
from supadeploy.migrations import MigrationFile
from supadeploy.push import Limits, committed_statements, plan_push, retry_lock_timeouts, what_stays
from supadeploy.settings import load
from supadeploy.supabase_cli import push_failure

RECORDED = Path(__file__).parent / "cli_output"  # what supabase 3.1.0 printed, recorded once


def files(*versions: str, folder: Path = Path("/nowhere")) -> list[MigrationFile]:
    return [MigrationFile(v, f"m{v}", folder / f"{v}_m{v}.sql") for v in versions]


def applied(*versions: str) -> list[AppliedMigration]:
    return [AppliedMigration(v, f"m{v}") for v in versions]


# --- plan_push ------------------------------------------------------------------------------------


def test_plan_of_a_fresh_database_is_every_file_in_order() -> None:
    plan = plan_push(files("1", "10", "2"), [], "local")
    assert [f.version for f in plan.pending] == ["1", "10", "2"]
    assert plan.out_of_order == () and plan.remote_only == ()


def test_plan_orders_versions_as_the_cli_does() -> None:
    # supabase 3.1.0 compares versions as strings: after 10 and 9 it refuses 100 (older than 9) and pushes 99.
    plan = plan_push(files("10", "100", "9", "99"), applied("9", "10"), "local")
    assert [f.version for f in plan.pending] == ["100", "99"]
    assert [f.version for f in plan.out_of_order] == ["100"]


def test_plan_finds_files_older_than_the_newest_applied() -> None:
    plan = plan_push(files("1", "2", "3"), applied("1", "3"), "staging")
    assert [f.version for f in plan.pending] == ["2"]
    assert [f.version for f in plan.out_of_order] == ["2"]
    assert plan.env == "staging"


def test_plan_finds_versions_applied_without_a_local_file() -> None:
    plan = plan_push(files("1", "4"), applied("1", "5", "20"), "local")
    assert plan.remote_only == ("20", "5")
    assert [f.version for f in plan.pending] == ["4"] and [f.version for f in plan.out_of_order] == ["4"]


def test_plan_of_an_up_to_date_database_is_empty() -> None:
    plan = plan_push(files("1", "2"), applied("1", "2"), "local")
    assert (plan.pending, plan.out_of_order, plan.remote_only) == ((), (), ())


# --- the CLI's failure output ---------------------------------------------------------------------


def recorded(name: str) -> list[str]:
    return (RECORDED / name).read_text().splitlines()


def test_a_failed_statement_names_file_statement_reason_and_what_was_applied() -> None:
    lines = recorded("push_failed_statement.txt")
    failure = push_failure(lines, ["20240101000000_good.sql", "20240102000000_bad.sql"])
    assert failure.file == "20240102000000_bad.sql"
    assert failure.detail == 'relation "missing_table" does not exist (SQLSTATE 42P01)'
    assert failure.statement == "#1 insert into missing_table values (1) ^"
    assert failure.applied == ("20240101000000_good.sql",)
    assert str(failure) == (
        'migration 20240102000000_bad.sql failed: relation "missing_table" does not exist (SQLSTATE 42P01) '
        "-- in statement: #1 insert into missing_table values (1) ^ "
        "(applied before the failure: 20240101000000_good.sql)"
    )


def test_a_lock_timeout_keeps_its_sqlstate_for_the_retry_loop() -> None:
    failure = push_failure(recorded("push_lock_timeout.txt"), ["20240104000000_alter_good.sql"])
    assert "55P03" in failure.detail and failure.statement == "#0 alter table good add column note text"
    assert str(failure).endswith("(nothing was applied)")


def test_a_file_whose_outcome_is_unknown_is_never_called_not_applied() -> None:
    failure = PushFailed(file="2_b.sql", statement=None, detail="Applying migration 2_b.sql...", outcome_unknown=True)
    for told in (str(failure), str(failure.amended(earlier=("1_a.sql",)))):
        assert "nothing was applied" not in told and "may still commit 2_b.sql" in told and "\n" not in told
    assert str(failure.amended(earlier=("1_a.sql",))).endswith("(applied before the failure: 1_a.sql)")


def test_a_failure_before_any_file_names_the_cause_not_the_cli_s_advice() -> None:
    failure = push_failure(recorded("push_unreachable.txt"), [])
    assert failure.file is None and failure.statement is None
    assert failure.detail.startswith("failed to connect to postgres: ")
    assert "ECONNREFUSED" in failure.detail
    assert str(failure).startswith("db push failed: ")


@pytest.mark.parametrize(
    ("recording", "cause"),
    [
        ("push_connection_lost.txt", "the connection to the database was lost: Connection terminated unexpectedly"),
        (
            "push_connection_terminated.txt",
            "the server closed the connection: terminating connection due to administrator command (SQLSTATE 57P01)",
        ),
    ],
)
def test_a_dropped_connection_is_named_as_the_cause(recording: str, cause: str) -> None:
    failure = push_failure(recorded(recording), ["20240101000000_a.sql", "20240102000000_b.sql"])
    assert failure.detail == cause
    assert failure.statement == "#0 select pg_sleep(5)" and failure.index == 0
    assert str(failure) == (
        f"migration 20240102000000_b.sql failed: {cause} -- in statement: #0 select pg_sleep(5) "
        "(applied before the failure: 20240101000000_a.sql)"
    )


def test_success_output_lists_the_files_applied() -> None:
    from supadeploy.supabase_cli import _APPLYING

    lines = recorded("push_success.txt")
    assert [m["file"] for m in map(_APPLYING.match, lines) if m] == ["20240104000000_alter_good.sql"]


# --- the retry loop -------------------------------------------------------------------------------


def lock_timeout(file: str, applied: tuple[str, ...] = ()) -> PushFailed:
    return PushFailed(
        file=file, statement=None, detail="canceling statement due to lock timeout (SQLSTATE 55P03)", applied=applied
    )


def test_lock_timeouts_are_retried_with_backoff_and_the_applied_files_add_up() -> None:
    outcomes: list[PushFailed | tuple[str, ...]] = [
        lock_timeout("2_b.sql", applied=("1_a.sql",)),
        lock_timeout("2_b.sql"),
        ("2_b.sql", "3_c.sql"),
    ]
    waits: list[float] = []
    lines: list[str] = []

    def attempt(number: int) -> tuple[str, ...]:
        outcome = outcomes[number]
        if isinstance(outcome, PushFailed):
            raise outcome
        return outcome

    done = retry_lock_timeouts(attempt, Limits(retries=3, backoff=2.0), lines.append, waits.append, rand=lambda: 0.5)
    assert done == ("1_a.sql", "2_b.sql", "3_c.sql")
    assert waits == [1.5, 3.0]
    assert lines == ["lock timeout in 2_b.sql: retry 1/3 in 1.5s", "lock timeout in 2_b.sql: retry 2/3 in 3.0s"]


def test_the_default_retry_schedule_doubles_is_capped_and_jittered_within_bounds() -> None:
    limits = Limits()
    assert (limits.lock_timeout, limits.retries, limits.backoff, limits.backoff_cap) == ("500ms", 10, 0.5, 30.0)
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert limits.retry_delays(lambda: 0.0) == tuple(c / 2 for c in ceilings)  # the fixed half
    assert limits.retry_delays(lambda: 0.999999) == pytest.approx(ceilings, rel=1e-5)  # never more than the ceiling
    rng = random.Random(17)
    for _ in range(200):
        delays = limits.retry_delays(rng.random)
        assert all(c / 2 <= d < c for d, c in zip(delays, ceilings, strict=True))
    # Bounded: ten retries wait under 152 s in all, whatever the draw; the first within a second.
    assert sum(limits.retry_delays(lambda: 0.999999)) < 152 and limits.retry_delays(rng.random)[0] < 0.5


def test_jitter_spreads_pushes_that_one_lock_blocked_together() -> None:
    limits = Limits()
    first_waits = {round(Limits().retry_delays(random.Random(seed).random)[3], 3) for seed in range(20)}
    assert len(first_waits) > 15 and min(first_waits) >= 2.0 and max(first_waits) < 4.0
    assert limits.retry_delays(random.Random(1).random) == limits.retry_delays(random.Random(1).random)


def test_no_retries_means_no_schedule_and_one_attempt() -> None:
    calls: list[int] = []

    def attempt(number: int) -> tuple[str, ...]:
        calls.append(number)
        raise lock_timeout("2_b.sql")

    assert Limits(retries=0).retry_delays() == ()
    with pytest.raises(PushFailed):
        retry_lock_timeouts(attempt, Limits(retries=0), sleep=lambda _: None)
    assert calls == [0]


def test_a_file_that_cannot_be_resumed_is_not_retried() -> None:
    calls: list[int] = []

    def attempt(number: int) -> tuple[str, ...]:
        calls.append(number)
        raise lock_timeout("2_b.sql")

    with pytest.raises(PushFailed):
        retry_lock_timeouts(attempt, Limits(retries=5), sleep=lambda _: None, resumable=lambda _f: False)
    assert calls == [0]


def test_retries_are_bounded() -> None:
    calls: list[int] = []

    def attempt(number: int) -> tuple[str, ...]:
        calls.append(number)
        raise lock_timeout("2_b.sql")

    with pytest.raises(PushFailed, match="55P03"):
        retry_lock_timeouts(attempt, Limits(retries=2), sleep=lambda _: None)
    assert calls == [0, 1, 2]


def test_a_failure_after_retries_names_every_file_the_push_applied() -> None:
    outcomes = [lock_timeout("2_b.sql", applied=("1_a.sql",)), lock_timeout("2_b.sql"), lock_timeout("2_b.sql")]

    def attempt(number: int) -> tuple[str, ...]:
        raise outcomes[number]

    with pytest.raises(PushFailed) as caught:
        retry_lock_timeouts(attempt, Limits(retries=2), sleep=lambda _: None)
    assert caught.value.applied == ("1_a.sql",)
    assert "(applied before the failure: 1_a.sql)" in str(caught.value)
    assert "nothing was applied" not in str(caught.value)


def test_a_different_failure_after_a_retry_still_names_what_the_first_attempt_applied() -> None:
    outcomes = [
        lock_timeout("2_b.sql", applied=("1_a.sql",)),
        PushFailed(file="3_c.sql", statement=None, detail="syntax error (SQLSTATE 42601)", applied=("2_b.sql",)),
    ]

    def attempt(number: int) -> tuple[str, ...]:
        raise outcomes[number]

    with pytest.raises(PushFailed) as caught:
        retry_lock_timeouts(attempt, Limits(retries=3), sleep=lambda _: None)
    assert caught.value.applied == ("1_a.sql", "2_b.sql")


def test_other_failures_are_not_retried() -> None:
    calls: list[int] = []

    def attempt(number: int) -> tuple[str, ...]:
        calls.append(number)
        raise PushFailed(file="2_b.sql", statement=None, detail="syntax error (SQLSTATE 42601)")

    with pytest.raises(PushFailed, match="42601"):
        retry_lock_timeouts(attempt, Limits(retries=5), sleep=lambda _: None)
    assert calls == [0]


# --- limits and the ledger's comparisons -----------------------------------------------------------


def test_limits_come_from_settings_and_timeouts_only_on_protected_targets(tmp_path: Path) -> None:
    limits = Limits.of(load(tmp_path, "local", {"SUPADEPLOY_LOCK_TIMEOUT": "300ms", "SUPADEPLOY_LOCK_RETRIES": "1"}))
    assert (limits.lock_timeout, limits.retries, limits.lock_wait) == ("300ms", 1, 600.0)
    assert limits.session_settings(protected=False) is None
    assert limits.session_settings(protected=True) == {"lock_timeout": "300ms", "statement_timeout": "15min"}


@pytest.mark.parametrize(
    ("statements", "text", "same"),
    [
        (["create table a (id int)"], "-- a comment\ncreate table a (id int);\n", True),
        (
            ["create table a (id int)", "alter table a enable row level security"],
            "create table a (id int);\n/* x */\nalter table a\n  enable row level security;",
            True,
        ),
        (["create table a (id int)"], "create table a (id bigint);", False),
        # as the CLI records them: leading comments kept with the statement, no semicolons
        (
            ["-- a comment\ncreate table a (note text default '--')", "/* b */\ninsert into a values ('row 2')"],
            "-- a comment\ncreate table a (note text default '--');  /* b */\ninsert into a values ('row 2');\n",
            True,
        ),
        (["insert into a values ('row 2')"], "insert into a values ('row2');", False),
        (["insert into a values ('row 2')"], "insert into a values ('row  2');", False),
        (["select 1 -- trailing comment"], "select 1; -- trailing comment", True),
        (
            ["create function f() returns int language sql as $$ select 1 $$"],
            "create function f() returns int language sql as $$ select 2 $$;",
            False,
        ),
        # the same statement at another offset: every position field is left out (arg_location, IN lists...)
        (
            ["create function f() returns int language sql as $$ select 1 $$", "select 1 where 1 in (1, 2)"],
            "-- shifts every offset\n\ncreate function f()\n  returns int language sql as $$ select 1 $$;\n"
            "select 1 where 1 in (1,2);\nnotify ch, 'x';",
            False,  # one more statement
        ),
        (
            [
                "create function f() returns int language sql as $$ select 1 $$",
                "select 1 where 1 in (1, 2)",
                "notify c, 'x'",
            ],
            "-- shifts every offset\n\ncreate function f()\n  returns int language sql as $$ select 1 $$;\n"
            "select 1 where 1 in (1,2);\nnotify c,   'x';",
            True,
        ),
        ([], "", True),  # an empty file: the CLI records no statement
        ([], "-- only a comment\n", True),
        ([], "select 1;", False),
        (["select 1"], "select (", False),  # what does not parse proves nothing
    ],
)
def test_statements_match_reads_both_with_postgresql_s_parser(statements: list[str], text: str, same: bool) -> None:
    assert statements_match(statements, text) is same


def test_verify_backfills_what_matches_and_names_what_changed(tmp_path: Path) -> None:
    kept, edited, recorded_ok, recorded_changed, pending = files("1", "2", "3", "4", "5", folder=tmp_path)
    kept.path.write_text("create table a (id int);")
    edited.path.write_text("create table b (id bigint);")
    recorded_ok.path.write_text("create table c (id int);")
    recorded_changed.path.write_text("create table d (id int); -- now with a comment")
    history = [
        AppliedMigration("1", "m1", ("create table a (id int)",)),
        AppliedMigration("2", "m2", ("create table b (id int)",)),
        AppliedMigration("3", "m3"),
        AppliedMigration("4", "m4"),
    ]
    checksums = {"3": recorded_ok.sha256(), "4": "0" * 64}
    result = verify(None, [kept, edited, recorded_ok, recorded_changed, pending], history, checksums)
    assert [f.version for f in result.backfilled] == ["1"]
    assert [f.version for f in result.changed] == ["2", "4"]


# --- what a failing file with its own transaction control leaves behind ---------------------------

B, C, R, ALONE = ("begin", ""), ("commit", ""), ("rollback", ""), ("own", "")


@pytest.mark.parametrize(
    ("kinds", "failing", "stays"),
    [
        # each case as the Supabase CLI 3.1.0 ran it on PostgreSQL 15 (tests/test_push.py runs one for real)
        ([None, None], 2, []),  # t1; t3; fail: one transaction, nothing stays
        ([None, B, None], 3, [0]),  # t1; begin; t2; fail; commit
        ([None, B, None, C], 4, [0, 2]),  # t1; begin; t2; commit; fail
        ([None, B, None, R, None], 5, [0, 4]),  # t1; begin; t2; rollback; t3; fail
        ([None, C, None], 3, [0, 2]),  # t1; commit; t3; fail
        ([None, R, None], 3, [0, 2]),  # t1; rollback; t3; fail
        ([None, B, None, C, B, None], 6, [0, 2]),  # t1; begin; t2; commit; begin; t3; fail
        ([B, None, C, None, B, None], 6, [1, 3]),  # begin; t1; commit; t2; begin; t3; fail
        # t0; begin; t1; savepoint s; t2; rollback to s; t3; commit; fail
        ([None, B, None, ("savepoint", "s"), None, ("rollback_to", "s"), None, C], 8, [0, 2, 6]),
        # a statement of its own (CREATE INDEX CONCURRENTLY...): what came before is committed, then it alone
        ([None, ALONE, None], 3, [0, 1]),  # t1; create index concurrently; t2; fail (tests/test_messages.py)
        ([ALONE, None, ALONE, None], 4, [0, 1, 2]),
        ([None, B, None, C, ALONE, None], 6, [0, 2, 4, 5]),  # after the file's own control: each by itself
    ],
)
def test_what_stays_of_a_file_that_commits_on_its_own(
    kinds: list[tuple[str, str] | None], failing: int, stays: list[int]
) -> None:
    assert committed_statements(kinds, failing) == stays


def test_a_file_run_one_by_one_keeps_every_statement_before_the_failure() -> None:
    assert committed_statements([None, None, ALONE], 3, one_by_one=True) == [0, 1, 2]
    assert committed_statements([None, None], 2, one_by_one=False) == []


def test_the_report_names_the_statements_that_stay_and_never_claims_nothing_was_applied(tmp_path: Path) -> None:
    (migration,) = files("20240103000000", folder=tmp_path)
    migration.path.write_text(
        "create table before_tx (id int);\nbegin;\n-- inside\ncreate table inside_tx (id int);\ncommit;\n"
        "create table after_tx (id int);\nselect 1/0;\n"
    )
    failure = PushFailed(file=migration.filename, statement="#5 select 1/0", detail="division by zero", index=5)
    told = str(what_stays(failure, [migration]))
    assert "nothing was applied" not in told
    assert "commits on its own, so 3 of its statements before the failure stay applied" in told
    assert "line 1: create table before_tx (id int)" in told
    assert "line 4: create table inside_tx (id int)" in told and "line 6: create table after_tx" in told


def test_a_file_without_transaction_control_still_says_nothing_was_applied(tmp_path: Path) -> None:
    (migration,) = files("1", folder=tmp_path)
    migration.path.write_text("create table a (id int);\nselect 1/0;\n")
    failure = PushFailed(file=migration.filename, statement="#1 select 1/0", detail="division by zero", index=1)
    assert str(what_stays(failure, [migration])).endswith("(nothing was applied)")
