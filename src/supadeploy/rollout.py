"""fleet.plan and fleet.promote: env.promote's rails for every target of a fleet, wave by wave.

The source's gates run once. Each target is then promoted under its promotion lock, planned again
inside it (a target another rollout finished meanwhile is a no-op, never promoted twice), by
`promotion.promote`: backup, push, verify, record. A wave runs at most max_parallel targets at once;
when one fails, `stop` starts no other target and `continue` finishes the wave; either way the next
wave does not start.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from supadeploy import drift, ledger, promotion
from supadeploy.database import applied_migrations, connect, promotion_lock
from supadeploy.environments import Environment, resolve
from supadeploy.errors import ConfigError, PromotionFailed, PromotionRefused, SupadeployError
from supadeploy.fleet import Fleet, Wave
from supadeploy.migrations import discover
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project
from supadeploy.settings import ProcessSettings
from supadeploy.supabase_cli import SupabaseCli

# A target's outcome. Only promoted and up-to-date count as done.
PROMOTED = "promoted"
UP_TO_DATE = "up-to-date"
FAILED = "failed"
REFUSED = "refused"
NOT_STARTED = "not-started"
DONE = (PROMOTED, UP_TO_DATE)
# How many targets' histories fleet.plan reads at once: reads are cheap, connections are not free.
READERS = 8

# Asked before a target starts; a reason not to start it (a sibling job failed, in Actions), or None.
BeforeStart = Callable[[Wave, str], str | None]


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# --- resolving the targets -------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """A target's environment, or the one line saying why it cannot be resolved."""

    name: str
    env: Environment | None
    problem: str | None = None


def resolve_targets(
    project: Project, fleet: Fleet, source: Environment, names: Sequence[str], environ: Mapping[str, str]
) -> dict[str, Resolved]:
    """Resolve each named target; refuse a source in the fleet and two names for one database."""
    if source.name in fleet.targets:
        raise ConfigError(f"{source.name} is a target in {fleet.file}: it cannot also be the source")
    resolved: dict[str, Resolved] = {}
    for name in names:
        try:
            resolved[name] = Resolved(name, resolve(project, name, environ, declared=True))
        except ConfigError as exc:
            resolved[name] = Resolved(name, None, str(exc))
    # On the parsed URL: localhost, 127.0.0.1 and ::1 are one host, a missing port is 5432.
    owner: dict[tuple[str, int, str, str], str] = dict.fromkeys(source.url.database_keys, source.name)
    for item in resolved.values():
        if item.env is None:
            continue
        keys = item.env.url.database_keys
        shared = next((owner[key] for key in sorted(keys) if key in owner), None)
        if shared is not None:
            raise ConfigError(
                f"{item.name} and {shared} resolve to the same database ({item.env.url.masked}, "
                f"{item.name}'s from {item.env.source}): give each its own URL (.env.<name> or SUPABASE_DB_URL_<NAME>)"
            )
        owner.update(dict.fromkeys(keys, item.name))
    return resolved


# --- fleet.plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetPlan:
    """What env.promote would do to one target: its pending versions and the gates that would refuse it."""

    target: str
    wave: str
    url: str | None
    applied: tuple[str, ...] | None
    pending: tuple[str, ...]
    refusals: tuple[str, ...]
    drift: tuple[drift.Difference, ...] | None = None
    drift_problem: str | None = None

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "target": self.target,
            "wave": self.wave,
            "url": self.url,
            "applied": None if self.applied is None else list(self.applied),
            "pending": list(self.pending),
            "refused": list(self.refusals),
            "drift": None if self.drift is None else [d.as_dict() for d in self.drift],
            "drift_problem": self.drift_problem,
        }

    def summary(self) -> str:
        """One line for people."""
        if self.refusals:
            state = "REFUSED: " + "; ".join(self.refusals)
        elif self.pending:
            state = f"{len(self.pending)} pending: {', '.join(self.pending)}"
        else:
            state = "up to date (nothing to do)"
        if self.drift_problem:
            state += f" · drift not checked: {self.drift_problem}"
        elif self.drift is not None:
            state += f" · drift: {len(self.drift)} difference(s)" if self.drift else " · no drift"
        return f"{self.target}: {state}"


