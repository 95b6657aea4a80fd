"""Every variable the toolkit reads, in one place: one typed Settings per environment, and the process's own few.

An environment's variables come from `.env`, then `.env.<name>`, then the process environment, for
the names in FROM_PROCESS only (CI secrets arrive that way). `SUPABASE_DB_URL_<NAME>` is read from the
process only and wins for its environment. Everything is parsed once, here: the rest of the library
takes a Settings (or a ProcessSettings) and never reads the environment itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from supadeploy.dburl import DbUrl
from supadeploy.errors import ConfigError

DB_URL = "SUPABASE_DB_URL"
PROTECTED = "SUPADEPLOY_PROTECTED"
LOCAL_PORT = "SUPADEPLOY_LOCAL_PORT"
LOCAL_BACKEND = "SUPADEPLOY_LOCAL_BACKEND"
LOCAL_DIR = "SUPADEPLOY_LOCAL_DIR"
PG_BINDIR = "SUPADEPLOY_PG_BINDIR"
LOCK_WAIT = "SUPADEPLOY_LOCK_WAIT"
LOCK_TIMEOUT = "SUPADEPLOY_LOCK_TIMEOUT"
STATEMENT_TIMEOUT = "SUPADEPLOY_STATEMENT_TIMEOUT"
LOCK_RETRIES = "SUPADEPLOY_LOCK_RETRIES"
BACKUP_DIR = "SUPADEPLOY_BACKUP_DIR"
SCRATCH_URL = "SUPADEPLOY_SCRATCH_URL"
API_URL = "SUPABASE_URL"
SECRET_KEY = "SUPABASE_SECRET_KEY"  # Supabase's sb_secret_... keys
SERVICE_ROLE_KEY = "SUPABASE_SERVICE_ROLE_KEY"  # the legacy JWT key, accepted beside it
NOVA_URL = "NOVA_DATABASE_URL"

# The variables an environment may take from the process environment as well as from its files.
FROM_PROCESS: tuple[str, ...] = (
    DB_URL,
    PROTECTED,
    LOCAL_PORT,
    LOCAL_BACKEND,
    LOCAL_DIR,
    PG_BINDIR,
    LOCK_WAIT,
    LOCK_TIMEOUT,
    STATEMENT_TIMEOUT,
    LOCK_RETRIES,
    BACKUP_DIR,
    SCRATCH_URL,
    API_URL,
    SECRET_KEY,
    SERVICE_ROLE_KEY,
    NOVA_URL,
)

DEFAULT_LOCAL_PORT = 54322
# What `supabase start` prints for its database, and what the Docker-free cluster uses too.
LOCAL_PASSWORD = "postgres"
LOCAL_BACKENDS = ("auto", "docker", "cluster")
PROCESS_SOURCE = "the process environment"
LOCAL_DEFAULT_SOURCE = "the local backend default"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
# Sub-second, as pgroll's default: a DDL statement queued for a lock makes every later query on that table queue
# behind it, so this is the longest production traffic waits for one attempt; retries (with backoff) try again.
DEFAULT_LOCK_TIMEOUT = "500ms"
DEFAULT_LOCK_RETRIES = 10
_DURATION = re.compile(r"^[0-9]+(us|ms|s|min|h|d)?$")


def url_variable(name: str) -> str:
    """The process variable holding one environment's URL: SUPABASE_DB_URL_<NAME>."""
    return f"{DB_URL}_{name.upper().replace('-', '_')}"


@dataclass(frozen=True)
class Settings:
    """One environment's settings, typed and checked. repr() never shows a password or key."""

    db_url: DbUrl
    db_url_source: str
    protected: bool
    local_port: int = DEFAULT_LOCAL_PORT
    local_backend: str = "auto"
    local_dir: str | None = None
    pg_bindir: str | None = None
    lock_wait: float = 600.0
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    statement_timeout: str = "15min"
    lock_retries: int = DEFAULT_LOCK_RETRIES
    backup_dir: str | None = None
    scratch_url: DbUrl | None = None
    api_url: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    nova_url: DbUrl | None = None


