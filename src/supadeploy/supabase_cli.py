"""The CLI leg: the one module that runs the Supabase CLI.

It finds the binary, builds argv (never a shell string), keeps passwords off argv (PGPASSWORD) and out of
output (scrubbed), and parses what it prints.
"""

from __future__ import annotations

import json
import os
import platform
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supadeploy import pgtools
from supadeploy.dburl import DbUrl
from supadeploy.errors import CliError, PushFailed, ToolFailed, ToolNotFound
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project
from supadeploy.settings import CLI_YES, SUPABASE_BIN, ProcessSettings

PINNED_CLI_VERSION = "3.1.0"
# The application_name the pinned CLI's database driver (@effect/sql-pg) gives its connections; PGAPPNAME and
# PGOPTIONS cannot change it. How supadeploy tells the CLI's backends from the traffic queued behind them.
CLI_APPLICATION_NAME = "@effect/sql-pg"
CLI_VARIABLE = SUPABASE_BIN
_TOOLKIT_ROOT = Path(__file__).resolve().parents[2]
_PLATFORM = (
    {"linux": "linux", "darwin": "darwin", "win32": "windows"}.get(sys.platform, sys.platform)
    + "-"
    + ("x64" if platform.machine() in ("x86_64", "AMD64") else "arm64")
)
_APPLYING = re.compile(r"^Applying migration (?P<file>.+\.sql)\.\.\.$")  # any name after <digits>_, spaces too
_AT_STATEMENT = re.compile(r"^At statement:? (?P<index>\d+)")
_CREATED = re.compile(r"Created new migration at (?P<path>\S+\.sql)")
# How CLI 3.x asks before a push when its stdout is a terminal (measured on 3.1.0): stderr gets
# "Apply these migrations:" and a " • <file>" line a file, then the terminal gets a yes/no question,
# "◆  Apply 2 migrations on <target>?". Until it is answered it has only read its history table.
ASKING_MAJOR = "3"
_QUESTION = re.compile(r"^◆\s+Apply (?P<count>\d+) migrations? on .+\?$")
_LISTED = re.compile(r"^ • (?P<file>.+\.sql)$")
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # colours and cursor moves
_UNFINISHED_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*)?$")  # one cut short by the end of what was read
_PROMPT_GLYPHS = ("│", "◆", "◇", "└", "┌", "■", "▲")  # the question's frame, redrawn once answered
LIST_GRACE = 5.0  # seconds the file list may trail the question it belongs to

__all__ = ["CliRun", "HeldPush", "LineSink", "StartedPush", "SupabaseCli", "discard", "find_cli", "push_failure"]


@dataclass(frozen=True)
class CliRun:
    """What one CLI invocation printed (passwords already removed) and how it exited."""

    returncode: int
    lines: tuple[str, ...]
    stdout: str = ""


