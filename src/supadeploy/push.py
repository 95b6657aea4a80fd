"""db.push in one file: the plan, the limits, the gates in the order they run, and the push itself.

    pooler -> lock -> checksums -> history -> order -> lint -> leftovers -> `supabase db push` -> record checksums

Each gate reads and fills in one `_Push`; any gate raising stops the push with nothing applied. The
Supabase CLI needs about 0.4 s to start before its first query: once the lock gate has read the history
and found files pending, the CLI is started without --yes on a terminal of ours (supabase_cli.HeldPush),
so its start overlaps the remaining gates. It reads its history, lists the files it would apply and asks;
it changes nothing until answered. When every gate has passed it is answered yes if its list is exactly
the plan's pending files. Another list stops the push, nothing applied (the history changed meanwhile);
a CLI that did not ask as measured is stopped and a push with --yes runs instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg

from supadeploy import ledger
from supadeploy.database import AppliedMigration, applied_migrations, connect, push_lock
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment
from supadeploy.errors import (
    ConfigError,
    HistoryConflict,
    InvalidIndexLeft,
    LintFailed,
    MigrationFileError,
    PushFailed,
    SupadeployError,
)
from supadeploy.migrations import MigrationFile, discover, version_key
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import Project
from supadeploy.settings import DEFAULT_LOCK_RETRIES, DEFAULT_LOCK_TIMEOUT, Settings
from supadeploy.supabase_cli import CLI_APPLICATION_NAME, HeldPush, StartedPush, SupabaseCli

if TYPE_CHECKING:
    from supadeploy import index_builds
    from supadeploy.dry_run import FileCheck
    from supadeploy.lint import Finding
    from supadeploy.lock_waits import LockWatch, Session

TRANSACTION_POOLER_PORT = 6543


@dataclass(frozen=True)
class PushPlan:
    """What a push would do, computed before the CLI is run."""

    env: str
    pending: tuple[MigrationFile, ...]
    out_of_order: tuple[MigrationFile, ...]
    remote_only: tuple[str, ...]


def plan_push(files: Sequence[MigrationFile], applied: Sequence[AppliedMigration], env: str) -> PushPlan:
    """Pending files, those older than the newest applied one, and versions the files no longer have."""
    done = {m.version for m in applied}
    local = {f.version for f in files}
    newest = max((version_key(v) for v in done), default=None)
    pending = tuple(f for f in files if f.version not in done)
    out_of_order = tuple(f for f in pending if newest is not None and version_key(f.version) < newest)
    remote_only = tuple(sorted(done - local, key=version_key))
    return PushPlan(env, pending, out_of_order, remote_only)


@dataclass(frozen=True)
class Limits:
    """How a push behaves on a target: lock wait, timeouts on the CLI's connection, retries and their backoff.

    A statement waiting for a lock queues every later query on its table behind it, so on protected targets
    the wait is cut short (lock_timeout, 500 ms by default) and retried: `backoff` seconds before the first
    retry, doubling up to `backoff_cap`, each wait jittered (see retry_delays).
    """

    lock_wait: float = 600.0
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    statement_timeout: str = "15min"
    retries: int = DEFAULT_LOCK_RETRIES
    backoff: float = 0.5
    backoff_cap: float = 30.0

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """From SUPADEPLOY_LOCK_WAIT, _LOCK_TIMEOUT, _STATEMENT_TIMEOUT and _LOCK_RETRIES (parsed in Settings)."""
        return cls(
            lock_wait=settings.lock_wait,
            lock_timeout=settings.lock_timeout,
            statement_timeout=settings.statement_timeout,
            retries=settings.lock_retries,
        )

    def session_settings(self, *, protected: bool) -> dict[str, str] | None:
        """Timeouts for the CLI's connection: protected environments only."""
        if not protected:
            return None
        return {"lock_timeout": self.lock_timeout, "statement_timeout": self.statement_timeout}

    def retry_delays(self, rand: Callable[[], float] = random.random) -> tuple[float, ...]:
        """The wait before each retry: `backoff` doubling up to `backoff_cap`, then between half of that and all of it.

        The random half keeps pushes that one long transaction blocked together (a fleet, several CI jobs) from
        coming back in step; the fixed half keeps the waits growing. rand() returns a number in [0, 1).
        """
        ceilings = (min(self.backoff_cap, self.backoff * 2.0**n) for n in range(self.retries))
        return tuple(ceiling / 2 * (1 + rand()) for ceiling in ceilings)


