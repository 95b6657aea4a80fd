"""The local database: `supabase start` where Docker answers, else a project-local PostgreSQL cluster."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from supadeploy.database import connect, run_sql_file, server_version
from supadeploy.dburl import DbUrl
from supadeploy.errors import LocalBackendError, SupadeployError
from supadeploy.pgtools import LineSink, discard, find_bindir
from supadeploy.project import CONFIG_FILE, Project
from supadeploy.settings import DEFAULT_LOCAL_PORT, LOCAL_DEFAULT_SOURCE, LOCAL_PASSWORD, Settings
from supadeploy.settings import LOCAL_PORT as LOCAL_PORT_VARIABLE
from supadeploy.supabase_cli import SupabaseCli, failure_reason
from supadeploy.supabase_platform import facts

SERVER_USER = "postgres"  # initdb and postgres refuse to run as root
ADMIN_USER = "supabase_admin"  # the superuser, as on Supabase; postgres is not one
# Supabase's base schema, in order: roles and schemas, then Auth's tables, then Storage's.
COMPAT_FILES = ("supabase_compat.sql", "supabase_auth.sql", "supabase_storage.sql")
EXPOSURE_OFF_SQL = "exposure_off.sql"
STATE_FILE = "backend.json"
LAYOUT_FILE = "cluster.json"
PLATFORM_EXTENSIONS_SETTING = "supadeploy.platform_extensions"
LAYOUT = 2  # 1: postgres was the bootstrap superuser; 2: supabase_admin is, postgres is demoted
DEFAULT_SHADOW_PORT = 54320
# Roles `supabase start` gives the local password (CLI: internal/db/start/templates/schema.sql).
LOGIN_ROLES = (
    "postgres",
    "authenticator",
    "pgbouncer",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "supabase_replication_admin",
    "supabase_read_only_user",
)


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


SETUP_DONE_FILE = "setup.done"  # written once a new cluster has its passwords and fresh_sql


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
        """The postgres role's URL, as `supabase start` gives it (not a superuser, as on Supabase)."""
        return DbUrl.parse(f"postgresql://postgres:{LOCAL_PASSWORD}@127.0.0.1:{self.port}/postgres")

    @property
    def admin_url(self) -> DbUrl:
        """The superuser's URL (supabase_admin), for the toolkit's own setup."""
        return DbUrl.parse(f"postgresql://{ADMIN_USER}:{LOCAL_PASSWORD}@127.0.0.1:{self.port}/postgres")

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
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalBackendError(
                f"cannot create the local database folder {self.root}: {exc.strerror}; set SUPADEPLOY_LOCAL_DIR"
            ) from None
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            for parent in self.root.resolve().parents:
                if not os.stat(parent).st_mode & 0o001:
                    raise LocalBackendError(
                        f"the {SERVER_USER} user cannot enter {parent}: set SUPADEPLOY_LOCAL_DIR to a folder outside it"
                    )

    def init(self) -> None:
        """Initdb with the postgres superuser's password set to Supabase's local default.

        initdb writes into a partial folder, renamed to the data folder once supadeploy's settings and layout
        record are in: a start cut short (Ctrl-C, a killed task) leaves no half-made cluster that the next
        start would take for a finished one. Nothing in a partial folder, or in a data folder initdb never
        finished (no PG_VERSION), was ever used; the next init removes it.
        """
        self._prepare_root()
        partial = self.root / f"{self.datadir.name}.partial"
        if self.initialized:
            raise LocalBackendError(f"{self.datadir} already holds a cluster: refusing to make another over it")
        for leftover in (partial, self.datadir):
            if leftover.exists():
                shutil.rmtree(leftover)
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
                    str(partial),
                    "-U",
                    ADMIN_USER,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    # Test clusters skip initdb's final fsync, as they skip the server's.
                    *([] if self.durable else ["--no-sync"]),
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
            *self._platform_settings(),
        ]
        if not self.durable:
            # Test clusters trade crash safety for speed; a developer's cluster keeps it.
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (partial / "postgresql.conf").open("a") as conf:
            conf.write("\n# supadeploy local cluster\n" + "\n".join(settings) + "\n")
        (self.root / LAYOUT_FILE).write_text(json.dumps({"layout": LAYOUT, "superuser": ADMIN_USER}) + "\n")
        partial.rename(self.datadir)

    def _libdir(self) -> Path:
        done = subprocess.run(
            [str(self._bindir() / "pg_config"), "--pkglibdir"], capture_output=True, text=True, check=False
        )
        return (
            Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else self._bindir().parent / "lib"
        )

    def _platform_settings(self) -> list[str]:
        """Supabase's server settings, for the libraries this machine has.

        supadeploy.platform_extensions names the extensions Supabase lets postgres create
        (supautils.privileged_extensions): the base schema's event triggers read it.
        """
        libdir = self._libdir()
        platform = facts()
        preload = [lib for lib in platform.shared_preload_libraries if (libdir / f"{lib}.so").is_file()]
        settings = [f"shared_preload_libraries = '{', '.join(preload)}'"]
        for name, value in platform.server_settings.items():
            if name == "cron.database_name" and "pg_cron" not in preload:
                continue
            settings.append(f"{name} = '{value}'")
        settings.append(f"{PLATFORM_EXTENSIONS_SETTING} = '{','.join(platform.privileged_extensions)}'")
        return settings

    def _check_layout(self) -> None:
        try:
            layout = json.loads((self.root / LAYOUT_FILE).read_text()).get("layout")
        except (OSError, ValueError):
            layout = 1
        if layout != LAYOUT:
            raise LocalBackendError(
                f"the local cluster in {self.root} was made by an older supadeploy (postgres is its superuser, "
                "unlike on Supabase): keep what you need with `invoke db.backup`, then `invoke local.reset --yes`"
            )

    def is_running(self) -> bool:
        """True when pg_ctl sees our server."""
        if not self.initialized:
            return False
        return (
            self._run([str(self._bindir() / "pg_ctl"), "-D", str(self.datadir), "status"], check=False).returncode == 0
        )

    def start(self, *, fresh_sql: Sequence[str] = ()) -> bool:
        """Start the cluster (initdb first if needed); False when it was already running.

        A new cluster gets Supabase's base schema, the local password on every login role, then
        fresh_sql (sql/ files, e.g. exposure_off.sql) in its postgres database.
        """
        fresh = not self.initialized
        if fresh:
            self.init()
        else:
            self._check_layout()
            if self.is_running():
                return False
        # A start that failed after initdb (a port in use, a killed task) left a cluster never set up.
        set_up = (self.root / SETUP_DONE_FILE).exists()
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
        if fresh or not set_up:
            self._set_passwords()
            with connect(self.admin_url) as conn:
                for name in fresh_sql:
                    run_sql_file(conn, name)
            (self.root / SETUP_DONE_FILE).write_text("set up: base schema, passwords, fresh_sql\n")
        return True

    def _set_passwords(self) -> None:
        with connect(self.admin_url) as conn:
            for role in LOGIN_ROLES:
                conn.execute(
                    sql.SQL("alter role {} password {}").format(sql.Identifier(role), sql.Literal(LOCAL_PASSWORD))
                )

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
                with connect(self.admin_url, timeout=2):
                    return
            except SupadeployError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def load_compat(self, dbname: str = "postgres") -> None:
        """Load Supabase's base schema into a database that lacks it."""
        with connect(self.admin_url.with_dbname(dbname)) as conn:
            if not has_compat(conn):
                apply_compat(conn)

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
        (self.root / LAYOUT_FILE).unlink(missing_ok=True)

    def status(self) -> LocalStatus:
        """Running or not, masked URL, server version."""
        running = self.is_running()
        version = None
        if running:
            with connect(self.admin_url, timeout=3) as conn:
                version = server_version(conn)
        detail = f"data in {self.datadir}" if self.initialized else "not initialised: run invoke local.start"
        return LocalStatus("cluster", running, self.url.masked, version, detail)


