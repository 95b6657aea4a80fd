"""The one error tree: every failure a user should read is a subclass of SupadeployError, defined here.

The task boundary prints any of them as `error: <one line>` and exits 1. Each class says what kind of
failure it is; those that carry data keep it as attributes for --json and reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class SupadeployError(Exception):
    """A failure reported to the user as one clear line, never as a traceback. Raise a subclass."""


# --- configuration and input -------------------------------------------------------------------


class ConfigError(SupadeployError):
    """An unknown environment, a missing or malformed variable or option, or a project that cannot be found."""


class ConfirmationRequired(SupadeployError):
    """A protected environment (or a destructive action) was targeted without confirmation."""


class MigrationFileError(SupadeployError):
    """Migration files that the Supabase CLI would skip or apply ambiguously."""

    def __init__(self, problems: list[str]) -> None:
        """Keep every problem; the message lists them on one line."""
        self.problems = problems
        super().__init__("; ".join(problems))


# --- tools the toolkit runs --------------------------------------------------------------------


class ToolNotFound(SupadeployError):
    """A program the toolkit runs (the Supabase CLI, pg_dump, pg_prove, squawk, PostgreSQL) is not installed."""

    def __init__(self, tool: str, *, looked: str, remedy: str) -> None:
        """Name the tool, where it was looked for, and how to install it."""
        self.tool = tool
        super().__init__(f"{tool} was not found ({looked}): {remedy}")


class ToolFailed(SupadeployError):
    """A program the toolkit runs (pg_dump, pg_restore, squawk) exited with an error."""


class CliError(ToolFailed):
    """The Supabase CLI exited with an error or printed something it should not."""


class PushFailed(CliError):
    """A migration failed while the CLI applied it; the report says what of the push is really left applied.

    `applied` is every file this push applied before the failure (across lock-timeout retries). The
    failing file was rolled back, unless it commits on its own (its own BEGIN/COMMIT): then `committed`
    names its statements that stay, though the CLI's history does not record the file. `outcome_unknown`:
    the CLI stopped (killed, crashed) with no answer from the server about the failing file, which it had
    sent whole: the server may still commit it, so nothing is claimed about it.
    """

    def __init__(
        self,
        *,
        file: str | None,
        statement: str | None,
        detail: str,
        applied: tuple[str, ...] = (),
        index: int | None = None,
        committed: tuple[str, ...] = (),
        outcome_unknown: bool = False,
    ) -> None:
        """Record the failing file, its statement (and its position), what was applied before, what stays of it."""
        self.file = file
        self.statement = statement
        self.detail = detail
        self.applied = applied
        self.index = index
        self.committed = committed
        self.outcome_unknown = outcome_unknown
        where = f"migration {file} failed" if file else "db push failed"
        message = f"{where}: {detail}"
        if statement:
            message += f" -- in statement: {statement}"
        if committed:
            message += (
                f"; {file} commits on its own, so {len(committed)} of its statements before the failure stay applied "
                f"although the history does not record it ({'; '.join(committed)})"
            )
        if file and outcome_unknown:
            message += (
                f"; the CLI stopped before the server answered, which may still commit {file}: "
                "`invoke db.status` tells what is applied"
            )
        if applied:
            message += f" (applied before the failure: {', '.join(applied)})"
        elif file and not committed and not outcome_unknown:
            message += " (nothing was applied)"
        super().__init__(message)

    def amended(self, *, earlier: tuple[str, ...] = (), committed: tuple[str, ...] | None = None) -> PushFailed:
        """The same failure, with files applied by earlier attempts of the push and what stays of the file."""
        return PushFailed(
            file=self.file,
            statement=self.statement,
            detail=self.detail,
            applied=(*earlier, *self.applied),
            index=self.index,
            committed=self.committed if committed is None else committed,
            outcome_unknown=self.outcome_unknown,
        )


# --- databases -----------------------------------------------------------------------------------


class DatabaseUnreachable(SupadeployError):
    """The database named by an environment does not answer."""

    def __init__(self, where: str, reason: str) -> None:
        """Name host:port and the driver's reason, never the password."""
        self.where = where
        self.reason = reason
        super().__init__(f"cannot reach the database at {where}: {reason}")

    @classmethod
    def lost(cls, where: str, reason: str, work: str) -> DatabaseUnreachable:
        """The database was reached, then its connection went away in the middle of the work."""
        found = cls(where, reason)
        found.args = (
            f"the connection to the database at {where} was lost during the {work}: {reason}; "
            "nothing is half-applied: run it again",
        )
        return found


