"""The pending files applied to a copy of the target, never to the target itself.

Does each file apply, how long does it take, and what does it change for clients (exposure, advisors, pgTAP)?

`rehearse()` works on any database that holds the target's applied history. `template_copy()` makes one for a
target on this machine (CREATE DATABASE ... TEMPLATE); a scratch database rebuilt from a remote target's history
plugs in the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from supadeploy import advisors as advisor_checks
from supadeploy import exposure, pgtap
from supadeploy.database import connect
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment
from supadeploy.errors import CopyUnavailable, PgtapFailed, PushFailed, SupadeployError
from supadeploy.migrations import MigrationFile
from supadeploy.plan_report import AdvisorsDelta, FileApply, PgtapResult, advisors_delta
from supadeploy.project import Project
from supadeploy.supabase_cli import LineSink, SupabaseCli, applying_file, discard


@dataclass(frozen=True)
class Rehearsal:
    """What applying the pending files to a copy showed. A section that did not run is None, with its reason."""

    applies: tuple[FileApply, ...]
    exposure: tuple[exposure.ExposureChange, ...] | None = None
    advisors: AdvisorsDelta | None = None
    pgtap: PgtapResult | None = None
    not_run: Mapping[str, str] = field(default_factory=dict)


@contextmanager
def template_copy(env: Environment, suffix: str = "") -> Iterator[DbUrl]:
    """A copy of a target on this machine (CREATE DATABASE ... TEMPLATE), dropped afterwards."""
    if not env.url.is_loopback:
        raise CopyUnavailable(
            f"{env.name} is not on this machine, and a scratch copy of its history is not built yet: "
            "the target itself is never changed"
        )
    name = f"supadeploy_plan_{os.getpid()}{suffix}"
    try:
        with connect(env.url.maintenance) as admin:
            admin.execute(
                sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(env.url.dbname))
            )
    except psycopg.Error as exc:
        reason = (exc.diag.message_primary or str(exc)).splitlines()[0]
        raise CopyUnavailable(f"cannot copy {env.name} ({reason})") from None
    try:
        yield env.url.with_dbname(name)
    finally:
        with connect(env.url.maintenance) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def rehearse(
    project: Project,
    cli: SupabaseCli,
    copy: DbUrl,
    pending: Sequence[MigrationFile],
    *,
    schemas: Sequence[str],
    baseline: DbUrl | None = None,
    on_line: LineSink = discard,
) -> Rehearsal:
    """Snapshot, push the pending files with the real CLI (timed per file), snapshot, advisors and pgTAP.

    The advisors' "before" runs on `baseline` (a second copy, untouched) while the files are pushed, or on
    `copy` before the push when there is no baseline: the CLI's advisors take seconds, this hides one run.
    """
    not_run: dict[str, str] = {}
    with connect(copy) as conn:
        before = exposure.snapshot(conn, schemas)
    with ThreadPoolExecutor(max_workers=2) as pool:
        if baseline is not None:
            advisors_before = pool.submit(_advisors, cli, baseline)
        else:
            advisors_before = Future()
            advisors_before.set_result(_advisors(cli, copy))
        applies = _push(cli, copy, pending, on_line)
        if any(a.ok is not True for a in applies):
            reason = "a pending file does not apply"
            return Rehearsal(applies, not_run={"exposure": reason, "advisors": reason, "pgtap": reason})
        with connect(copy) as conn:
            changes = tuple(exposure.delta(before, exposure.snapshot(conn, schemas)))
        # pgTAP rolls its writes back, so the advisors can read the same copy meanwhile.
        advisors_after = pool.submit(_advisors, cli, copy)
        pgtap = _pgtap(project, copy, not_run, on_line)
        found: AdvisorsDelta | None = None
        old, new = advisors_before.result(), advisors_after.result()
        if isinstance(old, str) or isinstance(new, str):
            not_run["advisors"] = old if isinstance(old, str) else str(new)
        else:
            found = advisors_delta(old, new)
    return Rehearsal(applies, changes, found, pgtap, not_run)


def _push(cli: SupabaseCli, copy: DbUrl, pending: Sequence[MigrationFile], on_line: LineSink) -> tuple[FileApply, ...]:
    """`supabase db push` to the copy; each file's time runs from its `Applying migration` line to the next."""
    started: dict[str, float] = {}

    def timed(line: str) -> None:
        name = applying_file(line)
        if name is not None:
            started[name] = time.monotonic()
        on_line(line)

    failure: PushFailed | None = None
    try:
        cli.push(copy, include_all=True, on_line=timed)
    except PushFailed as exc:
        failure = exc
    ended = time.monotonic()
    order = sorted(started, key=started.__getitem__)
    seconds = {
        name: (started[order[i + 1]] if i + 1 < len(order) else ended) - started[name] for i, name in enumerate(order)
    }
    applies = []
    for file in pending:
        took = seconds.get(file.filename)
        if failure is not None and file.filename == failure.file:
            where = f" in statement {failure.statement}" if failure.statement else ""
            applies.append(FileApply(file.filename, ok=False, reason=f"{failure.detail}{where}", seconds=took))
        elif file.filename in started and (failure is None or file.filename in failure.applied):
            applies.append(FileApply(file.filename, ok=True, reason="applies cleanly", seconds=took))
        else:
            reason = "not tried: an earlier file fails" if failure is not None else "the CLI did not apply it"
            applies.append(FileApply(file.filename, ok=None if failure is not None else False, reason=reason))
    return tuple(applies)


def _advisors(cli: SupabaseCli, url: DbUrl) -> list[advisor_checks.Finding] | str:
    """The findings, or why the advisors could not run."""
    try:
        return advisor_checks.advisors(cli, _scratch(url))
    except SupadeployError as exc:
        return str(exc)


def _scratch(url: DbUrl) -> Environment:
    return Environment.for_url("rehearsal", url, source="db.plan")


def _pgtap(project: Project, url: DbUrl, not_run: dict[str, str], on_line: LineSink) -> PgtapResult | None:
    scratch = _scratch(url)
    if not (project.root / pgtap.TESTS_DIR).is_dir():
        not_run["pgtap"] = f"no pgTAP tests in {pgtap.TESTS_DIR}"
        return None
    try:
        pgtap.pgtap(project, scratch, on_line=on_line)
    except PgtapFailed as exc:
        return PgtapResult(passed=False, summary=str(exc))
    except SupadeployError as exc:
        not_run["pgtap"] = str(exc)
        return None
    return PgtapResult(passed=True, summary="all tests passed")
