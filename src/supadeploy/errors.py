"""The one error hierarchy: every failure a user should read is a SupadeployError."""

from __future__ import annotations


class SupadeployError(Exception):
    """A failure reported to the user as one clear line, never as a traceback."""


class ConfigError(SupadeployError):
    """An unknown environment, a missing variable, or a project that cannot be found."""


class ConfirmationRequired(SupadeployError):
    """A protected environment was targeted without confirmation."""


class MigrationFileError(SupadeployError):
    """Migration files that the Supabase CLI would skip or apply ambiguously."""

    def __init__(self, problems: list[str]) -> None:
        """Keep every problem; the message lists them on one line."""
        self.problems = problems
        super().__init__("; ".join(problems))


class CliError(SupadeployError):
    """The Supabase CLI is missing or exited with an error."""


class PushFailed(CliError):
    """A migration failed while the CLI applied it; that file was rolled back."""

    def __init__(
        self,
        *,
        file: str | None,
        statement: str | None,
        detail: str,
        applied: tuple[str, ...] = (),
    ) -> None:
        """Record the failing file, its statement and what was applied before it."""
        self.file = file
        self.statement = statement
        self.detail = detail
        self.applied = applied
        where = f"migration {file} failed" if file else "db push failed"
        message = f"{where}: {detail}"
        if statement:
            message += f" -- in statement: {statement}"
        if applied:
            message += f" (applied before the failure: {', '.join(applied)})"
        elif file:
            message += " (nothing was applied)"
        super().__init__(message)


class DatabaseUnreachable(SupadeployError):
    """The database named by an environment does not answer."""

    def __init__(self, where: str, reason: str) -> None:
        """Name host:port and the driver's reason, never the password."""
        self.where = where
        self.reason = reason
        super().__init__(f"cannot reach the database at {where}: {reason}")


class LocalBackendError(SupadeployError):
    """The local Supabase (Docker) or the Docker-free cluster cannot be run."""


class LockTimeout(SupadeployError):
    """Another push held the target's lock for longer than we were willing to wait."""

    def __init__(self, where: str, seconds: float) -> None:
        """Name the target and the wait."""
        super().__init__(
            f"another push has held the lock on {where} for more than {seconds:.0f}s: "
            "wait for it to finish, or raise --lock-wait"
        )


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


class GitHubError(SupadeployError):
    """The GitHub API refused or failed a request (the token is never part of the message)."""


class PgtapFailed(SupadeployError):
    """The pgTAP suite ran and at least one test failed."""