# --- Supabase's base schema ------------------------------------------------------------------


def has_compat(conn: psycopg.Connection) -> bool:
    """True when the database already holds Supabase's base schema."""
    row = conn.execute("select to_regclass('auth.identities') is not null").fetchone()
    return bool(row and row[0])


def apply_compat(conn: psycopg.Connection) -> None:
    """Load Supabase's base schema (COMPAT_FILES) as one transaction; the connection must be a superuser's."""
    with conn.transaction():
        for name in COMPAT_FILES:
            run_sql_file(conn, name)


def admin_for(url: DbUrl) -> DbUrl:
    """Who may load the base schema into url's database: supabase_admin on url's server, else url itself.

    supabase_admin is used when it logs in with url's password (as on the Docker-free cluster, whose
    roles share the local password like `supabase start`'s) and is a superuser.
    """
    if url.user == ADMIN_USER or url.password is None:
        return url
    candidate = url.with_user(ADMIN_USER)
    try:
        with connect(candidate, timeout=5) as conn:
            row = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()
    except SupadeployError:
        return url
    return candidate if row and row[0] else url


def load_compat_into(url: DbUrl, *, extra_sql: Sequence[str] = ()) -> None:
    """Load Supabase's base schema (then extra_sql files) into url's database, as a superuser."""
    with connect(admin_for(url)) as conn:
        apply_compat(conn)
        for name in extra_sql:
            run_sql_file(conn, name)


