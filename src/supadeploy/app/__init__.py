"""The app wing: the code that knows Vision-'s own tables (teams, API tokens) and Nova's.

It depends on the core; the core never imports it (an import-linter contract in the test suite holds that).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import LiteralString

_SQL = Path(__file__).resolve().parent / "sql"
# Here rather than in nova.py and tokens.py, so that the tasks' --help text costs no import.
DEFAULT_BATCH_ROWS = 50_000  # nova.import: rows per upsert transaction
TOKEN_SCOPES = ("projects:read", "projects:write", "deployments:read", "deployments:write")


@cache
def app_sql(name: str) -> LiteralString:
    """One of the app wing's SQL files (app/sql/<name>): shipped with the package, never user input."""
    return (_SQL / name).read_text()  # mypy reads LiteralString as str: the file is ours, not user input
