"""db.status: every local migration file against each environment's applied history, read concurrently.

An applied file that was edited since (its checksum, or the CLI's recorded statements, differ) is marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from supadeploy import environments, ledger
from supadeploy.database import applied_migrations, connect
from supadeploy.environments import Environment
from supadeploy.errors import ConfigError, SupadeployError
from supadeploy.migrations import MigrationFile, discover, version_key
from supadeploy.project import Project


@dataclass(frozen=True)
class EnvHistory:
    """One environment's applied history, or why it could not be read."""

    name: str
    url: str
    applied: Mapping[str, str | None] = field(default_factory=dict)
    error: str | None = None
    edited: frozenset[str] = frozenset()  # applied versions whose local file changed since


@dataclass(frozen=True)
class StatusRow:
    """One version: its local file (if any) and whether each environment has applied it."""

    version: str
    name: str
    local: bool
    applied: Mapping[str, bool | None]
    edited: tuple[str, ...] = ()  # the environments that applied this file before it was edited


@dataclass(frozen=True)
class Status:
    """Local files against each environment's history."""

    environments: tuple[EnvHistory, ...]
    rows: tuple[StatusRow, ...]

    @property
    def ok(self) -> bool:
        """False when an environment could not be read."""
        return all(e.error is None for e in self.environments)

    @property
    def unreadable(self) -> list[str]:
        """The environments whose history could not be read."""
        return [e.name for e in self.environments if e.error]

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "environments": [
                {"name": e.name, "url": e.url, "reachable": e.error is None, "error": e.error}
                for e in self.environments
            ],
            "migrations": [
                {
                    "version": r.version,
                    "name": r.name,
                    "local": r.local,
                    "applied": dict(r.applied),
                    "edited": list(r.edited),
                }
                for r in self.rows
            ],
        }


def _history(env: Environment | ConfigError, name: str, files: Sequence[MigrationFile]) -> EnvHistory:
    if isinstance(env, ConfigError):
        return EnvHistory(name, "", error=str(env))
    try:
        with connect(env.url, timeout=5) as conn:
            applied = applied_migrations(conn)
            recorded = ledger.checksums(conn)
    except SupadeployError as exc:
        return EnvHistory(name, env.url.masked, error=str(exc))
    changed = ledger.verify(None, files, applied, recorded).changed
    return EnvHistory(
        name, env.url.masked, {m.version: m.name for m in applied}, edited=frozenset(f.version for f in changed)
    )


def status(project: Project, names: Sequence[str], environ: Mapping[str, str] | None = None) -> Status:
    """Every local file against each named environment's history, read concurrently."""
    files = discover(project.migrations_dir)
    resolved: list[Environment | ConfigError] = []
    for name in names:
        try:
            resolved.append(environments.resolve(project, name, environ))
        except ConfigError as exc:
            resolved.append(exc)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        histories = tuple(pool.map(_history, resolved, names, [files] * len(names)))
    names_by_version = {f.version: f.name for f in files}
    for history in histories:
        for version, recorded in history.applied.items():
            names_by_version.setdefault(version, recorded or "")
    local = {f.version for f in files}
    rows = []
    for version in sorted(names_by_version, key=version_key):
        applied = {h.name: (None if h.error else version in h.applied) for h in histories}
        edited = tuple(h.name for h in histories if version in h.edited)
        rows.append(StatusRow(version, names_by_version[version], version in local, applied, edited))
    return Status(histories, tuple(rows))
