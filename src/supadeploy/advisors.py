"""db.advisors: Supabase's security and performance advisors (`supabase db advisors`), as findings by level."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supadeploy.environments import Environment
from supadeploy.errors import ConfigError
from supadeploy.supabase_cli import SupabaseCli

LEVELS = ("info", "warn", "error")
KINDS = ("all", "security", "performance")


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
    if kind not in KINDS:
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
    return ordered(findings)


def ordered(findings: Sequence[Finding]) -> list[Finding]:
    """Worst level first, then by name and detail."""
    return sorted(findings, key=lambda f: (-LEVELS.index(f.level) if f.level in LEVELS else 0, f.name, f.detail))
