"""db.push --dry-run: apply the pending migrations to a copy on the runner and say, per file, what would happen.

The copy is a template clone when the target is on this machine, unprotected and idle; otherwise a
scratch database rebuilt from the target's applied history (`scratch.history_copy`). Nothing runs on
the target and no lock is taken there, so a dry run never blocks production and never reports a
failure that another process caused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from supadeploy import scratch
from supadeploy.environments import Environment
from supadeploy.errors import CopyUnavailable, DryRunFailed
from supadeploy.migrations import MigrationFile
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project
from supadeploy.supabase_cli import SupabaseCli


@dataclass(frozen=True)
class FileCheck:
    """Whether one pending file would apply (None: could not be tried), why, how, and how long it took."""

    filename: str
    ok: bool | None
    reason: str
    method: str
    seconds: float | None = None

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "file": self.filename,
            "ok": self.ok,
            "reason": self.reason,
            "method": self.method,
            "seconds": self.seconds,
        }


def validate(
    project: Project,
    env: Environment,
    cli: SupabaseCli,
    pending: Sequence[MigrationFile],
    *,
    on_line: LineSink = discard,
) -> list[FileCheck]:
    """Push the pending files with the real CLI to a clone of an idle local target, else to a scratch copy."""
    if not env.protected:
        try:
            with scratch.template_clone(env) as copy:
                return _checks(scratch.apply_files(cli, copy, pending, on_line=on_line), "clone")
        except CopyUnavailable:
            pass  # busy, remote, or not ours to copy: rebuild its history instead
    with scratch.history_copy(project, env, cli) as copy:
        return _checks(copy.apply(pending, on_line=on_line), "scratch")


def _checks(results: Sequence[scratch.FileResult], method: str) -> list[FileCheck]:
    return [FileCheck(r.filename, r.ok, r.reason, method, r.seconds) for r in results]


def refuse_failures(checks: Sequence[FileCheck]) -> None:
    """Raise when the dry run found a file that would fail."""
    bad = [c for c in checks if c.ok is False]
    if bad:
        raise DryRunFailed(f"dry run: {bad[0].filename} would fail: {bad[0].reason}")
