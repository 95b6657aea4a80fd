"""Where library errors become one-line exits, and what every task shares to get started."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit
from rich.console import Console
from rich.markup import escape

from supadeploy import environments
from supadeploy.environments import Environment
from supadeploy.errors import SupadeployError
from supadeploy.project import Project, find_project
from supadeploy.supabase_cli import SupabaseCli, find_cli

F = TypeVar("F", bound=Callable[..., Any])
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def reports_errors(body: F) -> F:
    """Turn a SupadeployError into `error: <message>` on stderr and exit 1 (tracebacks with SUPADEPLOY_DEBUG=1)."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except SupadeployError as exc:
            if os.environ.get("SUPADEPLOY_DEBUG") == "1":
                raise
            raise Exit(f"error: {exc}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None
        except (Exit, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the boundary: no user sees a traceback by default
            if os.environ.get("SUPADEPLOY_DEBUG") == "1":
                raise
            raise Exit(
                f"error: unexpected {type(exc).__name__}: {exc} (SUPADEPLOY_DEBUG=1 shows the traceback)", code=1
            ) from None

    return wrapper  # type: ignore[return-value]


def project() -> Project:
    """The project the current directory belongs to."""
    return find_project()


def environment(proj: Project, name: str) -> Environment:
    """Resolve --env NAME."""
    return environments.resolve(proj, name)


def cli(proj: Project, *, quiet: bool = False) -> SupabaseCli:
    """The Supabase CLI, warning on stderr when its version is not the pinned one."""
    found = find_cli(proj)
    if found.version_warning and not quiet:
        err.print(found.version_warning, style="yellow")
    return found


def interactive() -> bool:
    """True when a person can answer a prompt."""
    return sys.stdin.isatty()


def echo_cli(line: str) -> None:
    """Stream one line of the CLI's output (to stderr, so --json stdout stays clean)."""
    err.print(f"  [dim]│[/dim] {escape(line)}", markup=True, highlight=False)


def print_json(payload: object) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")
