"""Benchmark: the rollback path on the shipped schema with data, against the bare tools, in one run.

Cases (each a median of --rounds, ours and the baseline taking turns):
  - backup:  db.backup (schemas, dependents, partial file, verify, link) vs bare `pg_dump -Fc`       target <= 1.5x
  - restore: db.restore in place (lock, drop, relay, privileges reset, dependents) vs bare
             `pg_restore --single-transaction` of the same entries into a copy with room made      target <= 2.5x
             (a fixed ~0.15 s: the drops, the privileges reset, a second pg_restore for the ACLs; it
             weighs less as data grows: 1.35x with --users 200000)
  - dry run on a busy target: a scratch copy of its history (scratch.history_copy + apply) vs a
             template clone of an idle one (what the dry run did before on this machine)            reported

    .venv/bin/python bench/rollback.py                   # starts its own cluster in /tmp
    .venv/bin/python bench/rollback.py --rounds 5 --users 20000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import throwaway  # noqa: E402

from supadeploy import backups, pgtools, scratch  # noqa: E402
from supadeploy.dburl import DbUrl  # noqa: E402
from supadeploy.environments import Environment  # noqa: E402
from supadeploy.migrations import MigrationFile  # noqa: E402
from supadeploy.project import Project  # noqa: E402
from supadeploy.push import push  # noqa: E402
from supadeploy.supabase_cli import find_cli  # noqa: E402

TARGETS = {"backup": 1.5, "restore": 2.5}


def median_seconds(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def shipped(server: DbUrl, users: int) -> DbUrl:
    """The shipped schema, pushed by the real CLI, with `users` auth users (and their profiles)."""
    url = throwaway.fresh_db(server, "bench_rollback")
    repo = Project(ROOT)
    push(repo, Environment.for_url("bench", url), find_cli(repo), lint=False)
    with psycopg.connect(url.raw, autocommit=True) as conn:
        conn.execute(
            "insert into auth.users (id, aud, role, email, raw_user_meta_data, created_at, updated_at)"
            " select gen_random_uuid(), 'authenticated', 'authenticated', 'u' || i || '@bench.test', '{}', now(), now()"
            " from generate_series(1, %s) i",
            (users,),
        )
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="a superuser URL (default: a throwaway cluster)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=20000)
    args = parser.parse_args()
    with ExitStack() as stack:
        server = throwaway.server(args.server, stack)
        folder = Path(tempfile.mkdtemp(prefix="supadeploy-bench-rollback-"))
        stack.callback(shutil.rmtree, folder, True)
        (folder / "supabase" / "migrations").mkdir(parents=True)
        shutil.copy(ROOT / "supabase" / "config.toml", folder / "supabase" / "config.toml")
        for path in sorted((ROOT / "supabase" / "migrations").glob("*.sql")):
            shutil.copy(path, folder / "supabase" / "migrations" / path.name)
        project = Project(folder)
        url = shipped(server, args.users)
        env = Environment.for_url("bench", url)
        pg_dump, pg_restore = pgtools.client_tool("pg_dump"), pgtools.client_tool("pg_restore")
        with psycopg.connect(url.raw) as conn:
            schemas = backups.project_schemas(conn)
        child = pgtools.child_env(url)

        def bare_dump() -> None:
            argv = [pg_dump, "-Fc", "--file", str(folder / "bare.dump"), "--dbname", url.without_password]
            subprocess.run([*argv, *(f"--schema={s}" for s in schemas)], env=child, check=True)

        def our_backup() -> None:
            backups.backup(project, env, folder=str(folder / "backups"))

        results = {"backup": (median_seconds(bare_dump, args.rounds), median_seconds(our_backup, args.rounds))}

        dump = backups.backup(project, env, folder=str(folder / "kept")).file
        listing = backups.read_listing(pgtools.run([pg_restore, "--list", dump], url, "pg_restore --list"))
        objects = [e.line for e in listing if not (e.kind == "SCHEMA" and e.name == "public")]
        (folder / "objects.list").write_text("\n".join(objects) + "\n")

        bare = server.with_dbname("bench_rollback_bare")

        def make_room() -> None:
            """A copy of the target (auth.users included) with our schemas gone: not part of the baseline's time."""
            with psycopg.connect(server.raw, autocommit=True) as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(bare.dbname)))
                admin.execute(
                    sql.SQL("create database {} template {}").format(
                        sql.Identifier(bare.dbname), sql.Identifier(url.dbname)
                    )
                )
            with psycopg.connect(bare.raw, autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))
                conn.execute("create schema public")

        def bare_restore() -> None:
            argv = [pg_restore, "--single-transaction", "--exit-on-error", "--use-list", str(folder / "objects.list")]
            subprocess.run([*argv, "--dbname", bare.without_password, dump], env=child, check=True)

        def our_restore() -> None:
            backups.restore(env, Path(dump))

        timings = [], []
        for _ in range(args.rounds):  # turns: a fresh database for the baseline is not part of its time
            make_room()
            for times, action in zip(timings, (bare_restore, our_restore), strict=True):
                started = time.perf_counter()
                action()
                times.append(time.perf_counter() - started)
        results["restore"] = (statistics.median(timings[0]), statistics.median(timings[1]))

        pending = MigrationFile("20991231000000", "bench", folder / "pending.sql")
        pending.path.write_text("create table public.bench_pending (id bigint primary key);\n")
        cli = find_cli(project)

        def clone() -> None:
            with scratch.template_clone(env) as copy:
                scratch.apply_files(cli, copy, [pending])

        def history() -> None:
            with scratch.history_copy(project, env, cli, server=server) as copy:
                copy.apply([pending])

        results["dry run"] = (median_seconds(clone, args.rounds), median_seconds(history, args.rounds))

    print(f"shipped schema, {args.users} users, median of {args.rounds} rounds")
    print(f"{'case':<10} {'baseline s':>11} {'ours s':>9} {'ratio':>7}  target")
    for case, (baseline, ours) in results.items():
        target = f"<= {TARGETS[case]:.2f}x" if case in TARGETS else "reported"
        print(f"{case:<10} {baseline:>11.3f} {ours:>9.3f} {ours / baseline:>6.2f}x  {target}")


if __name__ == "__main__":
    main()
