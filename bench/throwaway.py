"""What the benchmarks share: a server to measure on (given, or a throwaway cluster in /tmp), fresh databases."""

from __future__ import annotations

import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict  # noqa: E402

from supadeploy.dburl import DbUrl  # noqa: E402
from supadeploy.local_backend import LocalCluster, apply_compat, free_port  # noqa: E402
from supadeploy.settings import LOCAL_PASSWORD  # noqa: E402


def server(url: str | None, stack: ExitStack) -> DbUrl:
    """The superuser URL given, or a cluster started now and stopped and deleted when the stack closes."""
    if url:
        return DbUrl.parse(url)
    root = Path(tempfile.mkdtemp(prefix="supadeploy-bench-", dir="/tmp"))
    root.chmod(0o755)  # the postgres system user must enter it when we run as root
    stack.callback(shutil.rmtree, root, True)
    cluster = LocalCluster(root=root, port=free_port(), durable=False)
    cluster.start()
    stack.callback(cluster.stop)
    return cluster.admin_url


def as_postgres(url: DbUrl) -> DbUrl:
    """The same database as Supabase's postgres role (not a superuser), with the local password."""
    parts = conninfo_to_dict(url.raw)
    return DbUrl.parse(f"postgresql://postgres:{LOCAL_PASSWORD}@{parts['host']}:{parts['port']}/{parts['dbname']}")


def fresh_db(server: DbUrl, name: str, *, compat: bool = True, owner: str | None = None) -> DbUrl:
    """An empty database `name` (dropped first if it exists), with Supabase's base schema unless compat=False.

    owner="postgres" makes it postgres's, as a Supabase project's database is (see as_postgres()).
    """
    create = sql.SQL("create database {}").format(sql.Identifier(name))
    if owner:
        create += sql.SQL(" owner {}").format(sql.Identifier(owner))
    with psycopg.connect(server.raw, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.execute(create)
    url = server.with_dbname(name)
    if compat:
        with psycopg.connect(url.raw, autocommit=True) as conn:
            apply_compat(conn)
    return url
