"""A real PostgreSQL for the whole session, started by supadeploy's own local-cluster code.

With SUPADEPLOY_TEST_DATABASE_URL set (a GitHub Actions service container, say) that
server is used instead. Either way Supabase's base schema is loaded once into a template
database, and each test gets its own database cloned from it by pytest-postgresql's janitor.

As on Supabase, databases belong to postgres, which is not a superuser: the URLs tests push
to are postgres's (`db_url`, `database_from`); `Server.url` is the superuser (supabase_admin
on the session's cluster) for what only the toolkit's own setup may do.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import psycopg.sql
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from supadeploy.database import run_sql_file
from supadeploy.dburl import DbUrl
from supadeploy.local_backend import LocalCluster, apply_compat, free_port

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DB = "supadeploy_template"
_counter = itertools.count()


@dataclass(frozen=True)
class Server:
    """Where the session's server listens: as the superuser, as postgres, and the cluster when we started it."""

    url: DbUrl
    cluster: LocalCluster | None = None
    user_url: DbUrl | None = None

    @property
    def postgres(self) -> DbUrl:
        """The postgres role's URL (the superuser's on a server without Supabase's roles)."""
        return self.user_url or self.url

    def admin(self, url: DbUrl) -> DbUrl:
        """The superuser's URL for the database of url."""
        return self.url.with_dbname(url.dbname)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """Start (or adopt) the session's PostgreSQL server."""
    external = os.environ.get("SUPADEPLOY_TEST_DATABASE_URL")
    if external:
        yield Server(DbUrl.parse(external))
        return
    root = Path(tempfile.mkdtemp(prefix="supadeploy-tests-", dir="/tmp"))
    root.chmod(0o755)  # the postgres system user must enter it when we run as root
    cluster = LocalCluster(root=root, port=free_port(), durable=False)
    cluster.start()
    try:
        yield Server(cluster.admin_url, cluster, user_url=cluster.url)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _janitor(server: Server, dbname: str, *, as_superuser: bool = False, **kwargs: object) -> DatabaseJanitor:
    url = server.url if as_superuser else server.postgres
    return DatabaseJanitor(
        user=url.user,
        host=url.host,
        port=url.port,
        dbname=dbname,
        password=url.password,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def template_db(pg_server: Server) -> Iterator[str]:
    """A template database holding Supabase's base schema (sql/supabase_compat.sql)."""
    janitor = _janitor(pg_server, TEMPLATE_DB, as_template=True)
    janitor.drop()
    with janitor:
        with psycopg.connect(pg_server.url.with_dbname(TEMPLATE_DB).raw, autocommit=True) as conn:
            apply_compat(conn)
        yield TEMPLATE_DB


@contextmanager
def _clone(server: Server, name: str, template: str) -> Iterator[DbUrl]:
    """A database cloned from a template and owned by postgres (as on Supabase), as postgres's URL.

    Created and dropped by the superuser: an autovacuum worker may start in the template or the clone at
    any moment, and only a superuser may end it (CREATE DATABASE does so itself; the drop uses FORCE).
    """
    name_id, owner = psycopg.sql.Identifier(name), psycopg.sql.Identifier(server.postgres.user or "postgres")
    with psycopg.connect(server.url.raw, autocommit=True) as admin:
        admin.execute(
            psycopg.sql.SQL("create database {} owner {} template {}").format(
                name_id, owner, psycopg.sql.Identifier(template)
            )
        )
    try:
        yield server.postgres.with_dbname(name)
    finally:
        with psycopg.connect(server.url.raw, autocommit=True) as admin:
            admin.execute(psycopg.sql.SQL("drop database if exists {} with (force)").format(name_id))


@pytest.fixture
def db_url(pg_server: Server, template_db: str) -> Iterator[DbUrl]:
    """A fresh database for one test, cloned from the template, as postgres (its owner, as on Supabase)."""
    with _clone(pg_server, f"t{os.getpid()}_{next(_counter)}", template_db) as url:
        yield url


@pytest.fixture
def conn(pg_server: Server, db_url: DbUrl) -> Iterator[psycopg.Connection]:
    """An autocommit superuser connection to the test's database."""
    with psycopg.connect(pg_server.admin(db_url).raw, autocommit=True) as connection:
        yield connection


@dataclass
class ProjectDir:
    """A throwaway Supabase project: config.toml, migrations and .env files."""

    root: Path

    @property
    def migrations(self) -> Path:
        return self.root / "supabase" / "migrations"

    def add_migration(self, version: str, name: str, body: str) -> Path:
        path = self.migrations / f"{version}_{name}.sql"
        path.write_text(body)
        return path

    def set_env(self, name: str, **values: str) -> None:
        lines = [f"{key}={value}" for key, value in values.items()]
        (self.root / f".env.{name}").write_text("\n".join(lines) + "\n")


@pytest.fixture
def project_dir(tmp_path: Path) -> ProjectDir:
    """An empty project with this repo's supabase/config.toml."""
    (tmp_path / "supabase" / "migrations").mkdir(parents=True)
    shutil.copy(REPO / "supabase" / "config.toml", tmp_path / "supabase" / "config.toml")
    return ProjectDir(tmp_path)


def clean_environ(**extra: str) -> dict[str, str]:
    """The process environment without anything that would point tests at a real database."""
    env = {k: v for k, v in os.environ.items() if not (k.startswith("SUPADEPLOY_") or k.startswith("SUPABASE_"))}
    env.pop("PGPASSWORD", None)
    env.update(extra)
    return env


@dataclass(frozen=True)
class Ran:
    """One finished `invoke` run."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_invoke(project: ProjectDir, *args: str, stdin: str | None = None, **env: str) -> Ran:
    """Run `invoke <args>` as a user would, from the project folder, with this repo's tasks.py."""
    argv = [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args]
    done = subprocess.run(
        argv,
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_environ(SUPADEPLOY_PROJECT_DIR=str(project.root), **env),
        input=stdin if stdin is not None else "",
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


SUPABASE_BIN = REPO / "node_modules" / ".bin" / "supabase"


def raw_supabase(project: ProjectDir, *args: str, url: DbUrl) -> subprocess.CompletedProcess[str]:
    """The raw Supabase CLI, as a user would type it, with the URL (password included) on argv."""
    return subprocess.run(
        [str(SUPABASE_BIN), *args, f"--remote={url.raw}", "--workdir", str(project.root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        env=clean_environ(PGSSLMODE="disable"),
    )


SCHEMA_TEMPLATE_DB = "supadeploy_schema_template"
UNEXPOSED_SCHEMA_TEMPLATE_DB = "supadeploy_schema_template_unexposed"
# config.toml [api] auto_expose_new_tables: on (Supabase's default privileges for new entities, what
# sql/supabase_compat.sql sets up) or off (sql/exposure_off.sql applied before the first migration).
EXPOSURE_MODES = ("exposed", "unexposed")


def _pushed_schema(server: Server, template_db: str, name: str, *, exposure_off: bool) -> Iterator[str]:
    """A template database with every migration of this repo pushed by the real Supabase CLI."""
    from supadeploy.environments import Environment
    from supadeploy.project import Project
    from supadeploy.push import push
    from supadeploy.supabase_cli import find_cli

    from .postgrest import AUTHENTICATOR_PASSWORD

    with psycopg.connect(server.url.raw, autocommit=True) as admin:
        admin.execute(
            psycopg.sql.SQL("alter role authenticator password {}").format(psycopg.sql.Literal(AUTHENTICATOR_PASSWORD))
        )
    janitor = _janitor(server, name, template_dbname=template_db, as_template=True)
    janitor.drop()
    with janitor:
        url = server.url.with_dbname(name)
        if exposure_off:
            with psycopg.connect(url.raw, autocommit=True) as conn:
                run_sql_file(conn, "exposure_off.sql")
        repo = Project(REPO)
        # Pushed as postgres, which is no superuser (as on Supabase).
        env = Environment.for_url("local", server.postgres.with_dbname(name), source="tests")
        push(repo, env, find_cli(repo))
        yield name


@pytest.fixture(scope="session")
def schema_template(pg_server: Server, template_db: str) -> Iterator[str]:
    """A template database with every migration of this repo pushed by the real Supabase CLI."""
    yield from _pushed_schema(pg_server, template_db, SCHEMA_TEMPLATE_DB, exposure_off=False)


@pytest.fixture(scope="session")
def unexposed_schema_template(pg_server: Server, template_db: str) -> Iterator[str]:
    """The same, on a database where new entities are not exposed by default (sql/exposure_off.sql)."""
    yield from _pushed_schema(pg_server, template_db, UNEXPOSED_SCHEMA_TEMPLATE_DB, exposure_off=True)


@pytest.fixture(scope="module", params=EXPOSURE_MODES)
def exposure_template(request: pytest.FixtureRequest) -> str:
    """The schema template of each exposure mode in turn: tests using it run once per mode."""
    fixture = "schema_template" if request.param == "exposed" else "unexposed_schema_template"
    return str(request.getfixturevalue(fixture))


@contextmanager
def database_from(server: Server, template: str, prefix: str) -> Iterator[DbUrl]:
    """A database cloned from a template (owned by postgres, its URL postgres's), dropped afterwards."""
    with _clone(server, f"{prefix}{os.getpid()}_{next(_counter)}", template) as url:
        yield url


@pytest.fixture
def app_url(pg_server: Server, schema_template: str) -> Iterator[DbUrl]:
    """A fresh database holding the shipped schema, for one test."""
    with database_from(pg_server, schema_template, "app") as url:
        yield url


def rls_table(name: str, columns: str = "id int") -> str:
    """A migration body creating one table the lint accepts (RLS enabled in the same file)."""
    return f"create table {name} ({columns}); alter table {name} enable row level security;"
