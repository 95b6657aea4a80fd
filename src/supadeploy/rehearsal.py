"""The pending files applied to a copy of the target, never to the target itself.

Does each file apply, how long does it take, and what does it change for clients (exposure, advisors, pgTAP)?

`rehearse()` works on any database that holds the target's applied history. `rehearsal_database()` is the one
place that chooses it: a template clone of an idle local target, else a scratch database rebuilt from the
target's history (`scratch.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from supadeploy import advisors as advisor_checks
from supadeploy import advisors_replay, exposure, pgtap, scratch
from supadeploy.advisors_replay import Session
from supadeploy.database import connect, server_version
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment
from supadeploy.errors import CopyUnavailable, PgtapFailed, SupadeployError
from supadeploy.migrations import MigrationFile
from supadeploy.plan_report import AdvisorsDelta, FileApply, PgtapResult, advisors_delta
from supadeploy.project import STATE_DIR, Project
from supadeploy.supabase_cli import LineSink, SupabaseCli, discard


@dataclass(frozen=True)
class Rehearsal:
    """What applying the pending files to a copy showed. A section that did not run is None, with its reason."""

    applies: tuple[FileApply, ...]
    exposure: tuple[exposure.ExposureChange, ...] | None = None
    advisors: AdvisorsDelta | None = None
    pgtap: PgtapResult | None = None
    not_run: Mapping[str, str] = field(default_factory=dict)


@contextmanager
def rehearsal_database(project: Project, env: Environment, cli: SupabaseCli) -> Iterator[tuple[DbUrl, str]]:
    """The database a plan rehearses on, holding the target's applied history, and where it was made.

    The one place that chooses it, as the dry run does: a template clone of an idle, unprotected target
    on this machine (exact and fast); otherwise a scratch database rebuilt from the target's applied
    history by the real CLI on this runner. Either way the target is only read, and the copy is dropped.
    """
    with ExitStack() as stack:
        if not env.protected:
            try:
                copy = stack.enter_context(scratch.template_clone(env))
            except CopyUnavailable:
                pass  # busy, remote, or not ours to copy
            else:
                yield copy, f"a copy of {env.name} made on this machine"
                return
        rebuilt = stack.enter_context(scratch.history_copy(project, env, cli))
        yield rebuilt.url, f"a scratch database rebuilt from {env.name}'s history on this runner"


def rehearse(
    project: Project,
    cli: SupabaseCli,
    copy: DbUrl,
    pending: Sequence[MigrationFile],
    *,
    schemas: Sequence[str],
    on_line: LineSink = discard,
) -> Rehearsal:
    """Snapshot, advisors, push the pending files with the real CLI (timed per file), snapshot, advisors, pgTAP.

    The CLI needs a second or so to start: the advisors' CLI and the push's CLI start together, the push held
    at a loopback relay until the advisors have read the copy as it was. The "after" advisors replay what
    that run sent (advisors_replay): a tenth of a CLI run. When an earlier plan kept that session (same CLI,
    server, role and exposed schemas), the "before" is a replay too and no advisors CLI starts at all.
    """
    not_run: dict[str, str] = {}
    with connect(copy) as conn:
        before = exposure.snapshot(conn, schemas)
        key = advisors_replay.cache_key(
            cli_version=cli.version, server_version=server_version(conn), user=copy.user, schemas=schemas
        )
    folder = project.root / STATE_DIR / "cache"
    kept = advisors_replay.cached(folder, key)
    read = threading.Event()
    with ThreadPoolExecutor(max_workers=2) as pool:
        advisors_before: Future[tuple[list[advisor_checks.Finding] | str, Session | None]] = Future()
        if kept is not None:
            advisors_before.set_result(_replayed(kept, copy, folder, key))
        if advisors_before.done() and advisors_before.result()[1] is not None:
            applies = _push(cli, copy, pending, on_line)
        else:
            advisors_before = pool.submit(_advisors_recorded, cli, copy, read, folder, key)
            try:
                with advisors_replay.relay(copy, record=False, gate=read) as held:
                    applies = _push(cli, held.url, pending, on_line)
            finally:
                read.set()
        if any(a.ok is not True for a in applies):
            reason = "a pending file does not apply"
            return Rehearsal(applies, not_run={"exposure": reason, "advisors": reason, "pgtap": reason})
        with connect(copy) as conn:
            changes = tuple(exposure.delta(before, exposure.snapshot(conn, schemas)))
        # pgTAP rolls its writes back, so the advisors can read the same copy meanwhile.
        advisors_after = pool.submit(_advisors_after, cli, copy, advisors_before)
        pgtap = _pgtap(project, copy, not_run, on_line)
        found: AdvisorsDelta | None = None
        (old, _session), new = advisors_before.result(), advisors_after.result()
        if isinstance(old, str) or isinstance(new, str):
            not_run["advisors"] = old if isinstance(old, str) else str(new)
        else:
            found = advisors_delta(old, new)
    return Rehearsal(applies, changes, found, pgtap, not_run)


def _push(cli: SupabaseCli, copy: DbUrl, pending: Sequence[MigrationFile], on_line: LineSink) -> tuple[FileApply, ...]:
    """`supabase db push` to the copy; each file's time runs from its `Applying migration` line to the next."""
    return tuple(
        FileApply(r.filename, r.ok, r.reason, r.seconds)
        for r in scratch.apply_files(cli, copy, pending, on_line=on_line)
    )


def _advisors(cli: SupabaseCli, url: DbUrl) -> list[advisor_checks.Finding] | str:
    """The findings, or why the advisors could not run."""
    try:
        return advisor_checks.advisors(cli, _scratch(url))
    except SupadeployError as exc:
        return str(exc)


def _replayed(
    session: Session, url: DbUrl, folder: Path, key: str
) -> tuple[list[advisor_checks.Finding] | str, Session | None]:
    """A kept session replayed on url; (why not, None) when it no longer replays, and it is forgotten."""
    try:
        return advisors_replay.replay(session, url), session
    except (psycopg.Error, SupadeployError) as exc:
        advisors_replay.forget(folder, key)
        return str(exc), None


def _advisors_recorded(
    cli: SupabaseCli, url: DbUrl, done: threading.Event, folder: Path, key: str
) -> tuple[list[advisor_checks.Finding] | str, Session | None]:
    """The CLI's advisors on url through a recording relay: the findings (or why not) and what the CLI sent.

    The session is kept for later plans when it can be replayed. Sets `done` once the advisors have read
    the database, whatever happened.
    """
    try:
        try:
            # The push may go on as soon as the advisors' connection ends, before their CLI has printed.
            with advisors_replay.relay(url, finished=done) as recorder:
                found = _advisors(cli, recorder.url)
        except OSError:
            return _advisors(cli, url), None
        if isinstance(found, str):  # the relay may be what failed: ask the CLI directly before giving up
            return _advisors(cli, url), None
        advisors_replay.keep(folder, key, recorder.session)
        return found, recorder.session
    finally:
        done.set()


def _advisors_after(
    cli: SupabaseCli, url: DbUrl, before: Future[tuple[list[advisor_checks.Finding] | str, Session | None]]
) -> list[advisor_checks.Finding] | str:
    """The advisors on url: the "before" run's statements replayed when they could be read, else the CLI again."""
    _found, session = before.result()
    if session is not None and session.replayable:
        try:
            return advisors_replay.replay(session, url)
        except (psycopg.Error, SupadeployError):
            pass
    return _advisors(cli, url)


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