@dataclass(frozen=True)
class FleetPlan:
    """The source's history, checked once, and every chosen target's plan, wave by wave."""

    fleet: Fleet
    source: Environment
    source_versions: tuple[str, ...]
    targets: tuple[TargetPlan, ...]
    envs: Mapping[str, Environment] = field(repr=False, default_factory=dict)

    def of(self, wave: Wave) -> list[TargetPlan]:
        """The chosen targets of one wave, in file order."""
        return [t for t in self.targets if t.wave == wave.name]

    def only(self, names: Sequence[str]) -> FleetPlan:
        """The same plan, for these targets alone."""
        return replace(self, targets=tuple(t for t in self.targets if t.target in set(names)))

    @property
    def refused(self) -> list[TargetPlan]:
        """Targets a gate would refuse."""
        return [t for t in self.targets if t.refusals]

    def as_dict(self) -> dict[str, object]:
        """For --json: the waves, each with its targets' plans and the matrix its Actions job takes."""
        return {
            "file": self.fleet.file,
            "source": self.source.name,
            "source_versions": list(self.source_versions),
            "waves": [
                {**wave.as_dict(), "job": wave.job(), "targets": [t.as_dict() for t in self.of(wave)]}
                for wave in self.fleet.waves
                if self.of(wave)
            ],
            "github_outputs": self.fleet.github_outputs(),
        }


def plan_fleet(
    project: Project,
    fleet: Fleet,
    source: Environment,
    cli: SupabaseCli,
    *,
    names: Sequence[str],
    environ: Mapping[str, str],
    with_lint: bool = True,
    with_drift: bool = True,
    scratch_url: str | None = None,
) -> FleetPlan:
    """Check the source's gates once, then read each named target: pending versions, refusals, drift.

    Nothing is written anywhere. Drift rebuilds each distinct applied history once, on a scratch database.
    """
    resolved = resolve_targets(project, fleet, source, names, environ)
    source_versions = promotion.source_gates(project, source, cli)
    files = discover(project.migrations_dir)

    def read(item: Resolved) -> TargetPlan:
        wave = fleet.wave_of(item.name).name
        if item.env is None:
            return TargetPlan(item.name, wave, None, None, (), (item.problem or "cannot be resolved",))
        env = item.env
        try:
            planned = promotion.plan_target(source.name, source_versions, env)
        except PromotionRefused as exc:
            return TargetPlan(item.name, wave, env.url.masked, _history(env), (), (_first_line(exc),))
        except SupadeployError as exc:
            return TargetPlan(item.name, wave, env.url.masked, None, (), (_first_line(exc),))
        refusals = []
        try:
            # The push's checksum gate, read-only: an applied file edited since it reached this target.
            with connect(env.url) as conn:
                applied = applied_migrations(conn)
                verification = ledger.verify(None, files, applied, ledger.checksums(conn))
            ledger.refuse_changed(env.name, verification)
        except SupadeployError as exc:
            refusals.append(_first_line(exc))
        return TargetPlan(item.name, wave, env.url.masked, planned.target_versions, planned.to_apply, tuple(refusals))

    with ThreadPoolExecutor(max_workers=max(1, min(READERS, len(resolved)))) as pool:
        plans = list(pool.map(read, resolved.values()))
    if with_lint:
        plans = _lint_refusals(project, plans)
    if with_drift:
        plans = _with_drift(project, plans, resolved, cli, scratch_url)
    envs = {name: item.env for name, item in resolved.items() if item.env is not None}
    return FleetPlan(fleet, source, source_versions, tuple(plans), envs)


def _history(env: Environment) -> tuple[str, ...] | None:
    try:
        with connect(env.url) as conn:
            return tuple(m.version for m in applied_migrations(conn))
    except SupadeployError:
        return None


def _lint_refusals(project: Project, plans: list[TargetPlan]) -> list[TargetPlan]:
    """The push's lint gate, run once over every pending file; its errors refuse the targets that lack the file."""
    pending = {v for p in plans for v in p.pending}
    if not pending:
        return plans
    from supadeploy import lint

    files = [f for f in discover(project.migrations_dir) if f.version in pending]
    errors = lint.errors(lint.lint(project, [f.path for f in files]))
    by_version: dict[str, list[str]] = defaultdict(list)
    for finding in errors:
        for file in files:
            if Path(finding.file).name == file.filename:
                by_version[file.version].append(f"lint: {file.filename}:{finding.line} {finding.rule}")
    result = []
    for plan in plans:
        found = [line for v in plan.pending for line in by_version.get(v, ())]
        if found:
            more = f" and {len(found) - 1} more" if len(found) > 1 else ""
            plan = replace(plan, refusals=(*plan.refusals, found[0] + more))
        result.append(plan)
    return result


