"""Named environments (local, staging, production, ...) and the rules for confirming what is done to them."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from supadeploy import settings as config
from supadeploy.dburl import DbUrl
from supadeploy.errors import ConfigError, ConfirmationRequired
from supadeploy.project import Project
from supadeploy.settings import Settings

BUILTIN_ENVIRONMENTS = ("local", "staging", "production")
ALWAYS_PROTECTED = frozenset({"production"})
ALL = "all"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Environment:
    """One named database target and its settings. repr() never shows the password."""

    name: str
    settings: Settings

    @classmethod
    def for_url(cls, name: str, url: DbUrl, *, protected: bool = False, source: str = "given") -> Environment:
        """An environment made from a URL alone, every other setting at its default."""
        return cls(name, Settings(db_url=url, db_url_source=source, protected=protected))

    @property
    def url(self) -> DbUrl:
        """Where the environment's database is."""
        return self.settings.db_url

    @property
    def protected(self) -> bool:
        """True when changes need --yes or a typed confirmation."""
        return self.settings.protected

    @property
    def source(self) -> str:
        """Where the URL came from: a file, the process environment, or the local default."""
        return self.settings.db_url_source

    def __str__(self) -> str:
        """Name and masked URL."""
        return f"{self.name} ({self.url.masked})"


def env_file(project: Project, name: str) -> Path:
    """The file holding one environment's variables."""
    return project.root / f".env.{name}"


def known_environments(project: Project) -> list[str]:
    """Built-in names plus every name that has a .env.<name> file."""
    names = list(BUILTIN_ENVIRONMENTS)
    for path in sorted(project.root.glob(".env.*")):
        name = path.name.removeprefix(".env.")
        if _NAME.match(name) and name not in names and name != "example":
            names.append(name)
    return names


def check_format(name: str) -> None:
    """Refuse a malformed environment name."""
    if not _NAME.match(name):
        raise ConfigError(f"invalid environment name {name!r}: use lowercase letters, digits, - and _")


def check_name(project: Project, name: str) -> None:
    """Refuse names that are malformed or that nothing defines."""
    check_format(name)
    if name not in known_environments(project):
        raise ConfigError(
            f"unknown environment {name!r}: create {env_file(project, name).name} with "
            f"{config.DB_URL}=... (known: {', '.join(known_environments(project))})"
        )


def url_variable(name: str) -> str:
    """The process variable holding one environment's URL: SUPABASE_DB_URL_<NAME>."""
    return config.url_variable(name)


def resolve(
    project: Project, name: str, environ: Mapping[str, str] | None = None, *, declared: bool = False
) -> Environment:
    """Resolve one environment, parsing its settings once; a missing URL names the file or variable to set.

    `declared`: the name comes from the fleet file, so it needs no .env.<name> (its URL may come from the
    process alone, as in CI), and it is protected: a fleet's targets are production projects.
    """
    if declared:
        check_format(name)
    else:
        check_name(project, name)
    values = config.load(
        project.root,
        name,
        os.environ if environ is None else environ,
        always_protected=declared or name in ALWAYS_PROTECTED,
    )
    return Environment(name, values)


def expand(project: Project, name: str) -> list[str]:
    """Turn `all` into every known environment; check any other name."""
    if name == ALL:
        return known_environments(project)
    check_name(project, name)
    return [name]


# --- confirmation rules ----------------------------------------------------------------------------

Ask = Callable[[str], str]


def confirm(env: Environment, *, action: str, yes: bool, interactive: bool, ask: Ask = input) -> None:
    """Let an action on a protected environment go ahead only with --yes or a typed confirmation."""
    if not env.protected or yes:
        return
    _typed(env, action=action, interactive=interactive, ask=ask)


def confirm_many(envs: Sequence[Environment], *, action: str, yes: bool, interactive: bool, ask: Ask = input) -> None:
    """An action on several environments: with --yes, or the number of protected ones typed at a terminal."""
    protected = [env.name for env in envs if env.protected]
    if not protected or yes:
        return
    names = ", ".join(protected[:6]) + (f" and {len(protected) - 6} more" if len(protected) > 6 else "")
    if not interactive:
        raise ConfirmationRequired(
            f"{len(protected)} protected target(s) ({names}) and stdin is not a terminal: "
            f"pass --yes to {action} non-interactively"
        )
    answer = ask(f"{action} on {len(protected)} protected environment(s): {names}. Type {len(protected)} to continue: ")
    if answer.strip() != str(len(protected)):
        raise ConfirmationRequired("not confirmed: nothing was done to any target")


def confirm_restore(env: Environment, *, yes: bool, interactive: bool, ask: Ask = input) -> None:
    """A restore replaces data: any environment but local needs --yes.

    A protected one at a terminal still needs its name typed (--yes alone suffices where nobody can type, as in CI).
    """
    if env.name == "local":
        return
    if not yes:
        raise ConfirmationRequired(f"restoring into {env.name} replaces its data: pass --yes")
    if env.protected and interactive:
        _typed(env, action="restore a backup", interactive=True, ask=ask)


def confirm_wipe(env: Environment, *, action: str, yes: bool, interactive: bool, ask: Ask = input) -> None:
    """Deleting data is never undone: ask as if the environment were protected, even local."""
    if yes:
        return
    _typed(env, action=action, interactive=interactive, ask=ask)


def _typed(env: Environment, *, action: str, interactive: bool, ask: Ask) -> None:
    if not interactive:
        what = f"{env.name} is protected" if env.protected else f"{action} on {env.name} cannot be undone"
        raise ConfirmationRequired(f"{what} and stdin is not a terminal: pass --yes to {action} non-interactively")
    kind = "protected environment" if env.protected else "environment"
    answer = ask(f"{action} on {kind} {env}. Type {env.name!r} to continue: ")
    if answer.strip() != env.name:
        raise ConfirmationRequired(f"not confirmed: nothing was done to {env.name}")