class DatabaseError(SupadeployError):
    """A statement the toolkit ran was refused by the server; the SQLSTATE says why."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        """Keep the server's primary message and its SQLSTATE."""
        self.sqlstate = sqlstate
        super().__init__(f"{message} (SQLSTATE {sqlstate})" if sqlstate else message)


class LocalBackendError(SupadeployError):
    """The local Supabase (Docker) or the Docker-free cluster cannot be run."""


class LockTimeout(SupadeployError):
    """Another push, restore, repair or import held the target's lock for longer than we were willing to wait."""

    def __init__(self, where: str, seconds: float, *, holder: str = "push, restore, repair or import") -> None:
        """Name the target, what holds the lock, and the wait."""
        super().__init__(
            f"another {holder} has held the lock on {where} for more than {seconds:.0f}s: "
            "wait for it to finish, or raise SUPADEPLOY_LOCK_WAIT"
        )


# --- the push's gates ----------------------------------------------------------------------------


class ChecksumMismatch(SupadeployError):
    """An applied migration's file was edited after it was applied."""

    def __init__(self, env: str, files: list[str]) -> None:
        """Name the edited files and the two ways out."""
        self.files = files
        super().__init__(
            f"{', '.join(files)} changed after {'it was' if len(files) == 1 else 'they were'} applied to {env}: "
            "undo the edit and put the change in a new migration (invoke db.new), or accept the file as "
            "applied with `invoke db.repair --env " + env + " --version <version> --status applied`"
        )


class HistoryConflict(SupadeployError):
    """The target's applied history and the local files disagree (missing files, or files out of order)."""


class _Finding(Protocol):
    """What LintFailed needs of a lint finding."""

    @property
    def file(self) -> str: ...  # noqa: D102
    @property
    def line(self) -> int: ...  # noqa: D102
    @property
    def rule(self) -> str: ...  # noqa: D102
    @property
    def message(self) -> str: ...  # noqa: D102
    @property
    def level(self) -> str: ...  # noqa: D102


class LintFailed(SupadeployError):
    """Error-level findings in the files about to be pushed."""

    def __init__(self, findings: Sequence[_Finding]) -> None:
        """Summarise the errors on one line."""
        self.findings = tuple(findings)
        errors = [f for f in findings if f.level == "error"]
        first = errors[0]
        more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
        super().__init__(
            f"lint: {first.file}:{first.line} {first.rule}: {first.message}{more}; "
            "see `invoke db.lint`, or push with --skip-lint"
        )


class InvalidIndexLeft(SupadeployError):
    """An INVALID index that an earlier CREATE INDEX CONCURRENTLY left could not be dropped before the push."""


class DryRunFailed(SupadeployError):
    """The dry run found a pending file that would fail."""


# --- checks, backups, promotion, import ---------------------------------------------------------


class ChecksFailed(SupadeployError):
    """A check ran and found problems: lint errors, advisor findings, drift, failed pgTAP tests, unread histories."""


class BackupError(SupadeployError):
    """A backup cannot be made, verified or restored."""


class PromotionRefused(SupadeployError):
    """A promotion gate failed: nothing was changed on the target."""


class VerificationFailed(SupadeployError):
    """After a promotion's push, the target does not match the source."""


class StepReport(Protocol):
    """What the task needs of a promotion report."""

    def as_dict(self) -> dict[str, object]: ...  # noqa: D102
    def markdown(self) -> str: ...  # noqa: D102


class PromotionFailed(SupadeployError):
    """A promotion step after the gates failed; the report says which steps ran."""

    def __init__(self, message: str, report: StepReport) -> None:
        """Keep the report for --json and the step summary."""
        self.report = report
        super().__init__(message)


class FleetFailed(SupadeployError):
    """A fleet promotion ended with a target failed, refused or not started; the report says which."""

    def __init__(self, message: str, report: StepReport) -> None:
        """Keep the report for --json and the step summary."""
        self.report = report
        super().__init__(message)


class NovaImportError(SupadeployError):
    """The Nova source or the target is not what the import needs, or the import stopped."""


class GitHubError(SupadeployError):
    """The GitHub API refused or failed a request (the token is never part of the message)."""


class PgtapFailed(ChecksFailed):
    """The pgTAP suite ran and at least one test failed."""


class CopyUnavailable(SupadeployError):
    """No copy of the target could be made here; the reason says why."""