@dataclass(frozen=True)
class PushResult:
    """What a push did (or, in a dry run, would do), and the lint warnings on what it pushed."""

    plan: PushPlan
    applied: tuple[str, ...]
    warnings: tuple[Finding, ...] = ()
    validation: tuple[FileCheck, ...] = ()


@dataclass
class _Push:
    """One push as the gates see it: what they read, and what they found."""

    project: Project
    env: Environment
    cli: SupabaseCli
    files: list[MigrationFile]
    limits: Limits
    write: bool  # False in a dry run: no lock, nothing recorded
    include_all: bool
    include_seed: bool
    lint: bool
    whole: ExitStack  # lives as long as the push: the push lock
    gates: ExitStack  # lives as long as the gates: their transaction, or the dry run's connection
    conn: psycopg.Connection | None = None
    applied: list[AppliedMigration] = field(default_factory=list)
    held: HeldPush | None = None  # the CLI started during the gates, asking
    watch: LockWatch | None = None  # protected targets: who blocks the CLI
    warnings: tuple[Finding, ...] = ()
    on_line: LineSink = discard
    invalid_before: frozenset[int] = frozenset()  # INVALID indexes there before the push: never ours to drop
    read: dict[str, str] = field(default_factory=dict)  # SHA-256 of each pending file as the gates began to read

    @property
    def connection(self) -> psycopg.Connection:
        """The connection the gates read through (the lock's, or the dry run's)."""
        assert self.conn is not None, "the lock gate runs first"
        return self.conn

    @property
    def plan(self) -> PushPlan:
        """Pending, out-of-order and remote-only versions."""
        return plan_push(self.files, self.applied, self.env.name)


Gate = Callable[[_Push], None]


def refuse_transaction_pooler(url: DbUrl) -> None:
    """Refuse Supabase's transaction-mode pooler: session advisory locks and DDL need a real session."""
    if TRANSACTION_POOLER_PORT in url.ports:
        raise ConfigError(
            f"{url.where} is a transaction-mode pooler (port {TRANSACTION_POOLER_PORT}), which cannot hold the "
            "push lock: use the session-mode pooler on port 5432 of the same host, or the direct connection "
            "db.<project-ref>.supabase.co:5432"
        )


def pooler(run: _Push) -> None:
    """Gate 1: a real session, not the transaction-mode pooler."""
    refuse_transaction_pooler(run.env.url)


def lock(run: _Push) -> None:
    """Gate 2: hold the target's push lock (a dry run only connects), then read the history under it."""
    if run.write:
        conn = run.whole.enter_context(push_lock(run.env.url, wait_seconds=run.limits.lock_wait))
        run.gates.enter_context(conn.transaction())
    else:
        conn = run.gates.enter_context(connect(run.env.url))
    run.conn = conn
    run.applied = applied_migrations(conn)
    _start_cli_early(run)
    if run.write:
        run.read = {f.filename: f.sha256() for f in run.plan.pending}


def checksums(run: _Push) -> None:
    """Gate 3: every applied file unchanged since it was applied (backfilling the ledger from the CLI's record)."""
    conn = run.connection
    if run.write:
        ledger.ensure(conn)
    verification = ledger.verify(conn if run.write else None, run.files, run.applied, ledger.checksums(conn))
    ledger.refuse_changed(run.env.name, verification)