def _with_drift(
    project: Project,
    plans: list[TargetPlan],
    resolved: Mapping[str, Resolved],
    cli: SupabaseCli,
    scratch_url: str | None,
) -> list[TargetPlan]:
    """Each target's live schema against what its applied files build: one rebuild per distinct history."""
    groups: dict[tuple[str, ...], list[TargetPlan]] = defaultdict(list)
    for plan in plans:
        if plan.applied is not None:
            groups[plan.applied].append(plan)
    checked: dict[str, TargetPlan] = {}
    for versions, members in groups.items():
        first = resolved[members[0].target].env
        assert first is not None  # a target with an applied history was resolved
        try:
            expected = drift.rebuild(project, first, cli, versions, scratch_url=scratch_url)
        except SupadeployError as exc:
            for plan in members:
                checked[plan.target] = replace(plan, drift_problem=_first_line(exc))
            continue
        for plan in members:
            env = resolved[plan.target].env
            assert env is not None
            try:
                with connect(env.url) as conn:
                    live = drift.snapshot(conn)
                found = tuple(drift.compare(live, expected))
                checked[plan.target] = replace(plan, drift=found)
            except SupadeployError as exc:
                checked[plan.target] = replace(plan, drift_problem=_first_line(exc))
    return [checked.get(plan.target, plan) for plan in plans]


def require_done(plan: FleetPlan, before: Wave) -> None:
    """Refuse to start `before` while a target of an earlier wave is not at the source's history."""
    for target in plan.targets:
        wave = plan.fleet.wave(target.wave)
        if wave.index >= before.index:
            continue
        if target.refusals or target.pending:
            state = target.refusals[0] if target.refusals else f"{len(target.pending)} migration(s) pending"
            raise PromotionRefused(
                f"wave {wave.name} comes before {before.name} and is not done ({target.target}: {state}): "
                f"promote it first (invoke fleet.promote --wave {wave.name})"
            )


# --- fleet.promote ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetOutcome:
    """What happened to one target."""

    target: str
    wave: str
    outcome: str
    seconds: float | None = None
    applied: tuple[str, ...] | None = ()  # versions; None when a failure left it unknown
    backup: str | None = None
    promotion_id: int | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        """Promoted, or nothing to do."""
        return self.outcome in DONE

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "target": self.target,
            "wave": self.wave,
            "outcome": self.outcome,
            "seconds": None if self.seconds is None else round(self.seconds, 2),
            "applied": None if self.applied is None else list(self.applied),
            "backup": self.backup,
            "promotion_id": self.promotion_id,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TargetOutcome:
        """Read back what as_dict wrote (the workflow's per-target reports)."""
        applied = data.get("applied")
        seconds = data.get("seconds")
        promotion_id = data.get("promotion_id")
        return cls(
            target=str(data["target"]),
            wave=str(data["wave"]),
            outcome=str(data["outcome"]),
            seconds=float(seconds) if isinstance(seconds, int | float) else None,
            applied=tuple(str(v) for v in applied) if isinstance(applied, list) else None,
            backup=str(data["backup"]) if data.get("backup") else None,
            promotion_id=promotion_id if isinstance(promotion_id, int) else None,
            error=str(data["error"]) if data.get("error") else None,
        )


@dataclass
class FleetReport:
    """Every target's outcome, wave by wave: one JSON document, and Markdown for the step summary."""

    file: str
    source: str
    versions: tuple[str, ...]
    waves: list[tuple[Wave, list[TargetOutcome]]] = field(default_factory=list)
    seconds: float | None = None
    stopped: str | None = None

    @property
    def outcomes(self) -> list[TargetOutcome]:
        """Every target's outcome, wave by wave."""
        return [o for _, outcomes in self.waves for o in outcomes]

    @property
    def ok(self) -> bool:
        """Every target promoted or already up to date."""
        return all(o.done for o in self.outcomes)

    @property
    def first_failure(self) -> TargetOutcome | None:
        """The first target that failed or was refused."""
        return next((o for o in self.outcomes if o.outcome in (FAILED, REFUSED)), None)

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "file": self.file,
            "source": self.source,
            "source_versions": list(self.versions),
            "ok": self.ok,
            "seconds": None if self.seconds is None else round(self.seconds, 2),
            "stopped": self.stopped,
            "counts": {k: sum(o.outcome == k for o in self.outcomes) for k in (*DONE, FAILED, REFUSED, NOT_STARTED)},
            "waves": [
                {**wave.as_dict(), "status": _wave_status(outcomes), "targets": [o.as_dict() for o in outcomes]}
                for wave, outcomes in self.waves
            ],
        }

    def markdown(self) -> str:
        """For $GITHUB_STEP_SUMMARY."""
        state = "done" if self.ok else "FAILED"
        took = f" in {self.seconds:.1f}s" if self.seconds is not None else ""
        lines = [f"## Fleet promotion from {self.source}: {state}{took}", ""]
        if self.stopped:
            lines += [f"**Stopped:** {self.stopped}", ""]
        lines += [
            "| wave | target | outcome | duration | applied | backup | first error |",
            "|---|---|---|---|---|---|---|",
        ]
        for wave, outcomes in self.waves:
            for o in outcomes:
                seconds = "-" if o.seconds is None else f"{o.seconds:.1f}s"
                applied = "unknown" if o.applied is None else (", ".join(o.applied) or "-")
                backup = f"`{Path(o.backup).name}`" if o.backup else "-"
                error = (o.error or "-").replace("|", "\\|")
                lines.append(f"| {wave.name} | {o.target} | {o.outcome} | {seconds} | {applied} | {backup} | {error} |")
        return "\n".join(lines) + "\n"