@dataclass(frozen=True)
class SupabaseCli:
    """A located Supabase CLI binary bound to one project folder."""

    binary: Path
    version: str
    workdir: Path

    @property
    def version_warning(self) -> str | None:
        """A warning when this binary is not the version package.json pins."""
        if self.version == PINNED_CLI_VERSION:
            return None
        return (
            f"warning: Supabase CLI {self.version} at {self.binary} differs from the pinned "
            f"{PINNED_CLI_VERSION}: run npm ci"
        )

    def _argv(self, args: Sequence[str]) -> list[str]:
        return [str(self.binary), *args, "--workdir", str(self.workdir), "--agent", "no"]

    def stream(
        self,
        args: Sequence[str],
        *,
        url: DbUrl | None = None,
        on_line: LineSink = discard,
        extra_env: Mapping[str, str] | None = None,
    ) -> CliRun:
        """Run the CLI, passing each output line (stdout and stderr merged, scrubbed) to on_line."""
        done = pgtools.stream(
            self._argv(args),
            env=pgtools.child_env(url, extra_env),
            cwd=self.workdir,
            what="the Supabase CLI",
            scrub=url.scrub if url is not None else str,
            on_line=on_line,
        )
        return CliRun(done.returncode, done.lines)

    def capture(self, args: Sequence[str], *, url: DbUrl | None = None, timeout: float = 300) -> CliRun:
        """Run the CLI and keep stdout apart from stderr (for --output-format json)."""
        try:
            done = pgtools.capture(
                self._argv(args), env=pgtools.child_env(url), cwd=self.workdir, what="the Supabase CLI", timeout=timeout
            )
        except ToolFailed as exc:
            raise CliError(str(exc).replace("the Supabase CLI", f"supabase {' '.join(args[:2])}", 1)) from None
        scrub = url.scrub if url is not None else str
        lines = tuple(scrub(line) for line in done.stderr.splitlines())
        return CliRun(done.returncode, lines, scrub(done.stdout))

    def start_push(
        self,
        url: DbUrl,
        *,
        include_all: bool = False,
        include_seed: bool = False,
        session_settings: Mapping[str, str] | None = None,
    ) -> StartedPush:
        """Start `supabase db push --remote=<url> --yes`; `finish()` streams it and returns what it applied.

        session_settings (lock_timeout, statement_timeout, ...) reach the CLI's connection through PGOPTIONS.
        """
        args = ["db", "push", f"--remote={url.without_password}", "--yes"]
        if include_all:
            args.append("--include-all")
        if include_seed:
            args.append("--include-seed")
        extra = {"PGOPTIONS": _pgoptions(session_settings)} if session_settings else None
        argv = self._argv(args)
        proc = pgtools.spawn(argv, env=pgtools.child_env(url, extra), cwd=self.workdir, what="the Supabase CLI")
        return StartedPush(proc, url)

    def hold_push(
        self,
        url: DbUrl,
        *,
        include_all: bool = False,
        session_settings: Mapping[str, str] | None = None,
    ) -> HeldPush | None:
        """Start `supabase db push` without --yes on a terminal of ours: it starts up and asks while the gates run.

        None where this CLI is not one that asks as measured (see HeldPush).
        """
        if self.version.split(".")[0] != ASKING_MAJOR:
            return None
        try:
            import fcntl
            import struct
            import termios
        except ImportError:  # no terminals to hand out (Windows)
            return None
        args = ["db", "push", f"--remote={url.without_password}"]
        if include_all:
            args.append("--include-all")
        extra = {"NO_COLOR": "1"}
        if session_settings:
            extra["PGOPTIONS"] = _pgoptions(session_settings)
        env = pgtools.child_env(url, extra)
        env.pop(CLI_YES, None)  # it would answer for us, before the gates have run
        controller, terminal = os.openpty()
        try:
            # Wide enough that the question is one line (a terminal 0 columns wide gets it a character a line).
            fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 1000, 0, 0))
            proc = pgtools.popen(
                self._argv(args),
                what="the Supabase CLI",
                stdin=terminal,
                stdout=terminal,
                stderr=subprocess.PIPE,
                env=env,
                cwd=self.workdir,
            )
        except BaseException:
            os.close(controller)
            raise
        finally:
            os.close(terminal)
        return HeldPush(proc, controller, url)

    def push(
        self,
        url: DbUrl,
        *,
        include_all: bool = False,
        include_seed: bool = False,
        on_line: LineSink = discard,
        session_settings: Mapping[str, str] | None = None,
    ) -> tuple[str, ...]:
        """`supabase db push --remote=<url> --yes`; returns the files applied, raises PushFailed."""
        started = self.start_push(
            url, include_all=include_all, include_seed=include_seed, session_settings=session_settings
        )
        return started.finish(on_line)

    def json(self, args: Sequence[str], *, url: DbUrl | None = None) -> dict[str, Any]:
        """Run a command with --output-format json and return its parsed payload; raise on an error payload."""
        return _json(self.capture([*args, "--output-format", "json"], url=url))

    def migration_list(self, url: DbUrl) -> list[dict[str, Any]]:
        """`supabase migration list --remote=<url> --output-format json`, parsed."""
        payload = self.json(["migration", "list", f"--remote={url.without_password}"], url=url)
        return list(payload.get("migrations", []))

    def migration_new(self, name: str) -> Path:
        """`supabase migration new NAME`; returns the file it created."""
        run = self.capture(["migration", "new", name])
        found = _CREATED.search(run.stdout + "\n" + "\n".join(run.lines))
        if run.returncode != 0 or not found:
            raise CliError(f"supabase migration new failed: {_last_line(run)}")
        return self.workdir / found["path"]

    def repair(self, url: DbUrl, versions: Sequence[str], status: str) -> CliRun:
        """`supabase migration repair --status STATUS VERSION...`."""
        args = ["migration", "repair", f"--remote={url.without_password}", "--status", status, "--yes", *versions]
        run = self.stream(args, url=url)
        if run.returncode != 0:
            raise CliError(f"supabase migration repair failed: {_last_line(run)}")
        return run


