"""env.promote: gates and plan (once), then backup, push, verify, record; every step reported.

The task shows the plan, asks for confirmation, and hands the same plan to `promote`: what the user
confirmed is what runs (the target's history is checked again, cheaply, before anything changes).
A target already at the source's history is a no-op, as in a fleet: no backup, no push, no record.
"""

from __future__ import annotations

import getpass
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from supadeploy import advisors, backups, ledger
from supadeploy.database import applied_migrations, connect, push_lock
from supadeploy.environments import Environment
from supadeploy.errors import PromotionFailed, PromotionRefused, SupadeployError, VerificationFailed
from supadeploy.migrations import discover
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project
from supadeploy.push import Limits, push, refuse_transaction_pooler
from supadeploy.settings import ProcessSettings
from supadeploy.supabase_cli import SupabaseCli


@dataclass(frozen=True)
class PromotionPlan:
    """What a promotion will apply, decided before anything changes."""

    source: str
    target: str
    source_versions: tuple[str, ...]
    target_versions: tuple[str, ...]

    @property
    def to_apply(self) -> tuple[str, ...]:
        """Versions the target lacks."""
        return self.source_versions[len(self.target_versions) :]


# A promotion's outcome in --json: the words fleet.promote uses for a target.
PROMOTED = "promoted"
UP_TO_DATE = "up-to-date"
FAILED = "failed"


@dataclass
class PromotionReport:
    """Everything env.promote did, for --json and the GitHub step summary."""

    plan: PromotionPlan
    steps: list[tuple[str, str]] = field(default_factory=list)
    backup: backups.Manifest | None = None
    applied: tuple[str, ...] = ()
    promotion_id: int | None = None
    ok: bool = False

    @property
    def outcome(self) -> str:
        """promoted, up-to-date (nothing was applied, backed up or recorded) or failed."""
        if not self.ok:
            return FAILED
        return PROMOTED if self.plan.to_apply else UP_TO_DATE

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "source": self.plan.source,
            "target": self.plan.target,
            "ok": self.ok,
            "outcome": self.outcome,
            "source_versions": list(self.plan.source_versions),
            "target_versions": list(self.plan.target_versions),
            "to_apply": list(self.plan.to_apply),
            "applied": list(self.applied),
            "backup": None
            if self.backup is None
            else {"file": self.backup.file, "sha256": self.backup.sha256, "entries": self.backup.entries},
            "promotion_id": self.promotion_id,
            "steps": [{"step": s, "result": r} for s, r in self.steps],
        }

    def markdown(self) -> str:
        """For $GITHUB_STEP_SUMMARY."""
        state = {PROMOTED: "done", UP_TO_DATE: "up to date, nothing applied", FAILED: "FAILED"}[self.outcome]
        lines = [f"## Promotion {self.plan.source} → {self.plan.target}: {state}", ""]
        lines += ["| step | result |", "|---|---|"] + [f"| {s} | {r} |" for s, r in self.steps]
        lines += ["", f"Applied: {', '.join(self.applied) or 'nothing (already up to date)'}"]
        if self.backup is not None:
            lines.append(
                f"Backup: `{Path(self.backup.file).name}` ({self.backup.bytes} bytes, "
                f"sha256 `{self.backup.sha256[:16]}…`)"
            )
        return "\n".join(lines) + "\n"