def _wave_status(outcomes: Sequence[TargetOutcome]) -> str:
    if all(o.outcome == NOT_STARTED for o in outcomes):
        return "not started"
    return "done" if all(o.done for o in outcomes) else "failed"


def promote_fleet(
    project: Project,
    plan: FleetPlan,
    cli: SupabaseCli,
    *,
    process: ProcessSettings,
    backup_folder: str | None = None,
    on_progress: LineSink = discard,
    before_start: BeforeStart | None = None,
) -> FleetReport:
    """Promote the plan's targets wave by wave; a wave with a failure is the last one started."""
    started = time.monotonic()
    report = FleetReport(plan.fleet.file, plan.source.name, plan.source_versions)
    waves = [(wave, [t.target for t in plan.of(wave)]) for wave in plan.fleet.waves if plan.of(wave)]

    def one(wave: Wave, name: str) -> TargetOutcome:
        return promote_target(project, plan, cli, wave, name, process, backup_folder, on_progress)

    try:
        run_waves(report, waves, one, on_progress=on_progress, before_start=before_start)
    finally:
        report.seconds = time.monotonic() - started
    return report


RunOne = Callable[[Wave, str], TargetOutcome]


def run_waves(
    report: FleetReport,
    waves: Sequence[tuple[Wave, Sequence[str]]],
    run_one: RunOne,
    *,
    on_progress: LineSink = discard,
    before_start: BeforeStart | None = None,
) -> None:
    """Run each wave's targets through run_one into the report; after a wave with a failure, start no wave."""
    interrupted = threading.Event()
    for number, (wave, names) in enumerate(waves):
        if report.stopped:
            report.waves.append((wave, [_not_started(n, wave, report.stopped) for n in names]))
            continue
        on_progress(
            f"wave {wave.name}: {len(names)} target(s), at most {wave.max_parallel} at once, "
            f"on_failure = {wave.on_failure}"
        )
        outcomes = _run_wave(wave, names, run_one, before_start, interrupted)
        report.waves.append((wave, outcomes))
        failed = [o for o in outcomes if o.outcome in (FAILED, REFUSED)]
        if failed:
            later = [w.name for w, _ in waves[number + 1 :]]
            report.stopped = f"{', '.join(o.target for o in failed)} failed in wave {wave.name}" + (
                f"; waves {', '.join(later)} not started" if later else ""
            )
            on_progress(f"stopped: {report.stopped}")


def _not_started(name: str, wave: Wave, why: str) -> TargetOutcome:
    return TargetOutcome(name, wave.name, NOT_STARTED, error=f"not started: {why}")


def _run_wave(
    wave: Wave,
    names: Sequence[str],
    run_one: RunOne,
    before_start: BeforeStart | None,
    interrupted: threading.Event,
) -> list[TargetOutcome]:
    """At most max_parallel targets at once; with `stop`, none starts after a failure (running ones finish)."""
    failed: list[str] = []

    def one(name: str) -> TargetOutcome:
        if interrupted.is_set():
            return _not_started(name, wave, "interrupted")
        if failed and wave.on_failure == "stop":
            return _not_started(name, wave, f"{failed[0]} failed in this wave (on_failure = stop)")
        try:
            reason = before_start(wave, name) if before_start is not None else None
        except SupadeployError as exc:
            reason = f"cannot tell whether to start it: {_first_line(exc)}"  # fail closed: start nothing
        if reason:
            return _not_started(name, wave, reason)
        outcome = run_one(wave, name)
        if not outcome.done:
            failed.append(name)
        return outcome

    # The pool is left last: on Ctrl-C the flag is set first, so the queued targets return at once.
    with ThreadPoolExecutor(max_workers=min(wave.max_parallel, len(names))) as pool, _interruptible(interrupted):
        futures = [pool.submit(one, name) for name in names]
        return [future.result() for future in futures]


