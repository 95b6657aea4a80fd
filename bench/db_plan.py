"""Benchmark: `invoke db.plan` against `invoke db.push --dry-run`, 10 pending files on a target with 200 applied
migrations, both on this machine (so both rehearse on a template copy). Ratio of medians, measured in one run.

Target (issue 17): db.plan <= 1.5x db.push --dry-run. Each round runs the dry run, a cold plan (no kept advisors
session in .supadeploy/cache: the advisors CLI runs once, as on a fresh CI runner) and a warm plan (the session an
earlier plan kept is replayed: no advisors CLI at all); both ratios are printed, the exit code follows the warm one.
Also prints what the read-only half of the plan costs (history, catalog statistics, classification), in-process.

    .venv/bin/python bench/db_plan.py               # starts its own cluster in /tmp
    .venv/bin/python bench/db_plan.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import throwaway  # noqa: E402
from push_status import make_project, timed  # noqa: E402

from supadeploy import ddl_locks  # noqa: E402
from supadeploy.database import applied_migrations, connect  # noqa: E402
from supadeploy.project import Project  # noqa: E402
from supadeploy.supabase_cli import find_cli  # noqa: E402
from supadeploy.table_sizes import read_tables  # noqa: E402


def add_pending(project: Path, applied: int, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = project / "supabase" / "migrations" / f"{20250101000000 + i}_pending_{i}.sql"
        path.write_text(
            f"alter table public.t_{i} add column if not exists tag text;\n"
            f"create table public.p_{i} (id bigint primary key, t_id bigint references public.t_{i} (id));\n"
            f"alter table public.p_{i} enable row level security;\n"
            f"create index if not exists p_{i}_t_idx on public.p_{i} (t_id);\n"
        )
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="superuser URL of a server to use (default: start a throwaway cluster)")
    parser.add_argument("--migrations", type=int, default=200)
    parser.add_argument("--pending", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with ExitStack() as stack:
        server = throwaway.server(args.url, stack)
        project = Path(tempfile.mkdtemp(prefix="supadeploy-bench-plan-"))
        stack.callback(shutil.rmtree, project, True)
        make_project(project, args.migrations)
        shutil.copy(ROOT / ".squawk.toml", project / ".squawk.toml")
        cli = find_cli(Project(project))
        # As on Supabase, the toolkit connects as postgres (the database's owner), not as the superuser.
        target = throwaway.as_postgres(throwaway.fresh_db(server, "bench_plan_target"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPADEPLOY_", "SUPABASE_"))}
        env.update({"SUPADEPLOY_PROJECT_DIR": str(project), "PGSSLMODE": "disable"})
        subprocess.run(
            [str(cli.binary), "db", "push", f"--remote={target.raw}", "--yes", "--workdir", str(project)],
            cwd=project,
            env=env,
            capture_output=True,
            check=True,
            stdin=subprocess.DEVNULL,
        )
        pending = add_pending(project, args.migrations, args.pending)
        (project / ".env.local").write_text(f"SUPABASE_DB_URL={target.raw}\n")
        invoke = [sys.executable, "-m", "invoke", "--search-root", str(ROOT)]

        cache = project / ".supadeploy" / "cache"
        times: dict[str, list[float]] = {"dry": [], "cold": [], "warm": []}
        reading: list[float] = []
        for round_ in range(args.rounds):
            runs = [("dry", "db.push", "--dry-run"), ("cold", "db.plan", "--json"), ("warm", "db.plan", "--json")]
            for kind, *task in runs if round_ % 2 == 0 else [runs[1], runs[2], runs[0]]:
                if kind == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
                times[kind].append(timed([*invoke, *task], cwd=project, env=env))
            started = time.perf_counter()
            with connect(target) as conn:
                applied_migrations(conn)
                tables = read_tables(conn)
            ddl_locks.classify(pending, tables)
            reading.append(time.perf_counter() - started)
            dry, cold, warm = (times[k][-1] for k in ("dry", "cold", "warm"))
            print(f"  round {round_}: dry run {dry:.2f}s, plan cold {cold:.2f}s, warm {warm:.2f}s", flush=True)
        with connect(target) as conn:
            left = len(applied_migrations(conn))
        if left != args.migrations:
            raise SystemExit(f"the target changed: {left} applied, expected {args.migrations}")
        dry, cold, warm = (statistics.median(times[k]) for k in ("dry", "cold", "warm"))
        print(f"{args.pending} pending files on a target with {args.migrations} applied, median of {args.rounds}:")
        print(f"  invoke db.push --dry-run                  {dry:7.2f} s")
        print(f"  invoke db.plan, cold (advisors CLI once)  {cold:7.2f} s   ratio {cold / dry:5.2f}x")
        print(f"  invoke db.plan, warm (session replayed)   {warm:7.2f} s   ratio {warm / dry:5.2f}x   (target <= 1.5)")
        print(f"  read-only half (history, table_sizes.sql, classify): {statistics.median(reading):.3f} s")
        return 0 if warm / dry <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