def history(run: _Push) -> None:
    """Gate 4: no version applied on the target without a local file."""
    remote_only = run.plan.remote_only
    if remote_only:
        raise HistoryConflict(
            f"{run.env.name} has applied versions with no local file: {', '.join(remote_only)}; "
            "pull the missing files or mark them reverted with `invoke db.repair`"
        )


def order(run: _Push) -> None:
    """Gate 5: no pending file older than the newest applied one, unless --include-all."""
    late = run.plan.out_of_order
    if late and not run.include_all:
        names = ", ".join(f.filename for f in late)
        raise HistoryConflict(
            f"{names} {'is' if len(late) == 1 else 'are'} older than the newest migration "
            f"applied on {run.env.name}; rename to a newer version, or pass --include-all to apply out of order"
        )


def lint(run: _Push) -> None:
    """Gate 6: no error-level lint finding in the pending files (warnings are kept for the report)."""
    pending = run.plan.pending
    if not run.lint or not pending:
        return
    from supadeploy import lint as migration_lint  # pglast: only pushes that lint pay for it

    findings = migration_lint.lint(run.project, [f.path for f in pending])
    if migration_lint.errors(findings):
        raise LintFailed(findings)
    run.warnings = tuple(findings)


def leftover_indexes(run: _Push) -> None:
    """Gate 7: drop the INVALID index an earlier failed CONCURRENTLY build of a pending file left (not in a dry run).

    Left there, the build would fail on its name, or with IF NOT EXISTS keep the broken index. The INVALID
    indexes on those tables that remain are noted, so that a failure of this push drops only what it left.
    """
    if not run.write:
        return
    builds = [f for f in run.plan.pending if "concurrently" in f.path.read_text().lower()]
    if not builds:
        return
    from supadeploy import index_builds

    shapes = [index_builds.file_shape(f.path.read_text()) for f in builds]
    leftovers = [i for shape in shapes for i in index_builds.named_leftovers(run.connection, shape)]
    for dropped in index_builds.drop(run.env.url, leftovers, lock_timeout=run.limits.lock_timeout):
        if not dropped.ok:
            raise InvalidIndexLeft(f"{run.env.name}: {dropped.describe('an earlier failed build')}; nothing was pushed")
        run.on_line(dropped.describe("an earlier failed build"))
    tables = [table for shape in shapes for table in shape.tables]
    run.invalid_before = frozenset(i.oid for i in index_builds.invalid_indexes(run.connection, tables))


# The gates, in the order they run.
GATES: tuple[Gate, ...] = (pooler, lock, checksums, history, order, lint, leftover_indexes)


def _start_cli_early(run: _Push) -> None:
    """Start the CLI, asking, while the gates after the lock run (a dry run and a seeding push wait for them)."""
    if not run.write or run.include_seed or not run.plan.pending:
        return
    settings = run.limits.session_settings(protected=run.env.protected)
    _watch_locks(run)  # it names the CLI's sessions opened after it began
    run.held = run.cli.hold_push(run.env.url, include_all=run.include_all, session_settings=settings)
    if run.held is not None:
        run.whole.callback(run.held.kill)  # a no-op once it has finished; it never outlives the push