def load(root: Path, name: str, environ: Mapping[str, str], *, always_protected: bool = False) -> Settings:
    """Read `.env`, `.env.<name>` and the process variables in FROM_PROCESS, then parse them."""
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in (root / ".env", root / f".env.{name}"):
        if path.is_file():
            for key, value in _dotenv(path):
                values[key] = value
                origin[key] = path.name
    for key in FROM_PROCESS:
        if key in environ:
            values[key] = environ[key]
            origin[key] = PROCESS_SOURCE
    # One process can hold several environments' URLs (env.promote in CI): the named one wins.
    specific = url_variable(name)
    if environ.get(specific):
        values[DB_URL] = environ[specific]
        origin[DB_URL] = specific
    return parse(name, values, origin, always_protected=always_protected)


def _dotenv(path: Path) -> Iterator[tuple[str, str]]:
    from dotenv import dotenv_values  # only when a file exists

    try:
        values = dotenv_values(path)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): "
            "save it as UTF-8"
        ) from None
    for key, value in values.items():
        if value is not None:
            yield key, value


def parse(
    name: str, values: Mapping[str, str], origin: Mapping[str, str], *, always_protected: bool = False
) -> Settings:
    """Turn raw values into Settings; a malformed value names its variable (and never echoes a secret)."""
    local_port = _integer(values, LOCAL_PORT, DEFAULT_LOCAL_PORT, low=1, high=65535)
    raw_url = values.get(DB_URL)
    source = origin.get(DB_URL, "")
    if not raw_url and name == "local":
        raw_url = f"postgresql://postgres:{LOCAL_PASSWORD}@127.0.0.1:{local_port}/postgres"
        source = LOCAL_DEFAULT_SOURCE
    if not raw_url:
        raise ConfigError(f"environment {name!r} has no {DB_URL}: set it in .env.{name} or export it")
    backend = (values.get(LOCAL_BACKEND) or "auto").lower()
    if backend not in LOCAL_BACKENDS:
        raise ConfigError(f"{LOCAL_BACKEND} must be auto, docker or cluster")
    # The new secret key wins over the legacy service_role JWT when both are set.
    secret = values.get(SECRET_KEY) or values.get(SERVICE_ROLE_KEY) or None
    return Settings(
        db_url=DbUrl.parse(raw_url, DB_URL),
        db_url_source=source,
        protected=always_protected or _flag(values, PROTECTED),
        local_port=local_port,
        local_backend=backend,
        local_dir=values.get(LOCAL_DIR) or None,
        pg_bindir=values.get(PG_BINDIR) or None,
        lock_wait=_seconds(values, LOCK_WAIT, 600.0),
        lock_timeout=_duration(values, LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT),
        statement_timeout=_duration(values, STATEMENT_TIMEOUT, "15min"),
        lock_retries=_integer(values, LOCK_RETRIES, DEFAULT_LOCK_RETRIES, low=0, high=20),
        backup_dir=values.get(BACKUP_DIR) or None,
        scratch_url=_url(values, SCRATCH_URL),
        api_url=values.get(API_URL) or None,
        secret_key=secret,
        nova_url=_url(values, NOVA_URL),
    )


def _flag(values: Mapping[str, str], key: str) -> bool:
    text = (values.get(key) or "").strip().lower()
    if text not in _TRUE | _FALSE:
        raise ConfigError(f"{key} must be true or false (got {text!r})")
    return text in _TRUE


def _integer(values: Mapping[str, str], key: str, default: int, *, low: int, high: int) -> int:
    text = values.get(key)
    if not text:
        return default
    try:
        number = int(text)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number (got {text!r})") from None
    if not low <= number <= high:
        raise ConfigError(f"{key} must be between {low} and {high} (got {number})")
    return number


