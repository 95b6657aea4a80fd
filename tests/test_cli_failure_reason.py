"""The Supabase CLI's own reason reaches the one-line error, not its generic trailer."""

from __future__ import annotations

from supadeploy.supabase_cli import failure_reason, push_failure

TRAILER = "Try rerunning the command with --debug to troubleshoot the error."


def test_a_config_refusal_is_the_reason_of_a_failed_push() -> None:
    lines = ["[inbucket] in supabase/config.toml is no longer supported. Use [local_smtp] instead.", TRAILER]
    failure = push_failure(lines, started=[])
    assert failure.detail == lines[0]
    assert str(failure) == f"db push failed: {lines[0]}"


def test_a_database_error_still_wins_over_the_last_line() -> None:
    lines = [
        "Applying migration 20250101000000_a.sql...",
        "ERROR: must be owner of table users (SQLSTATE 42501)",
        "At statement: 0",
        "alter table auth.users add column x int",
        TRAILER,
    ]
    failure = push_failure(lines, started=["20250101000000_a.sql"])
    assert failure.detail == "must be owner of table users (SQLSTATE 42501)"
    assert failure.file == "20250101000000_a.sql"


def test_the_trailer_alone_is_no_reason() -> None:
    assert failure_reason([TRAILER, "", "Target: local"], "exit code 1") == "exit code 1"