def push(
    project: Project,
    env: Environment,
    cli: SupabaseCli,
    *,
    dry_run: bool = False,
    include_all: bool = False,
    include_seed: bool = False,
    lint: bool = True,
    limits: Limits | None = None,
    on_line: LineSink = discard,
) -> PushResult:
    """Run every gate, then `supabase db push`, then record the checksums of what it applied.

    On protected targets the CLI's connection gets timeouts, and a lock timeout is retried with backoff.
    A dry run validates the pending files instead of pushing them.
    """
    files = discover(project.migrations_dir)
    limits = limits or Limits.of(env.settings)
    with ExitStack() as whole:
        with ExitStack() as gates:
            run = _Push(project, env, cli, files, limits, not dry_run, include_all, include_seed, lint, whole, gates)
            run.on_line = on_line
            for gate in GATES:
                gate(run)
        plan = run.plan
        if dry_run:
            from supadeploy.dry_run import validate

            checks = tuple(validate(project, env, cli, plan.pending, on_line=on_line)) if plan.pending else ()
            return PushResult(plan, (), run.warnings, checks)
        if not plan.pending and not include_seed:
            return PushResult(plan, ())
        try:
            applied_files = _cli_push(run, on_line)
        except PushFailed as failure:
            _record_what_applied(run, failure)
            raise what_stays(failure, run.files) from None
        _record_applied(run)
    return PushResult(plan, applied_files, run.warnings)


def _record_applied(run: _Push) -> None:
    """Record the checksums of the pending files the history now holds."""
    conn = run.connection
    now_applied = {m.version for m in applied_migrations(conn)}
    ledger.record(conn, [f for f in run.plan.pending if f.version in now_applied], "push")


def _record_what_applied(run: _Push, failure: PushFailed) -> None:
    """After a failure, record what the push applied before it, if the connection still can.

    Otherwise the next push backfills them from the CLI's recorded statements.
    """
    if not failure.applied:
        return
    try:
        _record_applied(run)
    except (psycopg.Error, SupadeployError):
        pass


def _cli_push(run: _Push, on_line: LineSink) -> tuple[str, ...]:
    """The CLI push: the one started during the gates first, then fresh runs while a lock timeout is retried.

    After a failure, the INVALID index a failed CONCURRENTLY build left is dropped (tried again before a retry
    while its table is busy), and on protected targets the sessions that blocked the CLI are named.
    """
    made: list[index_builds.Cleanup] = []  # at the first failure: a push that succeeds never loads what it needs

    def cleanup() -> index_builds.Cleanup:
        if not made:
            from supadeploy import index_builds

            folder, timeout = run.project.migrations_dir, run.limits.lock_timeout
            made.append(index_builds.Cleanup(run.env.url, folder, lock_timeout=timeout, known=run.invalid_before))
        return made[0]

    watch = _watch_locks(run)

    def attempt(number: int) -> tuple[str, ...]:
        if number > 0:
            cleanup().before_retry()
        try:
            if number == 0 and run.held is not None and (started := _answer(run)) is not None:
                return started.finish(on_line)
            outcome = "nothing was applied" if number == 0 else "nothing more was applied"
            _refuse_unchecked(run, outcome)
            _refuse_edited(run, outcome)
            return run.cli.push(
                run.env.url,
                include_all=run.include_all,
                include_seed=run.include_seed,
                on_line=on_line,
                session_settings=run.limits.session_settings(protected=run.env.protected),
            )
        except PushFailed as failure:
            raise _after_failure(cleanup(), failure, watch.take() if watch else [], on_line) from None

    return retry_lock_timeouts(attempt, run.limits, on_line, resumable=lambda _failure: cleanup().resumable)


def _watch_locks(run: _Push) -> LockWatch | None:
    """On protected targets, the watch over who blocks the CLI, from before its first start to the push's end.

    Only there has the CLI a lock_timeout whose failure needs explaining.
    """
    if run.env.protected and run.watch is None:
        from supadeploy import lock_waits

        run.watch = run.whole.enter_context(lock_waits.LockWatch(run.env.url, CLI_APPLICATION_NAME))
    return run.watch