@dataclass
class StartedPush:
    """A `supabase db push` that is running: finish it (stream its output)."""

    proc: subprocess.Popen[Any]
    url: DbUrl
    output: Generator[str, None, None] | None = None  # its lines, where not from one merged pipe (HeldPush)

    def finish(self, on_line: LineSink = discard) -> tuple[str, ...]:
        """Stream the CLI's output to on_line; return the files it applied, or raise PushFailed."""
        done = pgtools.drain(self.proc, scrub=self.url.scrub, on_line=on_line, lines=self.output)
        started = [m["file"] for m in map(_APPLYING.match, done.lines) if m]
        if done.returncode == 0:
            return tuple(started)
        raise push_failure(done.lines, started)


class HeldPush:
    """`supabase db push` started without --yes on a terminal of ours, asking: answer it or kill it.

    It starts up (about 0.4 s), reads the history, lists the files it would apply and asks. Until it is
    answered it has changed nothing.

    `asks()` waits for the question and returns the files listed; the caller then answers yes (`confirm()`)
    or stops it (`kill()`).
    """

    def __init__(self, proc: subprocess.Popen[bytes], controller: int, url: DbUrl) -> None:
        assert proc.stderr is not None
        self.proc = proc
        self.url = url
        self._controller = controller
        self._partial: dict[int, bytearray] = {controller: bytearray(), proc.stderr.fileno(): bytearray()}
        self._lines: list[str] = []  # what it printed on stderr, then also on the terminal once answered
        self._screen: list[str] = []  # the terminal before the answer: the question
        self._answered = False

    def asks(self, patience: float = 120.0) -> tuple[str, ...] | None:
        """The files the CLI asks to apply, once it asks; None if it ends or asks otherwise than measured."""
        deadline = time.monotonic() + patience
        while True:
            asked = next((m for m in map(_QUESTION.match, self._screen) if m), None)
            listed = tuple(m["file"] for m in map(_LISTED.match, self._lines) if m)
            if asked is not None:
                deadline = min(deadline, time.monotonic() + LIST_GRACE)
                if len(listed) >= int(asked["count"]):
                    right = len(listed) == int(asked["count"])
                    return listed if right and self._reading_keys(deadline) else None
            elif any(map(_unexpected, (*self._screen, self._unfinished_screen()))):
                return None  # another question, or a message instead of one
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                return None

    def confirm(self) -> StartedPush:
        """Answer yes (after asks() returned the files to apply): the push goes on; finish() streams it."""
        self._answered = True
        os.write(self._controller, b"y")
        return StartedPush(self.proc, self.url, self._output())

    def kill(self) -> None:
        """Stop the CLI (if it still runs) and wait until it is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close()  # the terminal, and the stderr pipe of a CLI that is gone

    def _reading_keys(self, deadline: float) -> bool:
        """Wait until the terminal is in raw mode: a key sent before it could be flushed with the line buffer.

        CLI 3.1.0 switches before it draws the question, so this is normally true at once.
        """
        import termios

        while termios.tcgetattr(self._controller)[3] & termios.ICANON:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def _read(self, timeout: float | None) -> bool:
        """Take in what is ready on stderr and the terminal within timeout; False once both have ended."""
        if not self._partial:
            return False
        ready, _, _ = select.select(list(self._partial), [], [], timeout)
        for fd in sorted(ready, key=lambda fd: fd == self._controller):  # stderr first, as it was written first
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal, once the CLI has closed its end
                chunk = b""
            buffer = self._partial[fd]
            buffer += chunk
            *complete, rest = buffer.split(b"\n")
            if not chunk:
                complete += [rest] if rest else []
                del self._partial[fd]
            else:
                self._partial[fd] = bytearray(rest)
            for raw in complete:
                self._take(fd, _ESCAPE.sub("", raw.decode("utf-8", "replace")).rstrip("\r"))
        return bool(self._partial)

    def _unfinished_screen(self) -> str:
        """The terminal's last line so far, while it has no line end yet (a prompt waiting on its line)."""
        rest = bytes(self._partial.get(self._controller, b"")).decode("utf-8", "replace")
        return _ESCAPE.sub("", _UNFINISHED_ESCAPE.sub("", rest))

    def _take(self, fd: int, line: str) -> None:
        if fd != self._controller:
            self._lines.append(line)
        elif not self._answered:
            self._screen.append(line)
        elif line.strip() and not line.startswith(_PROMPT_GLYPHS):
            self._lines.append(line)  # "Finished supabase db push."

    def _output(self) -> Generator[str, None, None]:
        """Every line so far, then each new one until the CLI has closed stderr and the terminal."""
        sent = 0
        try:
            while True:
                while sent < len(self._lines):
                    yield self._lines[sent]
                    sent += 1
                if not self._read(None) and sent == len(self._lines):
                    return
        finally:
            self._close()

    def _close(self) -> None:
        if self._controller >= 0:
            os.close(self._controller)
            self._controller = -1
            self._partial.clear()
            if self.proc.stderr is not None and self.proc.poll() is not None:
                self.proc.stderr.close()


