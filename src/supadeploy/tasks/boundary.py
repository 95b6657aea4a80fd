"""Where library errors become one-line exits, and what every task shares to get started.

Importing this module (and the task modules) costs next to nothing: `invoke --list` loads every task
module, so anything heavy (psycopg, rich, pglast) is imported inside the task that uses it.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from invoke.exceptions import Exit

from supadeploy.errors import SupadeployError

if TYPE_CHECKING:
    from rich.console import Console

    from supadeploy.environments import Environment
    from supadeploy.project import Project
    from supadeploy.settings import ProcessSettings
    from supadeploy.supabase_cli import SupabaseCli

F = TypeVar("F", bound=Callable[..., Any])


def _debugging() -> bool:
    return process().debug


# A task loads most of what it uses in its body (psycopg, pglast...): the collector's default of a young
# collection every 700 allocations would run about a hundred times over modules that live until the exit.
# Fewer, larger collections, as mypy does; what a long task (an import, a restore) leaves is still collected.
GC_THRESHOLDS = (50_000, 20, 20)


def reports_errors(body: F) -> F:
    """Turn a SupadeployError into `error: <message>` on stderr and exit 1 (tracebacks with SUPADEPLOY_DEBUG=1)."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            return _reported(body, *args, **kwargs)
        finally:
            # What the task loaded lives until the process ends: the collector's last pass over it at exit
            # would cost a push about 50 ms (psycopg, pglast, rich...). Objects made later are collected as usual.
            gc.freeze()

    return wrapper  # type: ignore[return-value]


def _reported(body: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return body(*args, **kwargs)
    except SupadeployError as exc:
        if _debugging():
            raise
        raise Exit(f"error: {exc}", code=1) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None
    except (Exit, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - the boundary: no user sees a traceback by default
        if _debugging():
            raise
        raise Exit(
            f"error: unexpected {type(exc).__name__}: {exc} (SUPADEPLOY_DEBUG=1 shows the traceback)", code=1
        ) from None


PIPE_WIDTH = 200  # columns for tables when output is not a terminal
RICH_DEFAULT_WIDTH = 80  # what rich assumes for output that is not a terminal, when COLUMNS is not set


class _Console:
    """A rich Console made on first use, so that importing the tasks does not import rich.

    A plain line (no markup, no options) is written directly: `db.push` prints one before the CLI starts,
    and rich's import would otherwise sit on that path. Emoji codes are off, so plain text is never rewritten.
    """

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The rich Console itself."""
        if self._console is None:
            from rich.console import Console

            console = Console(stderr=self._stderr, highlight=False, soft_wrap=True, emoji=False)
            # Not a terminal (CI logs, a pipe): rich assumes 80 columns (unless COLUMNS says otherwise) and
            # cuts table cells (a lint finding's file:line, a token's id); a log has no width: give tables room.
            if not console.is_terminal and console.width == RICH_DEFAULT_WIDTH:
                console.width = PIPE_WIDTH
            self._console = console
        return self._console

    @property
    def _stream(self) -> TextIO:
        return sys.stderr if self._stderr else sys.stdout

    @property
    def is_terminal(self) -> bool:
        """True when the output is a terminal (as rich sees it, once rich is loaded)."""
        return self._console.is_terminal if self._console is not None else self._stream.isatty()

    def write(self, text: str) -> None:
        """One line as it is: no markup read, no style drawn."""
        self._stream.write(text + "\n")
        self._stream.flush()

    def print(self, *objects: Any, **options: Any) -> None:
        """Console.print (or a plain write, for one line that has nothing for rich to render)."""
        if self._console is None and not options and len(objects) == 1 and isinstance(objects[0], str):
            if "[" not in objects[0]:
                self.write(objects[0])
                return
        self.console.print(*objects, **options)


out = _Console(stderr=False)
err = _Console(stderr=True)


@functools.cache
def process() -> ProcessSettings:
    """The process's own variables (SUPADEPLOY_DEBUG, GITHUB_*), read once."""
    from supadeploy.settings import ProcessSettings

    return ProcessSettings.from_environ(os.environ)


def project() -> Project:
    """The project the current directory belongs to."""
    from supadeploy.project import find_project

    return find_project()


def environment(proj: Project, name: str) -> Environment:
    """Resolve --env NAME (its settings parsed once, here)."""
    from supadeploy.environments import resolve

    return resolve(proj, name)


def cli(proj: Project, *, quiet: bool = False) -> SupabaseCli:
    """The Supabase CLI, warning on stderr when its version is not the pinned one."""
    from supadeploy.supabase_cli import find_cli

    found = find_cli(proj)
    if found.version_warning and not quiet:
        err.print(found.version_warning, style="yellow")
    return found


def interactive() -> bool:
    """True when a person can answer a prompt."""
    return sys.stdin.isatty()


def echo_cli(line: str) -> None:
    """Stream one line of the CLI's output (to stderr, so --json stdout stays clean).

    In a log (not a terminal) there is no style to draw, and the line is written as it is: loading rich for it
    would cost a push run by CI about as much as its own checks.
    """
    if not err.is_terminal:
        err.write(f"  \u2502 {line}")
        return
    from rich.markup import escape

    err.print(f"  [dim]│[/dim] {escape(line)}", markup=True, highlight=False)


def print_json(payload: object) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")