@contextmanager
def _interruptible(interrupted: threading.Event) -> Iterator[None]:
    """On Ctrl-C, start nothing more; the running targets finish (a push is never cut off by us)."""
    try:
        yield
    except KeyboardInterrupt:
        interrupted.set()
        raise


def promote_target(
    project: Project,
    plan: FleetPlan,
    cli: SupabaseCli,
    wave: Wave,
    name: str,
    process: ProcessSettings,
    backup_folder: str | None,
    on_progress: LineSink = discard,
) -> TargetOutcome:
    """env.promote's rails for one target, under its promotion lock; a target at the source's history is a no-op."""
    started = time.monotonic()
    target = plan.envs.get(name)
    planned = next(t for t in plan.targets if t.target == name)

    def outcome(
        kind: str,
        *,
        error: str | None = None,
        applied: tuple[str, ...] | None = (),
        backup: str | None = None,
        promotion_id: int | None = None,
    ) -> TargetOutcome:
        took = time.monotonic() - started
        on_progress(f"{name}: {kind} in {took:.1f}s" + (f": {error}" if error else ""))
        return TargetOutcome(name, wave.name, kind, took, applied, backup, promotion_id, error)

    if target is None or planned.refusals:
        # Refused when planned: nothing is touched (no lock, no backup).
        return outcome(REFUSED, error=planned.refusals[0] if planned.refusals else f"{name} cannot be resolved")
    on_progress(f"{name}: starting")
    try:
        with promotion_lock(target.url, wait_seconds=target.settings.lock_wait):
            # Planned again under the lock: another rollout may have promoted this target meanwhile.
            now = promotion.plan_target(plan.source.name, plan.source_versions, target)
            if not now.to_apply:
                return outcome(UP_TO_DATE)
            report = promotion.promote(
                project,
                now,
                plan.source,
                target,
                cli,
                process=process,
                backup_folder=backup_folder,
                on_step=lambda line: on_progress(f"{name}: {line}"),
            )
    except PromotionRefused as exc:
        return outcome(REFUSED, error=_first_line(exc))
    except PromotionFailed as exc:
        backup = exc.report.backup if isinstance(exc.report, promotion.PromotionReport) else None
        return outcome(
            FAILED,
            error=_first_line(exc),
            applied=_applied_since(target, planned.applied),
            backup=backup.file if backup else None,
        )
    except SupadeployError as exc:
        return outcome(FAILED, error=_first_line(exc), applied=_applied_since(target, planned.applied))
    return outcome(
        PROMOTED,
        applied=now.to_apply,
        backup=report.backup.file if report.backup else None,
        promotion_id=report.promotion_id,
    )


def _applied_since(target: Environment, before: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The versions a failed promotion left applied, read from the target itself (None when unreadable)."""
    if before is None:
        return None
    try:
        with connect(target.url) as conn:
            now = [m.version for m in applied_migrations(conn)]
    except SupadeployError:
        return None
    return tuple(v for v in now if v not in set(before))


# --- the workflow's summary --------------------------------------------------------------------------


def gather(fleet: Fleet, documents: Sequence[Mapping[str, Any]]) -> FleetReport:
    """One report from the per-target reports of a workflow run; a target with none did not start."""
    found: dict[str, TargetOutcome] = {}
    source = ""
    versions: tuple[str, ...] = ()
    for document in documents:
        source = str(document.get("source") or source)
        versions = tuple(str(v) for v in document.get("source_versions") or versions)
        for wave in document.get("waves") or ():
            for target in wave.get("targets") or ():
                outcome = TargetOutcome.from_dict(target)
                if outcome.target in fleet.targets:
                    found[outcome.target] = outcome
    report = FleetReport(fleet.file, source or "?", versions)
    for wave in fleet.waves:
        report.waves.append(
            (wave, [found.get(t) or _not_started(t, wave, "no report from its job") for t in wave.targets])
        )
    failed = report.first_failure
    if failed is not None:
        report.stopped = f"{failed.target} failed in wave {failed.wave}"
    return report


def pending_summary(plan: FleetPlan) -> str:
    """One line for the confirmation: how many targets lack how many versions."""
    behind = [t for t in plan.targets if t.pending and not t.refusals]
    return (
        f"{len(plan.targets)} target(s) in {len({t.wave for t in plan.targets})} wave(s) from {plan.source.name} "
        f"(at {plan.source_versions[-1] if plan.source_versions else 'no migrations'}): {len(behind)} behind, "
        f"{sum(1 for t in plan.targets if not t.pending and not t.refusals)} up to date, {len(plan.refused)} refused"
    )
