"""Migration files in supabase/migrations, checked the way the CLI should but does not."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from supadeploy.errors import MigrationFileError

# The Supabase CLI's own pattern; any other *.sql file in the folder it skips without a word.
MIGRATION_FILENAME = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.+)\.sql$")
MIGRATION_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,99}$")
# What Windows editors put before UTF-8 text. The CLI drops it before it splits a file; PostgreSQL's parser
# would take it for part of the first word.
BYTE_ORDER_MARK = "\ufeff"
# `supabase migration repair` reads a version as a signed 64-bit integer; `db push` takes any digits, so a
# longer version could be applied and then never be marked reverted.
LARGEST_VERSION = 2**63 - 1


def version_key(version: str) -> str:
    """Order versions as the CLI does: as strings (it applies 10_x.sql before 9_x.sql, and refuses 100 after 9)."""
    return version


@dataclass(frozen=True)
class MigrationFile:
    """One supabase/migrations/<version>_<name>.sql file."""

    version: str
    name: str
    path: Path

    @property
    def filename(self) -> str:
        """The file's name, as the CLI prints it."""
        return self.path.name

    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes."""
        import hashlib  # OpenSSL's load is not free: a push pays it once the CLI has started

        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def text(self) -> str:
        """The file's SQL; MigrationFileError naming the file when it cannot be read as UTF-8."""
        problem, text = _read(self.path)
        if problem:
            raise MigrationFileError([problem])
        return text


def _read(path: Path) -> tuple[str | None, str]:
    """(None, the text) or (what is wrong with the file, "")."""
    if not path.is_file():
        if path.is_symlink():
            return f"{path.name} is a symbolic link to {os.readlink(path)}, which does not exist", ""
        return f"{path.name} is not a regular file", ""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"{path.name} cannot be read: {exc.strerror}", ""
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        return f"{path.name} holds a NUL byte on line {line}: PostgreSQL would refuse it; remove it", ""
    try:
        return None, data.decode("utf-8").removeprefix(BYTE_ORDER_MARK)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return (
            f"{path.name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): "
            "PostgreSQL would refuse it; save the file as UTF-8",
            "",
        )


def migration_sql(path: Path) -> str:
    """A migration file's SQL as the CLI sends it: UTF-8, without a byte order mark."""
    return path.read_text(encoding="utf-8").removeprefix(BYTE_ORDER_MARK)


def check_name(name: str) -> None:
    """Refuse a name `db.new` would turn into a file the CLI cannot read cleanly."""
    if not MIGRATION_NAME.match(name):
        raise MigrationFileError(
            [f"invalid migration name {name!r}: use lowercase letters, digits and _ (e.g. add_teams)"]
        )


def discover(folder: Path) -> list[MigrationFile]:
    """Every migration file in version order; malformed names, duplicate versions and unreadable files are errors."""
    if not folder.is_dir():
        return []
    problems: list[str] = []
    found: list[MigrationFile] = []
    by_version: dict[str, MigrationFile] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        match = MIGRATION_FILENAME.match(path.name)
        if not match:
            problems.append(
                f"malformed migration file name {path.name}: expected <digits>_<name>.sql "
                "(the Supabase CLI would silently skip it)"
            )
            continue
        if int(match["version"]) > LARGEST_VERSION:
            problems.append(
                f"{path.name}: version {match['version']} is larger than `supabase migration repair` can read "
                f"(at most {LARGEST_VERSION}); rename it to a timestamp version (`invoke db.new`)"
            )
            continue
        unreadable, _ = _read(path)
        if unreadable:
            problems.append(unreadable)
            continue
        migration = MigrationFile(match["version"], match["name"], path)
        if migration.version in by_version:
            problems.append(
                f"duplicate migration version {migration.version}: "
                f"{by_version[migration.version].filename} and {migration.filename}"
            )
            continue
        by_version[migration.version] = migration
        found.append(migration)
    if problems:
        raise MigrationFileError(problems)
    return sorted(found, key=lambda m: version_key(m.version))