def _unexpected(line: str) -> bool:
    """A terminal line that is neither blank nor the frame of the question as measured."""
    text = line.strip()
    return bool(text) and (not text.startswith(_PROMPT_GLYPHS) or (text.startswith("◆") and not _QUESTION.match(text)))


def _pgoptions(session_settings: Mapping[str, str]) -> str:
    """Session settings for the CLI's connection, as PGOPTIONS carries them."""
    return " ".join(f"-c {k}={v}" for k, v in session_settings.items())


# What the CLI prints after a failure that is never the reason itself: its trailer, the target, advice.
_NOISE = (
    "Try rerunning the command with --debug",
    "Target:",
    "Confirmed by --yes:",
    "Apply these migrations:",
    "•",
    "Make sure your local IP",
    "http://",
    "https://",
)
# The lines that carry a reason: the server's (ERROR, or FATAL/PANIC when it closed the session) or the CLI's own.
_CAUSE = re.compile(r"^(?:(?P<level>ERROR|FATAL|PANIC):|Error:)\s*(?P<text>.+)$")
_CONNECTION_LOST = re.compile(
    r"connection terminated|unexpected EOF|broken pipe|connection reset|conn closed|server closed the connection",
    re.IGNORECASE,
)


def _reason_lines(lines: Sequence[str]) -> list[str]:
    """The lines that can carry the CLI's reason: not blank, not its generic trailer or advice."""
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith(_NOISE)]


def failure_reason(lines: Sequence[str], fallback: str) -> str:
    """The CLI's own reason for a failure: the first line naming an error, else its last line that is not noise."""
    reasons = _reason_lines(lines)
    for line in reasons:
        found = _CAUSE.match(line)
        if found:
            return _cause(found)
    return reasons[-1] if reasons else fallback


def _cause(found: re.Match[str]) -> str:
    """One reason, saying so when it is the connection that went away rather than a statement that failed."""
    text = found["text"].strip()
    if found["level"] in ("FATAL", "PANIC"):
        return f"the server closed the connection: {text}"
    if found["level"] is None and _CONNECTION_LOST.search(text):
        return f"the connection to the database was lost: {text}"
    return text


def _last_line(run: CliRun) -> str:
    return failure_reason((*run.lines, *run.stdout.splitlines()), f"exit code {run.returncode}")


def _json(run: CliRun) -> dict[str, Any]:
    try:
        payload = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise CliError(f"the Supabase CLI did not print JSON: {_last_line(run)}") from None
    if run.returncode != 0 or payload.get("_tag") == "Error":
        message = payload.get("error", {}).get("message") or _last_line(run)
        raise CliError(f"the Supabase CLI failed: {message.splitlines()[0]}")
    return dict(payload)