def _seconds(values: Mapping[str, str], key: str, default: float) -> float:
    text = values.get(key)
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        raise ConfigError(f"{key} must be a number of seconds (got {text!r})") from None
    if seconds < 0:
        raise ConfigError(f"{key} must not be negative (got {text!r})")
    return seconds


def _duration(values: Mapping[str, str], key: str, default: str) -> str:
    text = (values.get(key) or default).strip()
    if not _DURATION.match(text):
        raise ConfigError(f"{key} must be a PostgreSQL duration such as 5s, 300ms or 15min (got {text!r})")
    return text


def _url(values: Mapping[str, str], key: str) -> DbUrl | None:
    text = values.get(key)
    return DbUrl.parse(text, key) if text else None


# --- the process's own variables ----------------------------------------------------------------

PROJECT_DIR = "SUPADEPLOY_PROJECT_DIR"
SUPABASE_BIN = "SUPADEPLOY_SUPABASE_BIN"
# The CLI's own "answer yes to every prompt" (read from the process environment only): never read here,
# and taken out of the environment of a CLI started to ask, which would otherwise not wait for the gates.
CLI_YES = "SUPABASE_YES"
DEBUG = "SUPADEPLOY_DEBUG"
GITHUB_ACTIONS = "GITHUB_ACTIONS"
GITHUB_STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
GITHUB_ACTOR = "GITHUB_ACTOR"
GITHUB_SHA = "GITHUB_SHA"
GITHUB_TOKEN = "GITHUB_TOKEN"
GITHUB_API_URL = "GITHUB_API_URL"
GITHUB_REPOSITORY = "GITHUB_REPOSITORY"
GITHUB_EVENT_PATH = "GITHUB_EVENT_PATH"
GITHUB_RUN_ID = "GITHUB_RUN_ID"


@dataclass(frozen=True)
class ProcessSettings:
    """What the process environment says about this run, whatever the environment: read once per task."""

    project_dir: str | None = None
    supabase_bin: str | None = None
    debug: bool = False
    github_actions: bool = False
    step_summary: str | None = None
    actor: str | None = None
    sha: str | None = None
    github_token: str | None = field(default=None, repr=False)
    github_api_url: str | None = None
    github_repository: str | None = None
    github_event_path: str | None = None
    github_run_id: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ProcessSettings:
        """Parse the process's own variables."""
        return cls(
            project_dir=environ.get(PROJECT_DIR) or None,
            supabase_bin=environ.get(SUPABASE_BIN) or None,
            debug=environ.get(DEBUG) == "1",
            github_actions=environ.get(GITHUB_ACTIONS) == "true",
            step_summary=environ.get(GITHUB_STEP_SUMMARY) or None,
            actor=environ.get(GITHUB_ACTOR) or None,
            sha=environ.get(GITHUB_SHA) or None,
            github_token=environ.get(GITHUB_TOKEN) or None,
            github_api_url=environ.get(GITHUB_API_URL) or None,
            github_repository=environ.get(GITHUB_REPOSITORY) or None,
            github_event_path=environ.get(GITHUB_EVENT_PATH) or None,
            github_run_id=environ.get(GITHUB_RUN_ID) or None,
        )


class _Recording(dict[str, str]):
    """An empty mapping that remembers every key looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return default

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return False


def variables_read() -> set[str]:
    """Every variable name the parsers above look up, found by running them over recording mappings.

    `SUPABASE_DB_URL_<NAME>` is reported as such. The README's variable table is checked against this.
    """
    environ, values = _Recording(), _Recording()
    load(Path("/nonexistent"), "local", environ)
    parse("local", values, {})
    ProcessSettings.from_environ(environ)
    asked = environ.asked | values.asked
    asked.discard(url_variable("local"))
    return asked | {f"{DB_URL}_<NAME>"}