def _answer(run: _Push) -> StartedPush | None:
    """Answer the CLI started during the gates: yes if it asks to apply exactly the plan's pending files.

    A CLI that ended or asked otherwise than measured is stopped (None: a push with --yes runs instead).
    Another list means the history changed after the lock gate read it: nothing is applied.
    """
    assert run.held is not None
    pending = tuple(f.filename for f in run.plan.pending)
    listed = run.held.asks()
    if listed == pending:
        _refuse_edited(run, "nothing was applied")
        return run.held.confirm()
    run.held.kill()
    if listed is None:
        return None
    raise HistoryConflict(
        f"the history of {run.env.name} changed while the gates ran: the Supabase CLI would apply "
        f"{', '.join(listed) or 'nothing'}, the gates checked {', '.join(pending)}; nothing was applied, "
        "run the push again"
    )


def _refuse_unchecked(run: _Push, outcome: str) -> None:
    """Before a push with --yes, which lists nothing to compare: the history read again has only planned files pending.

    The CLI reads its history anew: had it changed since the lock gate read it (a version marked reverted by
    someone else), the CLI would apply a file no gate of this push checked.
    """
    planned = {f.filename for f in run.plan.pending}
    now = plan_push(run.files, applied_migrations(run.connection), run.env.name).pending
    unchecked = [f.filename for f in now if f.filename not in planned]
    if unchecked:
        raise HistoryConflict(
            f"the history of {run.env.name} changed while the gates ran: the Supabase CLI would apply "
            f"{', '.join(unchecked)}, which the gates did not check; {outcome}, run the push again"
        )


def _refuse_edited(run: _Push, outcome: str) -> None:
    """Just before the CLI reads the pending files (it does once answered): each holds the bytes the gates read."""
    edited = [f.filename for f in run.plan.pending if run.read.get(f.filename) != _sha256(f)]
    if edited:
        raise MigrationFileError(
            [f"{name} changed while the gates ran; {outcome}, run the push again" for name in edited]
        )


def _sha256(file: MigrationFile) -> str | None:
    """The file's SHA-256, None once it cannot be read (removed, say)."""
    try:
        return file.sha256()
    except OSError:
        return None


def _after_failure(
    cleanup: index_builds.Cleanup, failure: PushFailed, blockers: Sequence[Session], on_line: LineSink
) -> PushFailed:
    """The failure as reported: what the cleanup found and did, and who blocked the CLI."""
    return cleanup.after_failure(failure, blockers, on_line)


def retry_lock_timeouts(
    attempt: Callable[[int], tuple[str, ...]],
    limits: Limits,
    on_line: LineSink = discard,
    sleep: Callable[[float], None] = time.sleep,
    *,
    rand: Callable[[], float] = random.random,
    resumable: Callable[[PushFailed], bool] = lambda _failure: True,
) -> tuple[str, ...]:
    """Run attempt(0), attempt(1), ... while an attempt fails on a lock timeout (SQLSTATE 55P03).

    At most limits.retries retries, waiting limits.retry_delays() between them, and only while
    resumable(failure) says the failed file can be run again from its start; returns every file applied,
    and a failure names every file the push applied, whichever attempt applied it.
    """
    delays = limits.retry_delays(rand)
    applied: list[str] = []
    number = 0
    while True:
        try:
            return (*applied, *attempt(number))
        except PushFailed as failure:
            if "55P03" not in failure.detail or number >= limits.retries or not resumable(failure):
                raise failure.amended(earlier=tuple(applied)) from None  # the report covers the whole push
            applied += failure.applied
            wait = delays[number]
            number += 1
            on_line(f"lock timeout in {failure.file}: retry {number}/{limits.retries} in {wait:.1f}s")
            sleep(wait)


# --- what a failing file leaves behind -------------------------------------------------------------

_TRANSACTION_KINDS = {
    "TRANS_STMT_BEGIN": "begin",
    "TRANS_STMT_START": "begin",
    "TRANS_STMT_COMMIT": "commit",
    "TRANS_STMT_ROLLBACK": "rollback",
    "TRANS_STMT_SAVEPOINT": "savepoint",
    "TRANS_STMT_ROLLBACK_TO": "rollback_to",
}


