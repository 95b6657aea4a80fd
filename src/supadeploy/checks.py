"""Checks run against a database: the pgTAP suite (pg_prove) and Supabase's advisors (the CLI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supadeploy.environments import Environment
from supadeploy.errors import ConfigError, PgtapFailed, SupadeployError
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


def pgtap(project: Project, env: Environment, *, on_line: LineSink = discard) -> None:
    """Run supabase/tests/**/*.sql with pg_prove; raises when a test fails."""
    if env.protected:
        raise ConfigError(f"db.test writes test rows (rolled back) and is refused on protected {env.name}")
    folder = project.root / TESTS_DIR
    files = sorted(str(p.relative_to(project.root)) for p in folder.rglob("*.sql")) if folder.is_dir() else []
    if not files:
        raise ConfigError(f"no pgTAP files in {TESTS_DIR}")
    prove = shutil.which("pg_prove")
    if not prove:
        raise SupadeployError("pg_prove not found: install libtap-parser-sourcehandler-pgtap-perl (scripts/bootstrap)")
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
    argv = [prove, "--verbose", "--failures", *files]
    proc = subprocess.Popen(
        argv,
        cwd=project.root,
        env=child,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    with proc:
        for raw in proc.stdout:
            line = env.url.scrub(raw.rstrip("\n"))
            on_line(line)
            tail = (tail + [line])[-5:]
    if proc.returncode != 0:
        failed = next((ln for ln in reversed(tail) if "Result:" in ln or "Failed" in ln), f"exit {proc.returncode}")
        raise PgtapFailed(f"pgTAP tests failed on {env.name}: {failed.strip()}")
