"""The local database: `supabase start` where Docker answers, else a project-local PostgreSQL cluster."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supadeploy.database import connect, run_sql_file, server_version
from supadeploy.dburl import DbUrl
from supadeploy.errors import LocalBackendError, SupadeployError
from supadeploy.pgtools import LineSink, discard, find_bindir
from supadeploy.project import Project
from supadeploy.settings import DEFAULT_LOCAL_PORT, LOCAL_PASSWORD, Settings
from supadeploy.settings import LOCAL_PORT as LOCAL_PORT_VARIABLE
from supadeploy.supabase_cli import SupabaseCli

SERVER_USER = "postgres"  # initdb and postgres refuse to run as root
COMPAT_SQL = "supabase_compat.sql"
STATE_FILE = "backend.json"


@dataclass(frozen=True)
class LocalStatus:
    """What `local.status` reports."""

    backend: str
    running: bool
    url: str
    server_version: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "backend": self.backend,
            "running": self.running,
            "url": self.url,
            "server_version": self.server_version,
            "detail": self.detail,
        }


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LocalCluster:
    """A PostgreSQL cluster in a folder of the project, run as the postgres user when we are root."""

    root: Path
    port: int = DEFAULT_LOCAL_PORT
    bindir: Path | None = None
    durable: bool = True

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "pgdata"

    @property
    def logfile(self) -> Path:
        """The server log."""
        return self.root / "postgres.log"

    @property
    def url(self) -> DbUrl:
        """The postgres superuser's URL, as `supabase start` gives it."""
        return DbUrl.parse(f"postgresql://postgres:{LOCAL_PASSWORD}@127.0.0.1:{self.port}/postgres")

    @property
    def initialized(self) -> bool:
        """True once initdb has run."""
        return (self.datadir / "PG_VERSION").is_file()

    def _bindir(self) -> Path:
        return self.bindir or find_bindir()

    def _run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise LocalBackendError(
                    f"running as root needs the {SERVER_USER!r} system user to run the server: "
                    "install postgresql-15 or run as a normal user"
                ) from None
            kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )
        if check and done.returncode != 0:
            raise LocalBackendError(f"{Path(argv[0]).name} failed: {(done.stderr or done.stdout).strip()[-400:]}")
        return done

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            for parent in self.root.resolve().parents:
                if not os.stat(parent).st_mode & 0o001:
                    raise LocalBackendError(
                        f"the {SERVER_USER} user cannot enter {parent}: set SUPADEPLOY_LOCAL_DIR to a folder outside it"
                    )

    def init(self) -> None:
        """Initdb with the postgres superuser's password set to Supabase's local default."""
        self._prepare_root()
        pwfile = self.root / ".pwfile"
        pwfile.write_text(LOCAL_PASSWORD + "\n")
        try:
            if os.geteuid() == 0:
                account = pwd.getpwnam(SERVER_USER)
                os.chown(pwfile, account.pw_uid, account.pw_gid)
            pwfile.chmod(0o600)
            self._run(
                [
                    str(self._bindir() / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                timeout=300,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        settings = [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "max_connections = 200",
            "password_encryption = 'scram-sha-256'",
        ]
        if not self.durable:
            # Test clusters trade crash safety for speed; a developer's cluster keeps it.
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# supadeploy local cluster\n" + "\n".join(settings) + "\n")

    def is_running(self) -> bool:
        """True when pg_ctl sees our server."""
        if not self.initialized:
            return False
        return (
            self._run([str(self._bindir() / "pg_ctl"), "-D", str(self.datadir), "status"], check=False).returncode == 0
        )

    def start(self) -> bool:
        """Start the cluster (initdb first if needed); False when it was already running."""
        fresh = not self.initialized
        if fresh:
            self.init()
        elif self.is_running():
            return False
        if port_in_use(self.port):
            raise LocalBackendError(
                f"port {self.port} is already in use by another process: stop it or set {LOCAL_PORT_VARIABLE}"
            )
        done = self._run(self._pg_ctl("start"), check=False)
        if done.returncode != 0:
            tail = self.logfile.read_text(errors="replace").strip().splitlines()[-3:] if self.logfile.exists() else []
            raise LocalBackendError(f"the local cluster did not start: {' | '.join(tail) or done.stderr.strip()}")
        self._wait_ready()
        self.load_compat()
        return True

    def _pg_ctl(self, action: str, *extra: str) -> list[str]:
        """pg_ctl ACTION for this cluster: its data, log file and port, waiting up to 60s."""
        return [
            str(self._bindir() / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            f"-p {self.port}",
            *extra,
            "-w",
            "-t",
            "60",
            action,
        ]

    def restart(self) -> None:
        """Restart the running server (fast shutdown: sessions are cut, their transactions roll back)."""
        self._run(self._pg_ctl("restart", "-m", "fast"))
        self._wait_ready()

    def _wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with connect(self.url, timeout=2):
                    return
            except SupadeployError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def load_compat(self, dbname: str = "postgres") -> None:
        """Load sql/supabase_compat.sql into a database that lacks it."""
        with connect(self.url.with_dbname(dbname)) as conn:
            row = conn.execute("select to_regprocedure('auth.uid()') is not null").fetchone()
            if not (row and row[0]):
                run_sql_file(conn, COMPAT_SQL)

    def stop(self) -> bool:
        """Stop the cluster; False when it was not running."""
        if not self.is_running():
            return False
        self._run([str(self._bindir() / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"])
        return True

    def destroy(self) -> None:
        """Stop the cluster and delete its data directory."""
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)

    def status(self) -> LocalStatus:
        """Running or not, masked URL, server version."""
        running = self.is_running()
        version = None
        if running:
            with connect(self.url, timeout=3) as conn:
                version = server_version(conn)
        detail = f"data in {self.datadir}" if self.initialized else "not initialised: run invoke local.start"
        return LocalStatus("cluster", running, self.url.masked, version, detail)


# --- choosing and remembering the backend --------------------------------------------------


def docker_answers(timeout: float = 10) -> bool:
    """True when a Docker daemon answers `docker info`."""
    if not shutil.which("docker"):
        return False
    try:
        done = subprocess.run(
            ["docker", "info"], capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def cluster_for(project: Project, settings: Settings) -> LocalCluster:
    """The project's Docker-free cluster, honouring SUPADEPLOY_LOCAL_DIR, _LOCAL_PORT and _PG_BINDIR."""
    root = Path(settings.local_dir or project.state_dir / "local")
    if not root.is_absolute():
        root = project.root / root
    bindir = Path(settings.pg_bindir) if settings.pg_bindir else None
    return LocalCluster(root=root, port=settings.local_port, bindir=bindir)


def choose_backend(settings: Settings, cli: SupabaseCli | None) -> str:
    """Docker when asked for or when a daemon answers and the CLI is here; else cluster."""
    wanted = settings.local_backend
    if wanted == "cluster":
        return "cluster"
    usable = cli is not None and docker_answers()
    if wanted == "docker" and not usable:
        raise LocalBackendError("SUPADEPLOY_LOCAL_BACKEND=docker but no Docker daemon answers (or the CLI is missing)")
    return "docker" if usable else "cluster"


def _state_path(project: Project) -> Path:
    return project.state_dir / STATE_FILE


def recorded_backend(project: Project) -> str | None:
    """Which backend `local.start` started, if any."""
    try:
        return str(json.loads(_state_path(project).read_text())["backend"])
    except (OSError, ValueError, KeyError):
        return None


def record_backend(project: Project, backend: str | None) -> None:
    """Remember (or forget) what local.start started, so local.stop stops only that."""
    path = _state_path(project)
    if backend is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"backend": backend}) + "\n")


def run_docker(cli: SupabaseCli, args: Sequence[str], on_line: LineSink = discard) -> None:
    """`supabase start|stop|status` for the Docker backend."""
    run = cli.stream(args, on_line=on_line)
    if run.returncode != 0:
        last = next((ln for ln in reversed(run.lines) if ln.strip()), f"exit code {run.returncode}")
        raise LocalBackendError(f"supabase {' '.join(args)} failed: {last}")
