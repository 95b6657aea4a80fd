"""db.test: the pgTAP suite in supabase/tests, run by pg_prove as `supabase test db` runs it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from supadeploy import pgtools
from supadeploy.database import connect
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment
from supadeploy.errors import ConfigError, DatabaseError, PgtapFailed
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project

TESTS_DIR = Path("supabase") / "tests"
PGTAP_EXTENSIONS = (".sql", ".pg")
# psql's report of a statement that failed inside a test file: "psql:FILE:LINE: ERROR:  message".
_PSQL_ERROR = re.compile(r"^psql:(?P<where>\S+): ERROR:\s+(?P<message>.*)$")


def pgtap(project: Project, env: Environment, *, on_line: LineSink = discard) -> None:
    """Run supabase/tests with pg_prove as `supabase test db` does; raises when a test fails.

    As the CLI does: pgTAP is created `with schema extensions` before the run (and dropped after,
    unless it was there already), and every *.sql and *.pg file under supabase/tests runs.
    """
    if env.protected:
        raise ConfigError(f"db.test writes test rows (rolled back) and is refused on protected {env.name}")
    folder = project.root / TESTS_DIR
    found = [p for p in folder.rglob("*") if p.suffix in PGTAP_EXTENSIONS] if folder.is_dir() else []
    if not found:
        raise ConfigError(f"no pgTAP files (*.sql, *.pg) in {TESTS_DIR}")
    prove = pgtools.on_path(
        "pg_prove", remedy="install libtap-parser-sourcehandler-pgtap-perl (scripts/bootstrap installs it)"
    )
    with _pgtap_extension(env.url):
        _prove(prove, folder, env, on_line)


@contextmanager
def _pgtap_extension(url: DbUrl) -> Iterator[None]:
    """`create extension if not exists pgtap with schema extensions`, dropped afterwards if we created it."""
    with connect(url) as conn:
        existed = conn.execute("select exists (select from pg_extension where extname = 'pgtap')").fetchone()
        try:
            conn.execute("create extension if not exists pgtap with schema extensions")
        except psycopg.Error as exc:
            raise DatabaseError(
                f"cannot enable pgTAP on {url.where}: {exc.diag.message_primary or exc}", sqlstate=exc.sqlstate
            ) from None
    try:
        yield
    finally:
        if not (existed and existed[0]):
            with connect(url) as conn:
                conn.execute("drop extension if exists pgtap")


def _prove(prove: str, folder: Path, env: Environment, on_line: LineSink) -> None:
    url = env.url
    child = pgtools.child_env(
        url,
        {"PGHOST": url.host or "localhost", "PGPORT": str(url.port), "PGUSER": url.user, "PGDATABASE": url.dbname},
    )
    tail: list[str] = []
    first_error: list[str] = []

    def keep(line: str) -> None:
        on_line(line)
        tail[:] = (tail + [line])[-5:]
        found = _PSQL_ERROR.match(line)
        if found and not first_error:
            first_error.append(f"{found['where']}: {found['message'].strip()}")

    # The CLI's command line (internal/db/test), run from the tests folder as it does.
    done = pgtools.stream(
        [prove, "--ext", ".pg", "--ext", ".sql", "-r", "--verbose", "--failures", "."],
        env=child,
        cwd=folder,
        what="pg_prove",
        scrub=url.scrub,
        on_line=keep,
    )
    if done.returncode != 0:
        failed = next((ln for ln in reversed(tail) if "Result:" in ln or "Failed" in ln), f"exit {done.returncode}")
        cause = f" (first error: {first_error[0]})" if first_error else ""
        raise PgtapFailed(f"pgTAP tests failed on {env.name}: {failed.strip()}{cause}")
