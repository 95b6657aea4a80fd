"""Finding and running PostgreSQL's programs: client tools alone suffice for a backup; one env, one scrubbed stream."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from supadeploy import pgtools
from supadeploy.dburl import DbUrl
from supadeploy.errors import ToolNotFound


def client_only(folder: Path) -> Path:
    """A folder holding pg_dump and pg_restore and no server binary, as postgresql-client installs them."""
    real = pgtools.client_tool("pg_dump")
    for name in ("pg_dump", "pg_restore"):
        (folder / name).symlink_to(Path(real).with_name(name))
    return folder


def test_client_tools_are_found_without_any_server_binary(tmp_path: Path) -> None:
    folder = client_only(tmp_path)
    nothing = str(tmp_path / "no-debian-*")
    with pytest.raises(ToolNotFound):
        pgtools.find_bindir(search_path=str(folder), debian_glob=nothing)  # no server here...
    found = pgtools.client_tool("pg_dump", search_path=str(folder), debian_glob=nothing)
    assert found == str(folder / "pg_dump")  # ...and backups need none
    assert pgtools.client_tool("pg_restore", bindir=folder, debian_glob=nothing) == str(folder / "pg_restore")


def test_a_missing_client_tool_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ToolNotFound, match=r"pg_dump was not found \(.*\): install the PostgreSQL client"):
        pgtools.client_tool("pg_dump", search_path=str(tmp_path), debian_glob=str(tmp_path / "none-*"))


def test_the_child_gets_the_password_only_in_pgpassword(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "stale")
    env = pgtools.child_env(DbUrl.parse("postgresql://u:Fresh-1@127.0.0.1:5432/db"))
    assert env["PGPASSWORD"] == "Fresh-1" and env["PGSSLMODE"] == "disable"
    assert "Fresh-1" not in " ".join(v for k, v in env.items() if k != "PGPASSWORD")
    remote = pgtools.child_env(DbUrl.parse("postgresql://u@db.example.com/db?sslmode=require"))
    assert "PGPASSWORD" not in remote and remote.get("PGSSLMODE") != "disable"


def test_the_stream_merges_stderr_and_scrubs_every_line(tmp_path: Path) -> None:
    url = DbUrl.parse("postgresql://u:Sekr%2Ft@127.0.0.1/db")
    seen: list[str] = []
    script = "echo 'connecting with Sekr/t'; echo 'encoded Sekr%2Ft' >&2; exit 3"
    done = pgtools.stream(
        [shutil.which("sh") or "/bin/sh", "-c", script],
        env=dict(os.environ),
        cwd=tmp_path,
        what="sh",
        scrub=url.scrub,
        on_line=seen.append,
    )
    assert done.returncode == 3
    assert sorted(done.lines) == sorted(seen) == sorted(["connecting with ****", "encoded ****"])
