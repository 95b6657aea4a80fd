"""HeldPush reads the CLI's question as CLI 3.1.0 prints it, and answers nothing else.

The bytes below were recorded from `supabase db push` 3.1.0 run without --yes with stdin and stdout on a
terminal and stderr on a pipe, with and without NO_COLOR. A stand-in program replays them on a real
terminal and pipe (the real CLI asking is covered end to end in test_push_gates.py): each case is a
way the CLI could answer otherwise than measured, which must never be taken for its question.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from supadeploy import supabase_cli
from supadeploy.dburl import DbUrl
from supadeploy.supabase_cli import HeldPush, SupabaseCli

URL = DbUrl.parse("postgresql://postgres:s3cret-pw@127.0.0.1:5/postgres")
FILES = ("20240101000000_table_0.sql", "20240101000001_table_1.sql")
TARGET = b"Target: custom Postgres (127.0.0.1:51215)\n"
LISTED_PLAIN = (
    b"Apply these migrations:\n \xe2\x80\xa2 20240101000000_table_0.sql\n \xe2\x80\xa2 20240101000001_table_1.sql\n"
)
LISTED_COLOUR = (
    b"Apply these migrations:\n \xe2\x80\xa2 \x1b[1m20240101000000_table_0.sql\x1b[22m\n"
    b" \xe2\x80\xa2 \x1b[1m20240101000001_table_1.sql\x1b[22m\n"
)
QUESTION_PLAIN = (
    b"\x1b[?25l\xe2\x94\x82\r\n\xe2\x97\x86  Apply 2 migrations on custom Postgres (127.0.0.1:51215)?\r\n"
    b"\xe2\x94\x82  \xe2\x97\x8b Yes / \xe2\x97\x8f No\r\n\xe2\x94\x94\r\n"
)
QUESTION_COLOUR = (
    b"\x1b[?25l\x1b[90m\xe2\x94\x82\x1b[39m\r\n\x1b[36m\xe2\x97\x86\x1b[39m  Apply 2 migrations on custom Postgres "
    b"(127.0.0.1:51215)?\r\n\x1b[36m\xe2\x94\x82\x1b[39m  \x1b[2m\xe2\x97\x8b\x1b[22m \x1b[2mYes\x1b[22m "
    b"\x1b[2m/\x1b[22m \x1b[32m\xe2\x97\x8f\x1b[39m No\r\n\x1b[36m\xe2\x94\x94\x1b[39m\r\n"
)
ANSWERED = (
    b"\x1b[1A\r\n\x1b[?25h\x1b[999D\x1b[4A\x1b[1B\x1b[J\x1b[32m\xe2\x97\x87\x1b[39m  Apply 2 migrations on custom "
    b"Postgres (127.0.0.1:51215)?\r\n\x1b[90m\xe2\x94\x82\x1b[39m  \x1b[2mYes\x1b[22m\r\n"
)
APPLYING = b"Applying migration 20240101000000_table_0.sql...\nApplying migration 20240101000001_table_1.sql...\n"
FINISHED = b"Finished \x1b[36msupabase db push\x1b[39m.\r\n"

STAND_IN = """#!{python}
import os, sys, tty
open({argv_file!r}, "w").write(repr(sys.argv) + "\\n" + repr(os.environ.get("PGPASSWORD")))
os.write(2, {stderr!r})
if {raw!r}:
    tty.setraw(0)  # as CLI 3.1.0 does before it asks: the key arrives without a newline
os.write(1, {terminal!r})
if not {asks!r}:
    sys.exit({code!r})
key = os.read(0, 1)
if key != b"y":
    sys.exit(3)
