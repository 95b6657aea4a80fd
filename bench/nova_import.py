"""Benchmark: `nova.import` of 1M Nova deployments vs raw COPY of the same rows into an empty table.

Builds a Nova-like database (tests/nova_layout.sql) with 1M deployments (plus 20k users, 2k teams,
20k memberships, 20k projects, 4k tokens) and a target with the shipped schema, on one server. Then,
in one run: the whole import (staging COPY, mapping, upserts into the live tables with all their
indexes, checks and foreign keys, reconciliation), timed end to end, against two raw COPY relays of
the same deployments (`copy ... to stdout` into `copy ... from stdin`, as a hand-written load would):
into an empty table defined as public.deployments (the target: >= 0.5), and into a bare table
without indexes or constraints (shown as the floor no load into the live table can reach).
Also prints the idempotent rerun's rate.

    .venv/bin/python bench/nova_import.py                  # starts its own cluster in /tmp
    .venv/bin/python bench/nova_import.py --deployments 200000
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import throwaway  # noqa: E402

from supadeploy.app import nova  # noqa: E402
from supadeploy.dburl import DbUrl  # noqa: E402
from supadeploy.environments import Environment  # noqa: E402
from supadeploy.project import Project  # noqa: E402
from supadeploy.push import push  # noqa: E402
from supadeploy.supabase_cli import find_cli  # noqa: E402

# cuid-like ids: 'c' + 24 lowercase alphanumerics, as Prisma's cuid() makes.
LOAD = """
insert into "User" (id, email, name, "createdAt", "updatedAt")
select 'cu' || substr(md5('u' || i), 1, 23), 'user' || i || '@nova.dev', 'User ' || i, now(), now()
from generate_series(1, %(users)s) i;
insert into "Team" (id, name, slug, "createdAt", "updatedAt")
select 'ct' || substr(md5('t' || i), 1, 23), 'Team ' || i, 'team-' || i, now(), now()
from generate_series(1, %(teams)s) i;
insert into "TeamMember" (id, "teamId", "userId", role, "createdAt")
select 'cm' || substr(md5('m' || i), 1, 23), 'ct' || substr(md5('t' || (i %% %(teams)s + 1)), 1, 23),
       'cu' || substr(md5('u' || i), 1, 23), (case when i <= %(teams)s then 'OWNER' else 'MEMBER' end)::"TeamRole",
       now()
from generate_series(1, %(users)s) i;
insert into "Project" (id, "teamId", name, "createdAt", "updatedAt")
select 'cp' || substr(md5('p' || i), 1, 23), 'ct' || substr(md5('t' || (i %% %(teams)s + 1)), 1, 23),
       'Project ' || i, now(), now()
from generate_series(1, %(projects)s) i;
insert into "Deployment" (id, "projectId", target, status, "commitSha", url, "createdById", "createdAt",
                          "startedAt", "finishedAt")
select 'cd' || substr(md5('d' || i), 1, 23), 'cp' || substr(md5('p' || (i %% %(projects)s + 1)), 1, 23),
       (array['DEVELOPMENT', 'STAGING', 'PRODUCTION'])[i %% 3 + 1]::"DeploymentTarget",
       (array['QUEUED', 'BUILDING', 'READY', 'ERROR', 'CANCELED'])[i %% 5 + 1]::"DeploymentStatus",
       substr(md5('sha' || i), 1, 40), 'https://nova.dev/d/' || i,
       'cu' || substr(md5('u' || (i %% %(users)s + 1)), 1, 23),
       now() - interval '1 hour', now() - interval '50 minutes', now() - interval '40 minutes'
from generate_series(1, %(deployments)s) i;
insert into "ApiToken" (id, "teamId", name, "hashedKey", "createdAt", "expiresAt")
select 'ck' || substr(md5('k' || i), 1, 23), 'ct' || substr(md5('t' || (i %% %(teams)s + 1)), 1, 23),
       'token ' || i, md5('key' || i), now(), now() + interval '30 days'
