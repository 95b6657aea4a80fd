"""The Docker-free local backend, on real PostgreSQL binaries, run as the postgres user under root."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from supadeploy.errors import LocalBackendError, ToolNotFound
from supadeploy.local_backend import LocalCluster, free_port
from supadeploy.pgtools import find_bindir

from .conftest import ProjectDir, Server, run_invoke


@pytest.fixture
def scratch_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="supadeploy-cluster-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_finds_server_binaries_of_version_15_or_newer() -> None:
    bindir = find_bindir()
    assert (bindir / "initdb").is_file() and (bindir / "postgres").is_file()


def test_missing_binaries_say_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ToolNotFound, match="install postgresql-15"):
        find_bindir(tmp_path, search_path=str(tmp_path), debian_glob=str(tmp_path / "*"))


def test_start_is_idempotent_status_reports_and_stop_stops(scratch_root: Path) -> None:
    cluster = LocalCluster(root=scratch_root, port=free_port(), durable=False)
    assert cluster.status().running is False
    assert cluster.start() is True
    try:
        assert cluster.start() is False
        status = cluster.status()
        assert status.running and status.server_version and int(status.server_version.split(".")[0]) >= 15
        assert "****" in status.url and ":postgres@" not in status.url
        with psycopg.connect(cluster.url.raw) as conn:
            me = conn.execute("select current_user, rolsuper from pg_roles where rolname = current_user").fetchone()
            assert me == ("postgres", False)
            roles = {r for (r,) in conn.execute("select rolname from pg_roles")}
            assert {"anon", "authenticated", "service_role", "authenticator", "supabase_admin"} <= roles
            bypass = conn.execute("select rolbypassrls from pg_roles where rolname = 'service_role'").fetchone()
            assert bypass == (True,)
            exts = {e for (e,) in conn.execute("select extname from pg_extension")}
            assert {"pgcrypto", "uuid-ossp"} <= exts
    finally:
        assert cluster.stop() is True
    assert cluster.stop() is False
    assert cluster.status().running is False
    # A cluster made before supabase_admin was its superuser (no layout record) is refused, with the way out.
    (scratch_root / "cluster.json").unlink()
    with pytest.raises(LocalBackendError, match=r"older supadeploy .*invoke db.backup.*invoke local.reset --yes"):
        cluster.start()
    assert cluster.status().running is False


def test_a_port_taken_by_another_server_is_refused(scratch_root: Path, pg_server: Server) -> None:
    if not pg_server.url.is_loopback:
        pytest.skip("needs the session server on loopback")
    cluster = LocalCluster(root=scratch_root, port=pg_server.url.port, durable=False)
    with pytest.raises(LocalBackendError, match=f"port {pg_server.url.port} is already in use"):
        cluster.start()
    # The next start, on a free port, finishes setting up the cluster the failed one made.
    again = LocalCluster(root=scratch_root, port=free_port(), durable=False)
    try:
        assert again.start() is True
        with psycopg.connect(again.url.raw) as conn:  # postgres, with the local password
            assert conn.execute("select to_regclass('auth.users') is not null").fetchone() == (True,)
    finally:
        again.stop()


def test_password_auth_is_enforced_over_tcp(pg_server: Server) -> None:
    if pg_server.url.password != "postgres":
        pytest.skip("only for the session's own cluster")
    wrong = pg_server.url.raw.replace(":postgres@", ":wrong@")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong).close()


def test_local_tasks_start_status_stop(project_dir: ProjectDir, scratch_root: Path) -> None:
    port = str(free_port())
    env = {
        "SUPADEPLOY_LOCAL_DIR": str(scratch_root / "local"),
        "SUPADEPLOY_LOCAL_PORT": port,
        "SUPADEPLOY_LOCAL_BACKEND": "cluster",
    }
    first = run_invoke(project_dir, "local.start", **env)
    assert first.returncode == 0, first.output
    assert "started" in first.stdout
    try:
        again = run_invoke(project_dir, "local.start", **env)
        assert again.returncode == 0 and "already running" in again.stdout
        status = run_invoke(project_dir, "local.status", "--json", **env)
        assert status.returncode == 0, status.output
        assert '"running": true' in status.stdout and f":{port}/" in status.stdout
        assert ":postgres@" not in status.output
    finally:
        stopped = run_invoke(project_dir, "local.stop", **env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    nothing = run_invoke(project_dir, "local.stop", **env)
    assert "nothing to stop" in nothing.stdout


def test_local_reset_needs_yes_and_wipes_the_data(project_dir: ProjectDir, scratch_root: Path) -> None:
    port = free_port()
    env = {
        "SUPADEPLOY_LOCAL_DIR": str(scratch_root / "local"),
        "SUPADEPLOY_LOCAL_PORT": str(port),
        "SUPADEPLOY_LOCAL_BACKEND": "cluster",
    }
    assert run_invoke(project_dir, "local.start", **env).returncode == 0
    url = f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table precious (id int)")
        refused = run_invoke(project_dir, "local.reset", **env)
        assert refused.returncode == 1 and "--yes" in refused.stderr
        with psycopg.connect(url) as conn:
            assert conn.execute("select to_regclass('public.precious')").fetchone() != (None,)
        reset = run_invoke(project_dir, "local.reset", "--yes", **env)
        assert reset.returncode == 0, reset.output
        with psycopg.connect(url) as conn:
            assert conn.execute("select to_regclass('public.precious')").fetchone() == (None,)
            assert conn.execute("select to_regprocedure('auth.uid()') is not null").fetchone() == (True,)
    finally:
        run_invoke(project_dir, "local.stop", **env)