def project_config(project: Project) -> dict[str, object]:
    """supabase/config.toml, parsed; an unreadable file reads as empty (the CLI reports it)."""
    try:
        return tomllib.loads((project.root / CONFIG_FILE).read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def setup_sql(project: Project) -> tuple[str, ...]:
    """sql/ files a new local database gets after the base schema, from config.toml, as `supabase start` does.

    [api] auto_expose_new_tables = false: new tables in public are not granted to the API roles.
    """
    api = project_config(project).get("api")
    if isinstance(api, dict) and api.get("auto_expose_new_tables") is False:
        return (EXPOSURE_OFF_SQL,)
    return ()


def recreate_database(url: DbUrl, *, extra_sql: Sequence[str] = ()) -> None:
    """Drop and create url's database (owned by url's role), then load the base schema and extra_sql into it."""
    admin = admin_for(url)
    with connect(admin.maintenance) as conn:
        target = sql.Identifier(url.dbname)
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(target))
        conn.execute(sql.SQL("create database {} owner {}").format(target, sql.Identifier(url.user)))
    load_compat_into(url, extra_sql=extra_sql)


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
    # Found once here: every pg_ctl call would otherwise look for the binaries again.
    return LocalCluster(root=root, port=settings.local_port, bindir=find_bindir(settings.pg_bindir))


def shadow_for(project: Project, settings: Settings) -> LocalCluster | None:
    """The shadow cluster beside the project's Docker-free cluster, when local is that cluster; else None.

    Its port is config.toml's [db] shadow_port, which `supabase db diff` uses for the same purpose.
    """
    if recorded_backend(project) != "cluster" or settings.db_url_source != LOCAL_DEFAULT_SOURCE:
        return None
    local = cluster_for(project, settings)
    db = project_config(project).get("db")
    port = db.get("shadow_port", DEFAULT_SHADOW_PORT) if isinstance(db, dict) else DEFAULT_SHADOW_PORT
    return LocalCluster(root=local.root / "shadow", port=int(port), bindir=local.bindir, durable=False)


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
        reason = failure_reason(run.lines, f"exit code {run.returncode}")
        raise LocalBackendError(f"supabase {' '.join(args)} failed: {reason}")
