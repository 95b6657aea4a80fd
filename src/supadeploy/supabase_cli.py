"""The CLI leg: the one module that runs the Supabase CLI.

It finds the binary, builds argv (never a shell string), keeps passwords off argv (PGPASSWORD) and out of
output (scrubbed), and parses what it prints.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supadeploy import pgtools
from supadeploy.dburl import DbUrl
from supadeploy.errors import CliError, PushFailed, ToolFailed, ToolNotFound
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project
from supadeploy.settings import SUPABASE_BIN, ProcessSettings

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

__all__ = ["CliRun", "LineSink", "StartedPush", "SupabaseCli", "discard", "find_cli", "push_failure"]


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
        extra = None
        if session_settings:
            extra = {"PGOPTIONS": " ".join(f"-c {k}={v}" for k, v in session_settings.items())}
        argv = self._argv(args)
        proc = pgtools.spawn(argv, env=pgtools.child_env(url, extra), cwd=self.workdir, what="the Supabase CLI")
        return StartedPush(proc, url)

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
    """A `supabase db push` that is running: finish it (stream its output) or kill it."""

    proc: subprocess.Popen[str]
    url: DbUrl

    def finish(self, on_line: LineSink = discard) -> tuple[str, ...]:
        """Stream the CLI's output to on_line; return the files it applied, or raise PushFailed."""
        done = pgtools.drain(self.proc, scrub=self.url.scrub, on_line=on_line)
        started = [m["file"] for m in map(_APPLYING.match, done.lines) if m]
        if done.returncode == 0:
            return tuple(started)
        raise push_failure(done.lines, started)

    def kill(self) -> None:
        """Stop the CLI and wait until it is gone (before whatever held it back lets go)."""
        self.proc.kill()
        self.proc.communicate()


# What the CLI prints after a failure that is never the reason itself: its trailer, the target, advice.
_NOISE = (
    "Try rerunning the command with --debug",
    "Target:",
    "Confirmed by --yes:",
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
