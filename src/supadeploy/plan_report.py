"""The db.plan report: one value with everything the plan found, as JSON (--json) and as the PR comment (Markdown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from supadeploy import advisors as advisor_checks
from supadeploy import lint
from supadeploy.ddl_locks import FileLocks, Risk, Size, StatementLocks, TableLock
from supadeploy.exposure import ExposureChange

SECTIONS = ("applies", "exposure", "advisors", "pgtap")
MARKS = {
    Risk.UNKNOWN: "❓",
    Risk.HIGH: "🔴",
    Risk.MEDIUM: "🟠",
    Risk.LOW: "🟡",
    Risk.NONE: "⚪",
}
SUMMARY_STATEMENTS = 5


@dataclass(frozen=True)
class FileApply:
    """Whether one pending file applied on the rehearsal database (None: not tried), why, and how long it took."""

    file: str
    ok: bool | None
    reason: str
    seconds: float | None = None

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {"file": self.file, "ok": self.ok, "reason": self.reason, "seconds": self.seconds}


@dataclass(frozen=True)
class AdvisorsDelta:
    """Advisor findings the change introduces, and those it resolves."""

    added: tuple[advisor_checks.Finding, ...] = ()
    resolved: tuple[advisor_checks.Finding, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {"added": [f.as_dict() for f in self.added], "resolved": [f.as_dict() for f in self.resolved]}


def advisors_delta(before: Sequence[advisor_checks.Finding], after: Sequence[advisor_checks.Finding]) -> AdvisorsDelta:
    """Findings only after (added) and only before (resolved), matched on name and detail."""
    old = {(f.name, f.detail) for f in before}
    new = {(f.name, f.detail) for f in after}
    return AdvisorsDelta(
        tuple(f for f in after if (f.name, f.detail) not in old),
        tuple(f for f in before if (f.name, f.detail) not in new),
    )


@dataclass(frozen=True)
class PgtapResult:
    """The pgTAP suite on the rehearsal database after the change."""

    passed: bool
    summary: str

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {"passed": self.passed, "summary": self.summary}


@dataclass(frozen=True)
class PlanReport:
    """What the pending files of one environment would do.

    A section that did not run is None, with its reason in `not_run`: never reported as passing.
    """

    env: str
    target: str
    locks: tuple[FileLocks, ...]
    lint: tuple[lint.Finding, ...] = ()
    applies: tuple[FileApply, ...] | None = None
    applied_on: str = ""
    exposure: tuple[ExposureChange, ...] | None = None
    advisors: AdvisorsDelta | None = None
    pgtap: PgtapResult | None = None
    not_run: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def pending(self) -> tuple[str, ...]:
        """The pending files, in the order they would be applied."""
        return tuple(f.file for f in self.locks)

    @property
    def statements(self) -> tuple[StatementLocks, ...]:
        """Every statement of every pending file."""
        return tuple(s for f in self.locks for s in f.statements)

    @property
    def highest_risk(self) -> Risk:
        """The worst risk over every file (unknown ranks highest)."""
        return max((f.risk for f in self.locks), default=Risk.NONE)

    @property
    def ok(self) -> bool:
        """True when nothing blocks the change: every file applies, no lint error, pgTAP passes (if run)."""
        return (
            all(a.ok is not False for a in self.applies or ())
            and not lint.errors(self.lint)
            and (self.pgtap is None or self.pgtap.passed)
            and not any(f.error for f in self.locks)
        )

    def as_dict(self) -> dict[str, object]:
        """For --json: everything, including statements that take no lock."""
        return {
            "env": self.env,
            "target": self.target,
            "pending": list(self.pending),
            "highest_risk": self.highest_risk.label,
            "ok": self.ok,
            "files": [
                {
                    "file": f.file,
                    "risk": f.risk.label,
                    "error": f.error,
                    "statements": [_statement_dict(s) for s in f.statements],
                }
                for f in self.locks
            ],
            "applies": None if self.applies is None else [a.as_dict() for a in self.applies],
            "applied_on": self.applied_on or None,
            "exposure": None if self.exposure is None else [c.as_dict() for c in self.exposure],
            "advisors": None if self.advisors is None else self.advisors.as_dict(),
            "lint": [f.as_dict() for f in self.lint],
            "pgtap": None if self.pgtap is None else self.pgtap.as_dict(),
            "not_run": dict(self.not_run),
            "notes": list(self.notes),
        }

    def markdown(self) -> str:
        """The PR comment: a summary line (highest risk first), the riskiest statements, details folded."""
        return "\n".join(_markdown(self)) + "\n"


def _statement_dict(statement: StatementLocks) -> dict[str, object]:
    return {
        "line": statement.line,
        "sql": statement.sql,
        "form": statement.form,
        "risk": statement.risk.label,
        "effect": statement.effect.value,
        "unknowns": list(statement.unknowns),
        "notes": list(statement.notes),
        "locks": [
            {
                "relation": lock.relation,
                "mode": lock.mode.label,
                "blocks": lock.mode.blocks,
                "effect": lock.effect.value,
                "why": lock.why,
                "rows": lock.size.rows,
                "bytes": lock.size.bytes,
                "size_class": lock.size.size_class,
                "destructive": lock.destructive,
                "risk": lock.risk.label,
            }
            for lock in statement.locks
        ],
    }


# --- Markdown -------------------------------------------------------------------------------------------


def _markdown(report: PlanReport) -> list[str]:
    risk = report.highest_risk
    files = len(report.locks)
    if not files:
        lines = [
            f"### db.plan · {report.env}: nothing pending",
            "",
            f"Every migration file is applied on {report.env}.",
        ]
        return lines + [f"> ⚠️ {note}" for note in report.notes]
    out = [
        f"### db.plan · {report.env} · highest risk: {MARKS[risk]} **{risk.label.upper()}** · "
        f"{files} pending file{'s' if files != 1 else ''}",
        "",
    ]
    worst = sorted(
        (s for s in report.statements if s.risk >= Risk.MEDIUM),
        key=lambda s: (-s.risk, report.pending.index(s.file), s.line),
    )
    for statement in worst[:SUMMARY_STATEMENTS]:
        out.append(f"- {MARKS[statement.risk]} {_headline(statement)}")
    if len(worst) > SUMMARY_STATEMENTS:
        out.append(f"- … and {len(worst) - SUMMARY_STATEMENTS} more at medium or above (see below)")
    for failed in (f for f in report.locks if f.error):
        out.append(f"- ❓ `{failed.file}`: {failed.error}")
    if worst or any(f.error for f in report.locks):
        out.append("")
    out.append(" · ".join(_status(report)))
    out.append("")
    for note in report.notes:
        out += [f"> ⚠️ {note}", ""]
    out += _locks_details(report)
    out += _applies_details(report)
    out += _exposure_details(report)
    out += _advisors_details(report)
    out += _lint_details(report)
    return out


def _headline(statement: StatementLocks) -> str:
    where = f"`{statement.file}:{statement.line}` {_code(statement.sql, 80)}"
    if statement.unknowns:
        return f"{where}: unknown: {statement.unknowns[0]}"
    lock = max(statement.locks, key=lambda lock: lock.risk)
    return (
        f"{where}: {lock.mode.label} on {lock.relation} ({_size(lock.size)}), {_effect(lock)}; "
        f"blocks {lock.mode.blocks}"
    )


def _effect(lock: TableLock) -> str:
    text = {"none": "catalog only", "scan": "reads every row", "rewrite": "rewrites the table"}.get(
        lock.effect.value, "unknown effect"
    )
    return text + (", destroys data" if lock.destructive else "")


def _status(report: PlanReport) -> list[str]:
    parts = []
    if report.applies is None:
        parts.append(f"**Applies:** not run ({report.not_run.get('applies', 'no reason given')})")
    else:
        ok = sum(a.ok is True for a in report.applies)
        failed = [a for a in report.applies if a.ok is False]
        seconds = sum(a.seconds or 0 for a in report.applies)
        mark = "❌" if failed else "✅" if ok == len(report.applies) else "⚠️"
        parts.append(f"**Applies:** {mark} {ok} of {len(report.applies)} ({seconds:.2f} s)")
    if report.exposure is None:
        parts.append("**Exposure:** not run")
    else:
        parts.append(f"**Exposure:** {len(report.exposure)} change{'s' if len(report.exposure) != 1 else ''}")
    if report.advisors is None:
        parts.append("**Advisors:** not run")
    else:
        parts.append(f"**Advisors:** +{len(report.advisors.added)} new, −{len(report.advisors.resolved)} resolved")
    errors = len(lint.errors(report.lint))
    parts.append(f"**Lint:** {errors} error{'s' if errors != 1 else ''}, {len(report.lint) - errors} warning(s)")
    if report.pgtap is None:
        parts.append("**pgTAP:** not run")
    else:
        parts.append(f"**pgTAP:** {'✅ passed' if report.pgtap.passed else '❌ failed'}")
    return parts


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _locks_details(report: PlanReport) -> list[str]:
    rows = [
        "| risk | where | statement | lock | table | size | effect |",
        "|---|---|---|---|---|---|---|",
    ]
    quiet = 0
    for statement in report.statements:
        if not statement.locks and not statement.unknowns:
            quiet += 1
            continue
        where = f"{statement.file}:{statement.line}"
        first = f"{MARKS[statement.risk]} {statement.risk.label} | `{where}` | {_code(statement.sql, 60)}"
        if not statement.locks:
            rows.append(f"| {first} | unknown | | | {_cell(statement.unknowns[0])} |")
        for index, lock in enumerate(statement.locks):
            lead = first if index == 0 else " | | "
            rows.append(
                f"| {lead} | {lock.mode.label} | {lock.relation} | {_size(lock.size)} | {_cell(_effect(lock))} |"
            )
    if quiet:
        rows += ["", f"{quiet} other statement{'s take' if quiet != 1 else ' takes'} no table lock."]
    return _details(f"Locks per statement ({len(report.statements)} statements)", rows)


def _applies_details(report: PlanReport) -> list[str]:
    if report.applies is None:
        return []
    marks = {True: "✅", False: "❌", None: "⏭️"}
    rows = ["| file | applies | time | detail |", "|---|---|---|---|"]
    for a in report.applies:
        seconds = "" if a.seconds is None else f"{a.seconds:.2f} s"
        rows.append(f"| `{a.file}` | {marks[a.ok]} | {seconds} | {_cell(a.reason)} |")
    return _details(f"Does it apply? ({report.applied_on})" if report.applied_on else "Does it apply?", rows)


def _exposure_details(report: PlanReport) -> list[str]:
    if report.exposure is None:
        return []
    if not report.exposure:
        return _details("Exposure: no change for anon, authenticated, service_role or PUBLIC", ["Nothing changes."])
    body = ["```diff", *(c.line if c.sign else f"! {c.line}" for c in report.exposure), "```"]
    return _details(f"Exposure: {len(report.exposure)} change(s) for client roles", body)


def _advisors_details(report: PlanReport) -> list[str]:
    if report.advisors is None or not (report.advisors.added or report.advisors.resolved):
        return []
    rows = ["| | level | advisor | detail |", "|---|---|---|---|"]
    rows += [f"| + | {f.level} | {f.name} | {_cell(f.detail)} |" for f in report.advisors.added]
    rows += [f"| − | {f.level} | {f.name} | {_cell(f.detail)} |" for f in report.advisors.resolved]
    return _details("Advisors: new and resolved findings", rows)


def _lint_details(report: PlanReport) -> list[str]:
    if not report.lint:
        return []
    rows = ["| level | where | rule | problem |", "|---|---|---|---|"]
    rows += [f"| {f.level} | `{f.file}:{f.line}` | {f.rule} | {_cell(f.message)} |" for f in report.lint]
    return _details(f"Lint: {len(report.lint)} finding(s)", rows)


def _size(size: Size) -> str:
    if size.new:
        return "new table"
    if size.rows is None and size.bytes is None:
        return "size unknown"
    rows = "rows unknown" if size.rows is None else f"~{_count(size.rows)} rows"
    return f"{rows}, {_bytes(size.bytes or 0)}"


def _count(n: int) -> str:
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= limit:
            return f"{n / limit:.1f}{suffix}"
    return str(n)


def _bytes(n: int) -> str:
    for limit, suffix in ((1024**3, "GB"), (1024**2, "MB"), (1024, "kB")):
        if n >= limit:
            return f"{n / limit:.1f} {suffix}"
    return f"{n} B"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    flat = flat.replace("|", "\\|")
    return f"`` {flat} ``" if "`" in flat else f"`{flat}`"
