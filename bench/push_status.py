"""Benchmark: `invoke db.push` with every rail on vs raw `supabase db push`, and `invoke db.status --env all`
over three environments vs three raw `supabase migration list` calls. Ratios measured in one run.

Targets: push <= 1.3x, status <= 0.7x.

    .venv/bin/python bench/push_status.py               # starts its own cluster in /tmp
    .venv/bin/python bench/push_status.py --rounds 5 --migrations 200
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

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import throwaway  # noqa: E402

from supadeploy.project import Project  # noqa: E402
from supadeploy.supabase_cli import find_cli  # noqa: E402


def make_project(folder: Path, count: int) -> None:
    (folder / "supabase" / "migrations").mkdir(parents=True)
    shutil.copy(ROOT / "supabase" / "config.toml", folder / "supabase" / "config.toml")
    shutil.copy(ROOT / ".squawk.toml", folder / ".squawk.toml")
    for i in range(count):
        (folder / "supabase" / "migrations" / f"{20240101000000 + i}_table_{i}.sql").write_text(
            f"create table public.t_{i} (id bigint primary key, note text);\n"
            f"alter table public.t_{i} enable row level security;\n"
            f"create index t_{i}_note_idx on public.t_{i} (note);\n"
        )


def timed(argv: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed: {(done.stderr or done.stdout)[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="superuser URL of a server to use (default: start a throwaway cluster)")
    parser.add_argument("--migrations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with ExitStack() as stack:
        server = throwaway.server(args.url, stack)
        project = Path(tempfile.mkdtemp(prefix="supadeploy-bench-project-"))
        stack.callback(shutil.rmtree, project, True)
        make_project(project, args.migrations)
        cli = find_cli(Project(project))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPADEPLOY_", "SUPABASE_"))}
        base_env.update({"SUPADEPLOY_PROJECT_DIR": str(project), "PGSSLMODE": "disable"})
        invoke = [sys.executable, "-m", "invoke", "--search-root", str(ROOT)]

        push_raw: list[float] = []
        push_ours: list[float] = []
        for round_ in range(args.rounds):
            raw_db = throwaway.fresh_db(server, f"bench_raw_{round_}")
            ours_db = throwaway.fresh_db(server, f"bench_ours_{round_}")
            (project / ".env.local").write_text(f"SUPABASE_DB_URL={ours_db.raw}\n")
            order = [("raw", raw_db), ("ours", ours_db)] if round_ % 2 == 0 else [("ours", ours_db), ("raw", raw_db)]
            for kind, url in order:
                if kind == "raw":
                    push_raw.append(
                        timed(
                            [str(cli.binary), "db", "push", f"--remote={url.raw}", "--yes", "--workdir", str(project)],
                            cwd=project,
                            env=base_env,
                        )
                    )
                else:
                    push_ours.append(timed([*invoke, "db.push"], cwd=project, env=base_env))
            for url in (raw_db, ours_db):
                with psycopg.connect(url.raw) as conn:
                    applied = conn.execute("select count(*) from supabase_migrations.schema_migrations").fetchone()
                if applied != (args.migrations,):
                    raise SystemExit(f"{url.dbname}: {applied} applied, expected {args.migrations}")
            print(f"  round {round_}: raw {push_raw[-1]:.2f}s, invoke {push_ours[-1]:.2f}s", flush=True)
        push_ratio = statistics.median(push_ours) / statistics.median(push_raw)

        envs = {
            "local": throwaway.fresh_db(server, "bench_env_local"),
            "staging": throwaway.fresh_db(server, "bench_env_staging"),
            "production": throwaway.fresh_db(server, "bench_env_production"),
        }
        for name, url in envs.items():
            (project / f".env.{name}").write_text(f"SUPABASE_DB_URL={url.raw}\n")
            subprocess.run(
                [str(cli.binary), "db", "push", f"--remote={url.raw}", "--yes", "--workdir", str(project)],
                cwd=project,
                env=base_env,
                capture_output=True,
                check=True,
                stdin=subprocess.DEVNULL,
            )
        status_raw: list[float] = []
        status_ours: list[float] = []
        for round_ in range(args.rounds * 2):

            def raw() -> float:
                return sum(
                    timed(
                        [
                            str(cli.binary),
                            "migration",
                            "list",
                            f"--remote={url.raw}",
                            "--output-format",
                            "json",
                            "--workdir",
                            str(project),
                        ],
                        cwd=project,
                        env=base_env,
                    )
                    for url in envs.values()
                )

            def ours() -> float:
                return timed([*invoke, "db.status", "--env", "all", "--json"], cwd=project, env=base_env)

            if round_ % 2:
                status_raw.append(raw())
                status_ours.append(ours())
            else:
                status_ours.append(ours())
                status_raw.append(raw())
        status_ratio = statistics.median(status_ours) / statistics.median(status_raw)

        print(f"push of {args.migrations} migrations, median of {args.rounds} fresh databases each:")
        print(f"  raw supabase db push            {statistics.median(push_raw):7.2f} s")
        print(f"  invoke db.push (all rails on)   {statistics.median(push_ours):7.2f} s")
        print(f"  ratio                           {push_ratio:7.2f}x   (target <= 1.3)")
        print(f"status over 3 environments x {args.migrations} migrations, median of {args.rounds * 2}:")
        print(f"  3 x raw supabase migration list {statistics.median(status_raw):7.2f} s")
        print(f"  invoke db.status --env all      {statistics.median(status_ours):7.2f} s")
        print(f"  ratio                           {status_ratio:7.2f}x   (target <= 0.7)")
        return 0 if push_ratio <= 1.3 and status_ratio <= 0.7 else 1


if __name__ == "__main__":
    raise SystemExit(main())