def committed_statements(
    kinds: Sequence[tuple[str, str] | None], failing: int, *, one_by_one: bool = False
) -> list[int]:
    """The positions of the statements before `failing` that stay committed after the file fails.

    `kinds[i]` is None for an ordinary statement, else its transaction control: (begin|commit|rollback|
    savepoint|rollback_to, savepoint name), or ("own", "") for a statement that cannot run in a transaction
    (CREATE INDEX CONCURRENTLY, VACUUM...). How the Supabase CLI 3.1.0 runs a file, as seen on PostgreSQL
    15: its statements share one transaction, so without transaction control nothing stays; before a
    statement of its own it commits what came before, runs it alone, then goes on in a new transaction.
    The file's first BEGIN, COMMIT or ROLLBACK commits what came before it; from then on (and from the
    start in a file that asks to run one by one) a statement outside the file's own BEGIN ... COMMIT
    commits by itself, one inside it at COMMIT, and the failure or a ROLLBACK undoes the block it is in
    (ROLLBACK TO a savepoint, what followed the savepoint).
    """
    committed: list[int] = []
    pending: list[int] = []
    savepoints: dict[str, int] = {}
    state = "auto" if one_by_one else "implicit"  # the CLI's own transaction; "explicit": the file's BEGIN
    for position, kind in enumerate(kinds[:failing]):
        control, name = kind if kind is not None else (None, "")
        if control == "own" and state == "implicit":
            committed += [*pending, position]
            pending = []
        elif control in (None, "own") or (state != "explicit" and control in ("savepoint", "rollback_to")):
            (committed if state == "auto" else pending).append(position)
        elif state == "implicit":
            committed += pending
            pending = []
            state = "explicit" if control == "begin" else "auto"
        elif state == "auto":
            state = "explicit" if control == "begin" else "auto"
        elif control == "commit":
            committed += pending
            pending, state = [], "auto"
        elif control == "rollback":
            pending, state = [], "auto"
        elif control == "savepoint":
            savepoints[name] = len(pending)
        elif control == "rollback_to":
            pending = pending[: savepoints.get(name, len(pending))]
    return committed


def what_stays(failure: PushFailed, files: Sequence[MigrationFile]) -> PushFailed:
    """The failure, naming the statements of the failing file that stay committed when the CLI ran it in parts."""
    failing = next((f for f in files if f.filename == failure.file), None)
    if failing is None or failure.index is None:
        return failure
    from supadeploy import sql_tree  # pglast: only a failed push pays for it
    from supadeploy.index_builds import runs_on_its_own, runs_one_by_one

    try:
        text = failing.text()
        offsets = sql_tree.Offsets(text)
        statements = sql_tree.parse(text, offsets)
    except (sql_tree.ParseError, MigrationFileError):
        return failure
    kinds: list[tuple[str, str] | None] = []
    for statement in statements:
        control = statement.node.get("TransactionStmt")
        kind = _TRANSACTION_KINDS.get(control.get("kind", "")) if control is not None else None
        if kind is None and runs_on_its_own(statement.node):
            kind = "own"
        kinds.append(None if kind is None else (kind, str(control.get("savepoint_name", "")) if control else ""))
    stays = committed_statements(kinds, failure.index, one_by_one=runs_one_by_one(text))
    if not stays:
        return failure
    from supadeploy.lint import first_token

    described = []
    for position in stays:
        start = first_token(text, statements[position].start, statements[position].end)
        first = " ".join(text[start : statements[position].end].split())
        described.append(f"line {offsets.line(start)}: {first[:60]}")
    return failure.amended(committed=tuple(described))


def pending_files(project: Project, env: Environment | None) -> list[MigrationFile]:
    """Every migration file, or only those not yet applied on `env` (what db.lint --env lints)."""
    files = discover(project.migrations_dir)
    if env is None:
        return files
    with connect(env.url) as conn:
        applied = applied_migrations(conn)
    return list(plan_push(files, applied, env.name).pending)
