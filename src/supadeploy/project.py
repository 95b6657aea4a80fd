"""Where a Supabase project lives on disk and where the toolkit keeps its own files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from supadeploy.errors import ConfigError
from supadeploy.settings import PROJECT_DIR, ProcessSettings

PROJECT_DIR_VARIABLE = PROJECT_DIR
CONFIG_FILE = Path("supabase") / "config.toml"
MIGRATIONS_DIR = Path("supabase") / "migrations"
STATE_DIR = Path(".supadeploy")

# The toolkit's own SQL: inside the wheel when installed, at the repo root when
# run from a checkout (editable installs do not copy it).
_PACKAGE_DIR = Path(__file__).resolve().parent
_SQL_DIRS = (_PACKAGE_DIR / "sql", _PACKAGE_DIR.parents[1] / "sql")


@dataclass(frozen=True)
class Project:
    """A folder holding supabase/config.toml and supabase/migrations."""

    root: Path

    @property
    def migrations_dir(self) -> Path:
        """The folder the Supabase CLI reads migrations from."""
        return self.root / MIGRATIONS_DIR

    @property
    def state_dir(self) -> Path:
        """The ignored folder for the local cluster, backups and other state."""
        return self.root / STATE_DIR

    @property
    def seed_file(self) -> Path:
        """The seed file config.toml names by default."""
        return self.root / "supabase" / "seed.sql"


def find_project(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Project:
    """Find the project from $SUPADEPLOY_PROJECT_DIR or by searching upward for supabase/config.toml."""
    explicit = ProcessSettings.from_environ(os.environ if environ is None else environ).project_dir
    if explicit:
        root = Path(explicit).resolve()
        if not (root / CONFIG_FILE).is_file():
            raise ConfigError(f"{PROJECT_DIR_VARIABLE}={root} has no {CONFIG_FILE}")
        return Project(root)
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return Project(candidate)
    raise ConfigError(
        f"no {CONFIG_FILE} in {here} or any parent: run from a Supabase project or set {PROJECT_DIR_VARIABLE}"
    )


def sql_file(name: str) -> Path:
    """Path of one of the toolkit's SQL files (sql/<name>)."""
    for folder in _SQL_DIRS:
        path = folder / name
        if path.is_file():
            return path
    raise ConfigError(f"the toolkit's sql/{name} is missing from this installation")