os.write(1, {answered!r})
os.write(2, {applying!r})
os.write(1, {finished!r})
"""


def held(
    tmp_path: Path,
    *,
    stderr: bytes,
    terminal: bytes,
    asks: bool = True,
    code: int = 0,
    raw: bool = True,
) -> HeldPush:
    program = tmp_path / "supabase"
    program.write_text(
        STAND_IN.format(
            python=sys.executable,
            argv_file=str(tmp_path / "argv"),
            stderr=stderr,
            terminal=terminal,
            asks=asks,
            code=code,
            raw=raw,
            answered=ANSWERED,
            applying=APPLYING,
            finished=FINISHED,
        )
    )
    program.chmod(0o755)
    started = SupabaseCli(binary=program, version="3.1.0", workdir=tmp_path).hold_push(URL)
    assert started is not None
    return started


@pytest.mark.parametrize(
    ("stderr", "terminal"),
    [(TARGET + LISTED_PLAIN, QUESTION_PLAIN), (TARGET + LISTED_COLOUR, QUESTION_COLOUR)],
    ids=["no-colour", "colour"],
)
def test_the_question_as_recorded_is_read_and_answered(tmp_path: Path, stderr: bytes, terminal: bytes) -> None:
    push = held(tmp_path, stderr=stderr, terminal=terminal)
    assert push.asks(patience=30) == FILES
    lines: list[str] = []
    assert push.confirm().finish(lines.append) == FILES
    assert lines == [
        "Target: custom Postgres (127.0.0.1:51215)",
        "Apply these migrations:",
        *(f" • {f}" for f in FILES),
        *(f"Applying migration {f}..." for f in FILES),
        "Finished supabase db push.",
    ]  # the question's frame, drawn and redrawn on the terminal, is no output line
    argv, password = (tmp_path / "argv").read_text().splitlines()
    assert "s3cret-pw" not in argv and "--yes" not in argv
    assert password == repr("s3cret-pw")


@pytest.mark.parametrize(
    ("stderr", "terminal", "asks"),
    [
        # another question (a later CLI asking something else first)
        (TARGET + LISTED_PLAIN, b"\xe2\x94\x82\r\n\xe2\x97\x86  Update vault secrets on production?\r\n", True),
        # a plain-text question
        (TARGET + LISTED_PLAIN, b"Do you want to push these migrations? [Y/n] ", True),
        # a message instead of a question, then it waits
        (TARGET, b"Remote database is up to date.\r\n", True),
        # it ends without asking
        (TARGET, b"", False),
    ],
    ids=["other-question", "plain-prompt", "message", "exit"],
)
def test_anything_but_the_measured_question_is_not_answered(
    tmp_path: Path, stderr: bytes, terminal: bytes, asks: bool
) -> None:
    push = held(tmp_path, stderr=stderr, terminal=terminal, asks=asks, code=1)
    began = time.monotonic()
    assert push.asks(patience=30) is None
    assert time.monotonic() - began < 10, "no waiting out the patience for a question that will not come"
    push.kill()
    assert push.proc.returncode is not None


def test_a_list_that_does_not_add_up_to_the_question_is_not_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supabase_cli, "LIST_GRACE", 0.5)
    one_listed = TARGET + b"Apply these migrations:\n \xe2\x80\xa2 20240101000000_table_0.sql\n"
    push = held(tmp_path, stderr=one_listed, terminal=QUESTION_PLAIN)  # the question says 2
    assert push.asks(patience=30) is None
    push.kill()
    three_listed = LISTED_PLAIN + b" \xe2\x80\xa2 20240101000002_more.sql\n"
    push = held(tmp_path, stderr=TARGET + three_listed, terminal=QUESTION_PLAIN)
    assert push.asks(patience=30) is None
    push.kill()


def test_a_question_asked_before_the_terminal_reads_keys_is_not_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key sent while the terminal still buffers lines could be flushed when it switches: the CLI would wait."""
    monkeypatch.setattr(supabase_cli, "LIST_GRACE", 0.5)
    push = held(tmp_path, stderr=TARGET + LISTED_PLAIN, terminal=QUESTION_PLAIN, raw=False)
    assert push.asks(patience=30) is None
    push.kill()


def test_a_cli_that_is_not_3_x_is_not_started_asking(tmp_path: Path) -> None:
    """The question was measured on 3.1.0: another major may ask otherwise, so it is not started this way."""
    cli = SupabaseCli(binary=Path(sys.executable), version="2.72.7", workdir=tmp_path)
    assert cli.hold_push(URL) is None


def test_a_killed_cli_leaves_no_open_pipe(tmp_path: Path) -> None:
    """A push that stops the CLI unanswered (a gate refused) keeps none of its descriptors: fleets run many."""
    push = held(tmp_path, stderr=TARGET + LISTED_PLAIN, terminal=QUESTION_PLAIN)
    assert push.asks(patience=30) == FILES
    push.kill()
    assert push.proc.stderr is not None and push.proc.stderr.closed
