"""Named environments (local, staging, production, ...) resolved from .env files and the process."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from supadeploy.database import DbUrl
from supadeploy.errors import ConfigError, ConfirmationRequired
from supadeploy.project import Project

DB_URL_VARIABLE = "SUPABASE_DB_URL"
PROTECTED_VARIABLE = "SUPADEPLOY_PROTECTED"
LOCAL_PORT_VARIABLE = "SUPADEPLOY_LOCAL_PORT"
DEFAULT_LOCAL_PORT = 54322
# What `supabase start` prints for its database, and what the Docker-free cluster uses too.
LOCAL_PASSWORD = "postgres"

BUILTIN_ENVIRONMENTS = ("local", "staging", "production")
ALWAYS_PROTECTED = frozenset({"production"})
ALL = "all"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_TRUE = {"1", "true", "yes", "on"}

# Every variable the toolkit reads, with what it means: the README's reference is built from this.
VARIABLES: dict[str, str] = {
    DB_URL_VARIABLE: "Postgres connection string of the environment (direct or session-mode pooler).",
    "SUPABASE_DB_URL_<NAME>": "In the process environment: NAME's URL, winning over SUPABASE_DB_URL (CI secrets).",
    PROTECTED_VARIABLE: "true marks the environment protected: --yes or a typed confirmation needed.",
    LOCAL_PORT_VARIABLE: f"Port of the Docker-free local cluster (default {DEFAULT_LOCAL_PORT}).",
    "SUPADEPLOY_LOCAL_BACKEND": "auto (default), docker or cluster: which local backend local.* uses.",
    "SUPADEPLOY_LOCAL_DIR": "Folder of the Docker-free cluster (default .supadeploy/local).",
    "SUPADEPLOY_PG_BINDIR": "Folder holding initdb/pg_ctl/postgres, if not found automatically.",
    "SUPADEPLOY_SUPABASE_BIN": "Path of the Supabase CLI, if not node_modules/.bin or PATH.",
    "SUPADEPLOY_PROJECT_DIR": "Project folder, if not found upward from the current directory.",
    "SUPADEPLOY_DEBUG": "1 shows tracebacks instead of one-line errors.",
    "SUPADEPLOY_TEST_DATABASE_URL": "Tests use this server instead of starting their own cluster.",
    "SUPADEPLOY_LOCK_WAIT": "Seconds a push waits for another push's lock on the same database (default 600).",
    "SUPADEPLOY_LOCK_TIMEOUT": "lock_timeout on the CLI's connection to protected environments (default 5s).",
    "SUPADEPLOY_STATEMENT_TIMEOUT": "statement_timeout on the CLI's connection to protected environments (15min).",
    "SUPADEPLOY_LOCK_RETRIES": "How often a push retries after a lock timeout, with backoff 2s, 4s, 8s... (default 3).",
    "SUPADEPLOY_BACKUP_DIR": "Folder for db.backup and env.promote backups (default .supadeploy/backups).",
    "SUPADEPLOY_SCRATCH_URL": "Server for db.drift's scratch database (default: the local environment's server).",
    "NOVA_DATABASE_URL": "nova.import: Nova's Postgres URL when --from-url is not given (keeps it off argv).",
    "SUPABASE_URL": "nova.import --create-users on a Supabase project: its API URL (https://<ref>.supabase.co).",
    "SUPABASE_SERVICE_ROLE_KEY": "nova.import --create-users on a Supabase project: its service key (never printed).",
    "GITHUB_STEP_SUMMARY": "Set by GitHub Actions: env.promote appends its Markdown report there.",
    "GITHUB_ACTIONS": "Set by GitHub Actions: db.lint and db.push print annotations.",
    "GITHUB_ACTOR": "Set by GitHub Actions: recorded as who promoted.",
    "GITHUB_SHA": "Set by GitHub Actions: recorded as the promoted commit (else git rev-parse HEAD).",
    "GITHUB_TOKEN": "gh.comment: the token that creates and updates the plan comment (never printed).",
    "GITHUB_EVENT_PATH": "Set by GitHub Actions: gh.comment reads the pull request's number from the event.",
    "GITHUB_REPOSITORY": "Set by GitHub Actions: owner/name of the repository gh.comment comments on.",
    "GITHUB_API_URL": "Set by GitHub Actions: the REST API gh.comment calls (https; default api.github.com).",
}


@dataclass(frozen=True)
class Environment:
    """One named database target. repr() never shows the password."""

    name: str
    url: DbUrl
    protected: bool
    source: str
    settings: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

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


def check_name(project: Project, name: str) -> None:
    """Refuse names that are malformed or that nothing defines."""
    if not _NAME.match(name):
        raise ConfigError(f"invalid environment name {name!r}: use lowercase letters, digits, - and _")
    if name not in known_environments(project):
        raise ConfigError(
            f"unknown environment {name!r}: create {env_file(project, name).name} with "
            f"{DB_URL_VARIABLE}=... (known: {', '.join(known_environments(project))})"
        )


def _settings(project: Project, name: str, environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Merge .env, .env.<name> and the process environment; remember where each value came from."""
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in (project.root / ".env", env_file(project, name)):
        if path.is_file():
            for key, value in dotenv_values(path).items():
                if value is not None:
                    values[key] = value
                    origin[key] = path.name
    for key, value in environ.items():
        if key == DB_URL_VARIABLE or key.startswith("SUPADEPLOY_"):
            values[key] = value
            origin[key] = "the process environment"
    # One process can hold several environments' URLs (env.promote in CI): the named one wins.
    specific = url_variable(name)
    if environ.get(specific):
        values[DB_URL_VARIABLE] = environ[specific]
        origin[DB_URL_VARIABLE] = specific
    return values, origin


