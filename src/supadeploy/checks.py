"""Checks run against a database: the pgTAP suite (pg_prove) and Supabase's advisors (the CLI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from supadeploy.database import DbUrl, connect
from supadeploy.environments import Environment
from supadeploy.errors import ConfigError, SupadeployError
from supadeploy.project import Project
from supadeploy.supabase_cli import LineSink, SupabaseCli, discard

LEVELS = ("info", "warn", "error")
TESTS_DIR = Path("supabase") / "tests"


@dataclass(frozen=True)
class Finding:
    """One advisor result."""

    level: str
    name: str
    detail: str
    categories: tuple[str, ...]
    remediation: str

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "level": self.level,
            "name": self.name,
            "detail": self.detail,
            "categories": list(self.categories),
            "remediation": self.remediation,
        }


def check_level(level: str) -> str:
    """Validate --level."""
    if level not in LEVELS:
        raise ConfigError(f"unknown level {level!r}: use one of {', '.join(LEVELS)}")
    return level


def at_or_above(findings: Sequence[Finding], level: str) -> list[Finding]:
    """The findings at `level` or worse."""
    floor = LEVELS.index(check_level(level))
    return [f for f in findings if LEVELS.index(f.level) >= floor]


def advisors(cli: SupabaseCli, env: Environment, *, kind: str = "all") -> list[Finding]:
    """Every advisor finding (info and up) that `supabase db advisors` reports for the environment."""
    if kind not in ("all", "security", "performance"):
        raise ConfigError(f"unknown advisor type {kind!r}: use all, security or performance")
    payload = cli.json(
        ["db", "advisors", f"--remote={env.url.without_password}", "--type", kind, "--level", "info"], url=env.url
    )
    results: list[Mapping[str, Any]] = payload.get("results") or []
    findings = [
        Finding(
            level=str(r.get("level", "info")).lower(),
            name=str(r.get("name", "")),
            detail=str(r.get("detail", "")),
            categories=tuple(r.get("categories") or ()),
            remediation=str(r.get("remediation", "")),
        )
        for r in results
    ]
    return sorted(findings, key=lambda f: (-LEVELS.index(f.level), f.name, f.detail))


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
    prove = shutil.which("pg_prove")
    if not prove:
        raise SupadeployError("pg_prove not found: install libtap-parser-sourcehandler-pgtap-perl (scripts/bootstrap)")
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
            raise SupadeployError(f"cannot enable pgTAP on {url.where}: {exc.diag.message_primary or exc}") from None
    try:
        yield
    finally:
        if not (existed and existed[0]):
            with connect(url) as conn:
                conn.execute("drop extension if exists pgtap")


def _prove(prove: str, folder: Path, env: Environment, on_line: LineSink) -> None:
    child = dict(os.environ)
    child.update(
        {
            "PGHOST": env.url.host or "localhost",
            "PGPORT": str(env.url.port),
            "PGUSER": env.url.user,
            "PGDATABASE": env.url.dbname,
        }
    )
    child.pop("PGPASSWORD", None)
    if env.url.password is not None:
        child["PGPASSWORD"] = env.url.password
    # The CLI's command line (internal/db/test), run from the tests folder as it does.
    argv = [prove, "--ext", ".pg", "--ext", ".sql", "-r", "--verbose", "--failures", "."]
    proc = subprocess.Popen(
        argv,
        cwd=folder,
        env=child,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    first_error = None
    with proc:
        for raw in proc.stdout:
            line = env.url.scrub(raw.rstrip("\n"))
            on_line(line)
            tail = (tail + [line])[-5:]
            found = _PSQL_ERROR.match(line)
            if found and first_error is None:
                first_error = f"{found['where']}: {found['message'].strip()}"
    if proc.returncode != 0:
        failed = next((ln for ln in reversed(tail) if "Result:" in ln or "Failed" in ln), f"exit {proc.returncode}")
        cause = f" (first error: {first_error})" if first_error else ""
        raise SupadeployError(f"pgTAP tests failed on {env.name}: {failed.strip()}{cause}")
