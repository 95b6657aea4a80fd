"""No output of any task that takes a URL shows any part of its password, whatever characters it holds.

Each task runs in this process through invoke's own Program (as `invoke` runs it, minus the interpreter
start), its stdout and stderr captured: every line is checked. A password with every URL-special
character, percent-encoded as it must be, runs every task for real; one unescaped, which libpq reads as
another host, port or database, is refused by every task in one line that repeats none of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from invoke import Collection, Program
from invoke.loader import FilesystemLoader
from psycopg import sql

from supadeploy.dburl import DbUrl

from .conftest import REPO, ProjectDir, Server, database_from, rls_table

pytestmark = pytest.mark.e2e

SPECIAL = "/#?@:% &=+;'\"\\[],!$"
PASSWORD = f"Zx9{SPECIAL}SECRET-pw"
PIECES = ("Zx9", "SECRET", "-pw")  # what is left of the password around its special characters


def tasks(backup: Path, url: str) -> list[tuple[str, ...]]:
    """Every task that takes a URL (from .env.<name>, or an option), with what it needs to run."""
    return [
        ("db.status", "--env", "all"),
        ("db.push", "--env", "staging", "--dry-run"),
        ("db.push", "--env", "staging", "--yes"),
        ("db.lint", "--env", "staging", "--db"),
        ("db.repair", "--env", "staging", "--version", "20240101000000", "--status", "applied", "--yes"),
        ("db.backup", "--env", "staging", "--backup-dir", str(backup)),
        ("db.restore", "--env", "staging", "--from", "{dump}", "--yes"),
        ("db.drift", "--env", "staging", "--scratch-url", url),
        ("db.advisors", "--env", "staging"),
        ("db.test", "--env", "staging"),
        ("db.plan", "--env", "staging", "--json"),
        ("db.reset", "--env", "local"),
        ("env.promote", "--from", "staging", "--to", "production", "--yes", "--json"),
        ("tokens.list", "--env", "staging"),
        (
            "tokens.create",
            "--env",
            "staging",
            "--team",
            "00000000-0000-0000-0000-000000000001",
            "--name",
            "ci",
            "--scopes",
            "deployments:read",
        ),
        ("tokens.revoke", "--env", "staging", "--id", "00000000-0000-0000-0000-000000000001", "--yes"),
        ("nova.import", "--env", "staging", "--from-url", url, "--dry-run"),
    ]


@pytest.fixture(scope="module")
def namespace() -> Collection:
    module, _ = FilesystemLoader(start=str(REPO)).load("tasks")
    return Collection.from_module(module)


@pytest.fixture
def run(
    namespace: Collection, capsys: pytest.CaptureFixture[str], project_dir: ProjectDir, monkeypatch: pytest.MonkeyPatch
):  # noqa: ANN201
    """Run one task as `invoke` would; (exit code, every line it printed)."""
    for name in [n for n in __import__("os").environ if n.startswith(("SUPABASE_", "SUPADEPLOY_", "NOVA_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SUPADEPLOY_PROJECT_DIR", str(project_dir.root))
    monkeypatch.chdir(project_dir.root)

    def invoke(*argv: str) -> tuple[int, list[str]]:
        try:
            Program(namespace=namespace, name="invoke", binary="invoke").run(["invoke", *argv])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, (captured.out + captured.err).splitlines()

    return invoke


@pytest.fixture
def leaky(pg_server: Server, template_db: str) -> Iterator[tuple[DbUrl, DbUrl]]:
    """Staging and production databases, reached as a login whose password holds every URL-special character."""
    with psycopg.connect(pg_server.url.raw, autocommit=True) as admin:
        if admin.execute("select 1 from pg_roles where rolname = 'leaky'").fetchone() is None:
            admin.execute("create role leaky login superuser")
        admin.execute(sql.SQL("alter role leaky password {}").format(sql.Literal(PASSWORD)))
    with database_from(pg_server, template_db, "lks") as stg, database_from(pg_server, template_db, "lkp") as prd:
        yield stg, prd


def as_leaky(url: DbUrl, password: str) -> str:
    return f"postgresql://leaky:{password}@{url.host}:{url.port}/{url.dbname}"


def leaked(lines: list[str]) -> list[str]:
    return [line for line in lines if any(piece in line for piece in PIECES)]


def test_every_task_runs_with_a_percent_encoded_special_password_and_never_shows_it(
    run,
    project_dir: ProjectDir,
    leaky: tuple[DbUrl, DbUrl],
    tmp_path: Path,  # noqa: ANN001
) -> None:
    staging, production = leaky
    encoded = quote(PASSWORD, safe="")
    for name, url in (("staging", staging), ("production", production), ("local", staging)):
        project_dir.set_env(name, SUPABASE_DB_URL=as_leaky(url, encoded))
    project_dir.add_migration("20240101000000", "a", rls_table("a"))
    backup = tmp_path / "backups"
    outcomes = {}
    for argv in tasks(backup, as_leaky(staging, encoded)):
        argv = tuple(str(next(backup.glob("*.dump"), "")) if arg == "{dump}" else arg for arg in argv)
        code, lines = run(*argv)
        assert not leaked(lines), (argv, leaked(lines))
        assert not [line for line in lines if "Traceback" in line], (argv, lines)
        outcomes[argv[0] + (" --dry-run" if "--dry-run" in argv else "")] = (code, lines[-1:])
    # They really ran: connected, pushed, backed up, restored, promoted, compared.
    ran = ("db.status", "db.push", "db.push --dry-run", "db.backup", "db.restore", "env.promote", "db.drift")
    assert all(outcomes[name][0] == 0 for name in ran), outcomes


@pytest.mark.parametrize("char", ["/", "@", "%", " "])
def test_an_unescaped_special_character_is_refused_by_every_task_in_one_line_that_shows_none_of_it(
    run,
    project_dir: ProjectDir,
    leaky: tuple[DbUrl, DbUrl],
    tmp_path: Path,
    char: str,  # noqa: ANN001
) -> None:
    staging, production = leaky
    password = f"Zx9{char}SECRET-pw"
    for name, url in (("staging", staging), ("production", production), ("local", staging)):
        project_dir.set_env(name, SUPABASE_DB_URL=as_leaky(url, password))
    for argv in tasks(tmp_path / "backups", as_leaky(staging, password)):
        code, lines = run(*argv)
        assert code == 1 and not leaked(lines), (argv, lines)
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1, (argv, lines)
        if argv[0] != "db.status":  # db.status reports each environment, then fails once
            assert re.search(r"percent-encode any @ : / \? # % or space in the password", errors[0]), errors
