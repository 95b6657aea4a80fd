"""Finding and running the programs the toolkit drives: PostgreSQL's, and (through spawn/drain) the Supabase CLI.

PostgreSQL's are pg_dump, pg_restore, pg_prove and the server binaries initdb, pg_ctl and postgres.

One environment builder (`child_env`: the password only in PGPASSWORD) and one stream-and-scrub loop
(`drain`: every line scrubbed of the password before anyone sees it).
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supadeploy.dburl import DbUrl
from supadeploy.errors import ToolFailed, ToolNotFound

MIN_SERVER_MAJOR = 15
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
_VERSION = re.compile(r"(\d+)(?:\.(\d+))?")

LineSink = Callable[[str], None]


def discard(_line: str) -> None:
    """A LineSink that drops every line."""


# --- finding the binaries ---------------------------------------------------------------------------


def _major(version_text: str) -> int:
    found = _VERSION.search(version_text)
    return int(found.group(1)) if found else 0


def _debian_bindirs(debian_glob: str) -> list[Path]:
    """Debian's per-major folders, newest first."""
    return [Path(p) for p in sorted(glob.glob(debian_glob), key=_major, reverse=True)]


def _pg_config_bindir(search_path: str | None) -> Path | None:
    pg_config = shutil.which("pg_config", path=search_path)
    if not pg_config:
        return None
    done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def find_bindir(
    configured: str | Path | None = None, *, search_path: str | None = None, debian_glob: str = DEBIAN_BINDIRS
) -> Path:
    """A folder with initdb, pg_ctl and postgres >= 15: the configured one, PATH, pg_config, Debian's layout."""
    candidates: list[Path] = []
    if configured:
        candidates.append(Path(configured))
    on_path = shutil.which("initdb", path=search_path)
    if on_path:
        candidates.append(Path(on_path).resolve().parent)  # Debian links /usr/local/bin/initdb into its bindir
    from_pg_config = _pg_config_bindir(search_path)
    if from_pg_config:
        candidates.append(from_pg_config)
    candidates.extend(_debian_bindirs(debian_glob))
    too_old: list[str] = []
    for folder in candidates:
        if not all((folder / tool).is_file() for tool in SERVER_BINARIES):
            continue
        done = subprocess.run([str(folder / "postgres"), "--version"], capture_output=True, text=True, check=False)
        if _major(done.stdout) >= MIN_SERVER_MAJOR:
            return folder
        too_old.append(f"{folder} ({done.stdout.strip()})")
    hint = f"; too old: {', '.join(too_old)}" if too_old else ""
    raise ToolNotFound(
        f"a PostgreSQL >= {MIN_SERVER_MAJOR} server ({', '.join(SERVER_BINARIES)})",
        looked=f"SUPADEPLOY_PG_BINDIR, PATH, pg_config, {debian_glob}{hint}",
        remedy="install postgresql-15 (apt-get install postgresql-15) or set SUPADEPLOY_PG_BINDIR",
    )


def client_tool(
    name: str,
    *,
    bindir: str | Path | None = None,
    search_path: str | None = None,
    debian_glob: str = DEBIAN_BINDIRS,
) -> str:
    """pg_dump or pg_restore: from the configured bindir, pg_config's, Debian's newest, else PATH.

    Client tools only: no server binaries are needed (a machine with postgresql-client alone can back up).
    """
    folders = [Path(bindir)] if bindir else []
    from_pg_config = _pg_config_bindir(search_path)
    if from_pg_config:
        folders.append(from_pg_config)
    folders.extend(_debian_bindirs(debian_glob))
    for folder in folders:
        if (folder / name).is_file() and os.access(folder / name, os.X_OK):
            return str(folder / name)
    found = shutil.which(name, path=search_path)
    if not found:
        raise ToolNotFound(
            name,
            looked="SUPADEPLOY_PG_BINDIR, pg_config, /usr/lib/postgresql/*/bin, PATH",
            remedy="install the PostgreSQL client (apt-get install postgresql-client-15)",
        )
    return found


def on_path(name: str, *, remedy: str, search_path: str | None = None) -> str:
    """A program found on PATH, or ToolNotFound saying how to install it."""
    found = shutil.which(name, path=search_path)
    if not found:
        raise ToolNotFound(name, looked="PATH", remedy=remedy)
    return found


# --- running them --------------------------------------------------------------------------------


