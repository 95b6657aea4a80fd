"""db.test: the pgTAP suite in supabase/tests, run by pg_prove against an environment's database."""

from __future__ import annotations

from pathlib import Path

from supadeploy import pgtools
from supadeploy.environments import Environment
from supadeploy.errors import ConfigError, PgtapFailed
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project

TESTS_DIR = Path("supabase") / "tests"


def pgtap(project: Project, env: Environment, *, on_line: LineSink = discard) -> None:
    """Run supabase/tests/**/*.sql with pg_prove; raises when a test fails."""
    if env.protected:
        raise ConfigError(f"db.test writes test rows (rolled back) and is refused on protected {env.name}")
    folder = project.root / TESTS_DIR
    files = sorted(str(p.relative_to(project.root)) for p in folder.rglob("*.sql")) if folder.is_dir() else []
    if not files:
        raise ConfigError(f"no pgTAP files in {TESTS_DIR}")
    prove = pgtools.on_path(
        "pg_prove", remedy="install libtap-parser-sourcehandler-pgtap-perl (scripts/bootstrap installs it)"
    )
    url = env.url
    child = pgtools.child_env(
        url,
        {"PGHOST": url.host or "localhost", "PGPORT": str(url.port), "PGUSER": url.user, "PGDATABASE": url.dbname},
    )
    tail: list[str] = []

    def keep(line: str) -> None:
        on_line(line)
        tail[:] = (tail + [line])[-5:]

    done = pgtools.stream(
        [prove, "--verbose", "--failures", *files],
        env=child,
        cwd=project.root,
        what="pg_prove",
        scrub=url.scrub,
        on_line=keep,
    )
    if done.returncode != 0:
        failed = next((ln for ln in reversed(tail) if "Result:" in ln or "Failed" in ln), f"exit {done.returncode}")
        raise PgtapFailed(f"pgTAP tests failed on {env.name}: {failed.strip()}")
