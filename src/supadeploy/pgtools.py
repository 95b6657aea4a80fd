"""Finding and running the programs the toolkit drives: PostgreSQL's, and (through spawn/drain) the Supabase CLI.

PostgreSQL's are pg_dump, pg_restore, pg_prove and the server binaries initdb, pg_ctl and postgres.

One environment builder (`child_env`: the password only in PGPASSWORD) and one stream-and-scrub loop
(`drain`: every line scrubbed of the password before anyone sees it).
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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


def _die_with_parent() -> None:
    """In the child: get SIGKILL when our process dies, so a killed push never leaves a child running."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, what: str) -> subprocess.Popen[str]:
    """Start a program with stdout and stderr merged into one pipe; it dies with us."""
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(env),
            cwd=cwd,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads hold locks at this point
        )
    except OSError as exc:
        raise ToolFailed(f"cannot run {what} at {argv[0]}: {exc.strerror}") from None


@dataclass(frozen=True)
class Streamed:
    """What a program printed (passwords already removed) and how it exited."""

    returncode: int
    lines: tuple[str, ...]


def drain(proc: subprocess.Popen[str], *, scrub: Callable[[str], str] = str, on_line: LineSink = discard) -> Streamed:
    """Pass each output line, scrubbed, to on_line as it comes; wait for the exit."""
    assert proc.stdout is not None
    lines: list[str] = []
    with proc:
        for raw in proc.stdout:
            line = scrub(raw.rstrip("\n"))
            lines.append(line)
            on_line(line)
    return Streamed(proc.returncode, tuple(lines))


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
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            env=child_env(url),
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"{what} did not finish in {timeout:.0f}s") from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        found = next((ln for ln in lines if "error:" in ln.lower()), lines[-1] if lines else f"exit {done.returncode}")
        raise ToolFailed(f"{what} failed: {url.scrub(found)}")
    return done.stdout