def child_env(url: DbUrl | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: the URL's password only in PGPASSWORD, never on argv."""
    env = dict(os.environ)
    env.update(extra or {})
    env.setdefault("DO_NOT_TRACK", "1")
    if url is not None:
        env.pop("PGPASSWORD", None)
        if url.password is not None:
            env["PGPASSWORD"] = url.password
        if url.is_loopback and url.option("sslmode") is None:
            # A loopback server has no TLS; saying so on every run is noise.
            env.setdefault("PGSSLMODE", "disable")
    return env


def process_alive(pid: int) -> bool:
    """True while a process with this id exists on this machine (a run's leftovers are named with its pid)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """The C library's prctl, loaded in the parent (loading a library between fork and exec is not safe)."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent(parent: int) -> Callable[[], None]:
    """In the child, before exec: get SIGKILL when our process dies, so a killed task never leaves a child running.

    If we died between the fork and the prctl, the child was handed to init already: it ends itself then.
    """
    prctl = _prctl()

    def arm() -> None:
        if prctl is None:
            return
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def popen(argv: Sequence[str], *, what: str, **options: Any) -> subprocess.Popen[Any]:
    """The one place a tool is started (pg_dump, pg_restore, psql, pg_prove, squawk, the Supabase CLI): it dies with us.

    `options` are subprocess.Popen's; stdin defaults to /dev/null.
    """
    options.setdefault("stdin", subprocess.DEVNULL)
    try:
        return subprocess.Popen(  # noqa: S603 - argv lists, never a shell
            list(argv),
            preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509 - no threads hold locks at this point
            **options,
        )
    except OSError as exc:
        raise ToolFailed(f"cannot run {what} at {argv[0]}: {exc.strerror}") from None


def spawn(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, what: str) -> subprocess.Popen[str]:
    """Start a program with stdout and stderr merged into one pipe; it dies with us."""
    return popen(argv, what=what, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(env), cwd=cwd)


@dataclass(frozen=True)
class Captured:
    """What a finished program printed on stdout and on stderr, and how it exited."""

    returncode: int
    stdout: str
    stderr: str


def capture(
    argv: Sequence[str], *, env: Mapping[str, str], what: str, cwd: Path | None = None, timeout: float = 6 * 3600
) -> Captured:
    """Run a program to the end, keeping stdout apart from stderr; killed (and ToolFailed) after timeout seconds."""
    proc = popen(argv, what=what, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env), cwd=cwd)
    with proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise ToolFailed(f"{what} did not finish in {timeout:.0f}s") from None
    return Captured(proc.returncode, stdout, stderr)


@dataclass(frozen=True)
class Streamed:
    """What a program printed (passwords already removed) and how it exited."""

    returncode: int
    lines: tuple[str, ...]


def drain(
    proc: subprocess.Popen[Any],
    *,
    scrub: Callable[[str], str] = str,
    on_line: LineSink = discard,
    lines: Iterable[str] | None = None,
) -> Streamed:
    """Pass each output line (of its stdout, or of `lines` when given), scrubbed, to on_line; wait for the exit."""
    source = proc.stdout if lines is None else lines
    assert source is not None
    seen: list[str] = []
    with proc:
        for raw in source:
            line = scrub(raw.rstrip("\n"))
            seen.append(line)
            on_line(line)
    return Streamed(proc.returncode, tuple(seen))


def stream(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    what: str,
    scrub: Callable[[str], str] = str,
    on_line: LineSink = discard,
) -> Streamed:
    """Run a program, streaming its scrubbed output to on_line."""
    return drain(spawn(argv, env=env, cwd=cwd, what=what), scrub=scrub, on_line=on_line)


def run(argv: Sequence[str], url: DbUrl, what: str, *, timeout: float = 6 * 3600) -> str:
    """Run pg_dump/pg_restore with the URL's password in PGPASSWORD; return stdout or raise ToolFailed."""
    done = capture(argv, env=child_env(url), what=what, timeout=timeout)
    if done.returncode != 0:
        raise ToolFailed(f"{what} failed: {url.scrub(first_error(done.stderr, done.returncode))}")
    return done.stdout


def first_error(stderr: str, returncode: int) -> str:
    """A PostgreSQL tool's reason: its first line naming an error, else its last line, else the exit code."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return next((ln for ln in lines if "error:" in ln.lower()), lines[-1] if lines else f"exit {returncode}")