def url_variable(name: str) -> str:
    """The process variable holding one environment's URL: SUPABASE_DB_URL_<NAME>."""
    return f"{DB_URL_VARIABLE}_{name.upper().replace('-', '_')}"


def resolve(project: Project, name: str, environ: Mapping[str, str] | None = None) -> Environment:
    """Resolve one environment; a missing URL names the file or variable to set."""
    check_name(project, name)
    values, origin = _settings(project, name, os.environ if environ is None else environ)
    raw = values.get(DB_URL_VARIABLE)
    source = origin.get(DB_URL_VARIABLE, "")
    if not raw and name == "local":
        port = values.get(LOCAL_PORT_VARIABLE, str(DEFAULT_LOCAL_PORT))
        raw = f"postgresql://postgres:{LOCAL_PASSWORD}@127.0.0.1:{port}/postgres"
        source = "the local backend default"
    if not raw:
        raise ConfigError(
            f"environment {name!r} has no {DB_URL_VARIABLE}: set it in {env_file(project, name).name} or export it"
        )
    protected = name in ALWAYS_PROTECTED or values.get(PROTECTED_VARIABLE, "").lower() in _TRUE
    return Environment(name=name, url=DbUrl.parse(raw), protected=protected, source=source, settings=values)


def expand(project: Project, name: str) -> list[str]:
    """Turn `all` into every known environment; check any other name."""
    if name == ALL:
        return known_environments(project)
    check_name(project, name)
    return [name]


def confirm(
    env: Environment,
    *,
    action: str,
    yes: bool,
    interactive: bool,
    ask: Callable[[str], str] = input,
) -> None:
    """Let an action on a protected environment go ahead only with --yes or a typed confirmation."""
    if not env.protected or yes:
        return
    if not interactive:
        raise ConfirmationRequired(
            f"{env.name} is protected and stdin is not a terminal: pass --yes to {action} non-interactively"
        )
    answer = ask(f"{action} on protected environment {env}. Type {env.name!r} to continue: ")
    if answer.strip() != env.name:
        raise ConfirmationRequired(f"not confirmed: nothing was done to {env.name}")