def push_failure(lines: Sequence[str], started: Sequence[str]) -> PushFailed:
    """Turn the CLI's failure output into the failing file, statement (and its position) and reason."""
    detail = None
    statement = None
    index = None
    for position, line in enumerate(lines):
        cause = _CAUSE.match(line.strip())
        if cause and detail is None:
            detail = _cause(cause)
        elif (at := _AT_STATEMENT.match(line)) and statement is None:
            following = [ln.strip() for ln in lines[position + 1 :] if ln.strip()]
            body = []
            for ln in following:
                if ln.startswith(_NOISE):
                    break
                body.append(ln)
            index = int(at["index"])
            statement = f"#{index} " + " ".join(body)[:300] if body else f"#{index}"
    # No answer from the server (the CLI was killed, or crashed): it had sent the file whole, which the server may
    # still commit, so nothing is claimed about it.
    outcome_unknown = detail is None
    if detail is None:
        meaningful = _reason_lines(lines)
        detail = meaningful[-1] if meaningful else "the Supabase CLI exited with an error"
    failing = started[-1] if started else None
    return PushFailed(
        file=failing,
        statement=statement,
        detail=detail,
        applied=tuple(started[:-1]),
        index=index,
        outcome_unknown=outcome_unknown,
    )


def applying_file(line: str) -> str | None:
    """The file named by the CLI's `Applying migration <file>...` line, else None."""
    found = _APPLYING.match(line)
    return found["file"] if found else None


def find_cli(project: Project, environ: Mapping[str, str] | None = None) -> SupabaseCli:
    """Locate the CLI: $SUPADEPLOY_SUPABASE_BIN, node_modules/.bin (project, then toolkit), then PATH."""
    explicit = ProcessSettings.from_environ(os.environ if environ is None else environ).supabase_bin
    if explicit:
        candidates = [Path(explicit)]
    else:
        candidates = [
            project.root / "node_modules" / ".bin" / "supabase",
            _TOOLKIT_ROOT / "node_modules" / ".bin" / "supabase",
        ]
        on_path = shutil.which("supabase")
        if on_path:
            candidates.append(Path(on_path))
    for binary in candidates:
        if binary.is_file() and os.access(binary, os.X_OK):
            binary = _native(binary)
            return SupabaseCli(binary=binary, version=_version(binary), workdir=project.root)
    where = f"{CLI_VARIABLE}={explicit}" if explicit else "node_modules/.bin or on PATH"
    raise ToolNotFound("the Supabase CLI", looked=where, remedy="run npm ci")


def _native(binary: Path) -> Path:
    """The platform binary behind npm's node shim, run directly: no node start-up, and a kill reaches it."""
    resolved = binary.resolve()
    if resolved.suffix != ".js":
        return binary
    scope = resolved.parents[2] / "@supabase"  # node_modules/supabase/dist/supabase.js -> node_modules/@supabase
    for package in sorted(scope.glob(f"cli-{_PLATFORM}*")):
        native = package / "bin" / "supabase"
        if native.is_file() and os.access(native, os.X_OK):
            return native
    return binary


def _packaged_version(binary: Path) -> str | None:
    """The version npm installed, read from the package beside the binary (no process start)."""
    manifest = binary.resolve().parent.parent / "package.json"
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    name = str(data.get("name", ""))
    return str(data["version"]) if name.startswith("@supabase/cli-") and data.get("version") else None


def _version(binary: Path) -> str:
    packaged = _packaged_version(binary)
    if packaged:
        return packaged
    try:
        done = pgtools.capture([str(binary), "--version"], env=pgtools.child_env(), what="the Supabase CLI", timeout=60)
    except ToolFailed as exc:
        raise CliError(f"the Supabase CLI at {binary} does not run: {exc}") from None
    text = done.stdout.strip().splitlines()
    if done.returncode != 0 or not text:
        raise CliError(f"the Supabase CLI at {binary} does not run: {done.stderr.strip()[:200]}")
    return text[-1].strip()