from generate_series(1, %(tokens)s) i;
"""
ACCOUNTS = """
insert into auth.users (id, email, aud, role, created_at)
select extensions.gen_random_uuid(), 'user' || i || '@nova.dev', 'authenticated', 'authenticated', now()
from generate_series(1, %(users)s) i
"""


def prepare(server: DbUrl, sizes: dict[str, int]) -> tuple[DbUrl, DbUrl]:
    started = time.perf_counter()
    source = throwaway.fresh_db(server, "bench_nova", compat=False)
    with psycopg.connect(source.raw, autocommit=True) as conn:
        conn.execute((ROOT / "tests" / "nova_layout.sql").read_text().encode())
        psycopg.ClientCursor(conn).execute(LOAD.encode(), sizes)  # several statements: bind client-side
        conn.execute("vacuum analyze")
    target = throwaway.fresh_db(server, "bench_nova_target")
    repo = Project(ROOT)
    push(repo, Environment.for_url("local", target, source="bench"), find_cli(repo))
    with psycopg.connect(target.raw, autocommit=True) as conn:
        conn.execute(ACCOUNTS.encode(), sizes)
    print(f"loaded Nova ({', '.join(f'{k}={v}' for k, v in sizes.items())}) in {time.perf_counter() - started:.1f}s")
    return source, target


def relay(src: psycopg.Connection, read: sql.Composable, dst: psycopg.Connection, write: sql.Composable) -> int:
    rows = 0
    with src.cursor().copy(read) as out, dst.cursor().copy(write) as into:
        for chunk in out:
            into.write(chunk)
            rows += bytes(chunk).count(b"\n")
    return rows


def copy_nova_rows(source: DbUrl, target: DbUrl) -> tuple[int, float]:
    """Baseline 1: the Deployment rows, as Nova has them, into an empty table of the same columns, no index."""
    model = nova.BY_NAME["Deployment"]
    columns = sql.SQL(", ").join(sql.Identifier(c) for c, _ in model.columns)
    with psycopg.connect(source.raw, autocommit=True) as src, psycopg.connect(target.raw, autocommit=True) as dst:
        dst.execute("drop table if exists public.bench_raw")
        dst.execute(
            sql.SQL("create table public.bench_raw ({})").format(
                sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in model.columns)
            )
        )
        started = time.perf_counter()
        rows = relay(
            src,
            sql.SQL('copy (select {} from "Deployment") to stdout').format(columns),
            dst,
            sql.SQL("copy public.bench_raw ({}) from stdin").format(columns),
        )
        elapsed = time.perf_counter() - started
        dst.execute("drop table public.bench_raw")
    return rows, elapsed


def copy_landed_rows(target: DbUrl) -> tuple[int, float]:
    """Baseline 2: the same deployments, as they landed, into an empty table defined as public.deployments
    (its indexes, checks and foreign keys): the least any load into the live table has to pay."""
    with psycopg.connect(target.raw, autocommit=True) as src, psycopg.connect(target.raw, autocommit=True) as dst:
        dst.execute("drop table if exists public.bench_like")
        dst.execute("create table public.bench_like (like public.deployments including all)")
        for (definition,) in dst.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conrelid = 'public.deployments'::regclass "
            "and contype = 'f'"
        ).fetchall():
            dst.execute(sql.SQL("alter table public.bench_like add {}").format(sql.SQL(definition)))
        started = time.perf_counter()
        rows = relay(
            src, sql.SQL("copy public.deployments to stdout"), dst, sql.SQL("copy public.bench_like from stdin")
        )
        elapsed = time.perf_counter() - started
        dst.execute("drop table public.bench_like")
    return rows, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="superuser URL of a server to use (default: start a throwaway cluster)")
    parser.add_argument("--deployments", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=nova.DEFAULT_BATCH_ROWS)
    args = parser.parse_args()
    sizes = {"users": 20_000, "teams": 2_000, "projects": 20_000, "deployments": args.deployments, "tokens": 4_000}
    with ExitStack() as stack:
        server = throwaway.server(args.url, stack)
        source, target = prepare(server, sizes)
        copy_nova_rows(source, target)  # warm the source's cache: every run then reads it hot
        rows, bare_seconds = copy_nova_rows(source, target)
        started = time.perf_counter()
        report = nova.run_import(source, target, "local", batch_rows=args.batch_rows)
        import_seconds = time.perf_counter() - started
        landed, like_seconds = copy_landed_rows(target)
        started = time.perf_counter()
        again = nova.run_import(source, target, "local", batch_rows=args.batch_rows)
        rerun_seconds = time.perf_counter() - started
    deployments = next(t for t in report.tables if t.table == "deployments")
    assert report.balanced and deployments.inserted == rows == landed, report.as_dict()
    assert all(t.inserted == t.updated == 0 for t in again.tables), again.as_dict()
    rate = deployments.inserted / import_seconds
    like_rate = landed / like_seconds
    bare_rate = rows / bare_seconds
    print(f"\n{rows:,} Nova deployments (and the rest of Nova), one run, deployments per second:")
    print(f"  nova.import, whole import (staging, mapping, upserts, report)  {rate:10,.0f}  ({import_seconds:.1f}s)")
    print(f"  raw COPY into an empty table defined as public.deployments     {like_rate:10,.0f}  ({like_seconds:.1f}s)")
    print(f"  raw COPY into an empty table without indexes or constraints    {bare_rate:10,.0f}  ({bare_seconds:.1f}s)")
    print(f"  ratio to the same-definition COPY   {rate / like_rate:6.2f}   (target >= 0.5)")
    print(
        f"  ratio to the bare-table COPY        {rate / bare_rate:6.2f}   (indexes, checks and foreign keys included)"
    )
    print(f"  rerun, nothing to change            {rows / rerun_seconds:10,.0f} rows/s  ({rerun_seconds:.1f}s)")
    return 0 if rate / like_rate >= 0.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