def who(process: ProcessSettings) -> str:
    """Who is promoting: the GitHub actor, else the git user, else the login name."""
    if process.actor:
        return f"github:{process.actor}"
    done = subprocess.run(["git", "config", "user.email"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or getpass.getuser()


def plan(project: Project, source: Environment, target: Environment, cli: SupabaseCli) -> PromotionPlan:
    """Check the gates; raise PromotionRefused (changing nothing) when one fails."""
    if source.name == target.name:
        raise PromotionRefused("source and target are the same environment")
    return plan_target(source.name, source_gates(project, source, cli), target)


def source_gates(project: Project, source: Environment, cli: SupabaseCli) -> tuple[str, ...]:
    """The source's gates (every file applied with matching checksums, no advisor ERROR); its applied versions.

    They do not depend on the target: a fleet checks them once for all its targets.
    """
    files = discover(project.migrations_dir)
    with connect(source.url) as conn:
        source_applied = applied_migrations(conn)
        verification = ledger.verify(None, files, source_applied, ledger.checksums(conn))
    ledger.refuse_changed(source.name, verification)
    source_versions = tuple(m.version for m in source_applied)
    missing = [f.filename for f in files if f.version not in set(source_versions)]
    if missing:
        raise PromotionRefused(
            f"{source.name} lacks {', '.join(missing)}: push to {source.name} first "
            f"(invoke db.push --env {source.name})"
        )
    unknown = sorted(set(source_versions) - {f.version for f in files})
    if unknown:
        raise PromotionRefused(f"{source.name} has versions with no file in this checkout: {', '.join(unknown)}")
    errors = advisors.at_or_above(advisors.advisors(cli, source), "error")
    if errors:
        raise PromotionRefused(f"advisors report {len(errors)} ERROR finding(s) on {source.name}: {errors[0].detail}")
    return source_versions


def plan_target(source_name: str, source_versions: tuple[str, ...], target: Environment) -> PromotionPlan:
    """The target's gate (its history is a prefix of the source's) and what it lacks."""
    with connect(target.url) as conn:
        target_versions = tuple(m.version for m in applied_migrations(conn))
    if source_versions[: len(target_versions)] != target_versions:
        extra = [v for v in target_versions if v not in set(source_versions)]
        detail = f"it has {', '.join(extra)} that {source_name} lacks" if extra else "its history is in another order"
        raise PromotionRefused(f"{target.name}'s history is not a prefix of {source_name}'s: {detail}")
    return PromotionPlan(source_name, target.name, source_versions, target_versions)


def _target_unchanged(planned: PromotionPlan, target: Environment) -> None:
    """Refuse when the target's history moved since the plan was made (and confirmed)."""
    with connect(target.url) as conn:
        now = tuple(m.version for m in applied_migrations(conn))
    if now != planned.target_versions:
        raise PromotionRefused(f"{target.name}'s history changed since the plan was made: plan and confirm again")


def promote(
    project: Project,
    planned: PromotionPlan,
    source: Environment,
    target: Environment,
    cli: SupabaseCli,
    *,
    process: ProcessSettings,
    backup_folder: str | None = None,
    on_step: LineSink = discard,
    on_line: LineSink = discard,
) -> PromotionReport:
    """Carry out a plan made by `plan()`: back up the target, push, verify, record.

    A plan with nothing to apply does none of them: the report says the target is up to date. Raises
    PromotionFailed after recording what happened in the report.
    """
    if (planned.source, planned.target) != (source.name, target.name):
        raise PromotionRefused(
            f"the plan is for {planned.source} -> {planned.target}, not {source.name} -> {target.name}"
        )
    refuse_transaction_pooler(target.url)
    # One promotion at a time per target, and no push, restore or repair under it: the lock is held from the
    # check that the target is as planned until the promotion is recorded (the push inside takes it again).
    with push_lock(target.url, wait_seconds=Limits.of(target.settings).lock_wait, work="promotion"):
        _target_unchanged(planned, target)
        if not planned.to_apply:
            return _up_to_date(planned, source, target, on_step)
        return _carry_out(project, planned, source, target, cli, process, backup_folder, on_step, on_line)


def _gates_passed(source: Environment, target: Environment) -> str:
    return f"{source.name} has every migration with matching checksums; {target.name} is a prefix; no advisor ERROR"


def _up_to_date(planned: PromotionPlan, source: Environment, target: Environment, on_step: LineSink) -> PromotionReport:
    """The target already has the source's history: nothing to back up, push or record."""
    report = PromotionReport(planned, ok=True)
    for name, result in (
        ("gates", _gates_passed(source, target)),
        (
            "up to date",
            f"{target.name} already has {source.name}'s {len(planned.source_versions)} migration(s): "
            "no backup, no push, nothing recorded",
        ),
    ):
        report.steps.append((name, result))
        on_step(f"{name}: {result}")
    return report


def _carry_out(
    project: Project,
    planned: PromotionPlan,
    source: Environment,
    target: Environment,
    cli: SupabaseCli,
    process: ProcessSettings,
    backup_folder: str | None,
    on_step: LineSink,
    on_line: LineSink,
) -> PromotionReport:
    """Backup, push, verify, record, each step in the report."""
    report = PromotionReport(planned)

    def step(name: str, result: str) -> None:
        report.steps.append((name, result))
        on_step(f"{name}: {result}")

    try:
        step("gates", _gates_passed(source, target))
        step("plan", f"apply {len(report.plan.to_apply)} migration(s): {', '.join(report.plan.to_apply) or 'none'}")
        report.backup = backups.backup(project, target, folder=backup_folder, process=process)
        step("backup", f"{Path(report.backup.file).name} ({report.backup.entries} entries, verified with pg_restore)")
        result = push(project, target, cli, on_line=on_line)
        report.applied = result.applied
        step("push", f"applied {len(result.applied)} migration(s)")
        with connect(target.url) as conn:
            after = tuple(m.version for m in applied_migrations(conn))
        if after != report.plan.source_versions:
            step("verify", f"FAILED: {target.name} history differs from {source.name}")
            raise VerificationFailed(
                f"verification failed: {target.name}'s history differs from {source.name}'s after the "
                f"push; the pre-promotion backup is {report.backup.file}"
            )
        errors = advisors.at_or_above(advisors.advisors(cli, target), "error")
        if errors:
            step("verify", f"FAILED: {len(errors)} advisor ERROR finding(s)")
            raise VerificationFailed(
                f"verification failed: advisors report {errors[0].detail} on {target.name}; "
                f"the pre-promotion backup is {report.backup.file}"
            )
        step("verify", f"{target.name} history equals {source.name}'s; advisors clean")
        with connect(target.url) as conn:
            report.promotion_id = ledger.record_promotion(
                conn,
                source=source.name,
                target=target.name,
                promoted_by=who(process),
                git_sha=backups.git_sha(project.root, process),
                versions=after,
                applied=result.applied,
                backup_file=report.backup.file,
            )
        step("record", f"supadeploy.promotions id {report.promotion_id}")
    except SupadeployError as exc:
        step("failed", str(exc))
        raise PromotionFailed(str(exc), report) from None
    report.ok = True
    return report
