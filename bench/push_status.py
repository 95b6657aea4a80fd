"""Benchmark: `invoke db.push` with every rail on vs raw `supabase db push`, and `invoke db.status --env all`
over three environments vs three raw `supabase migration list` calls. Ratios measured in one run.

Cases (each a median of --rounds, raw and ours taking turns on fresh databases):
  - N migrations onto an empty database                    target <= 1.15x
  - 1 pending migration onto a database with N applied     target <= 1.2x  (the push a developer feels)
  - status over 3 environments x N migrations              target <= 0.7x

Each push case also times the floor of any Invoke task that wraps the CLI: Python importing Invoke, then
the raw push (what `invoke` costs before a task body runs). Where the floor's own ratio is near the
target, the target is out of reach for a push through Invoke on that machine.

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
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import throwaway  # noqa: E402

from supadeploy.dburl import DbUrl  # noqa: E402
from supadeploy.project import Project  # noqa: E402
from supadeploy.supabase_cli import find_cli  # noqa: E402

TARGETS = {"empty": 1.15, "one": 1.2, "status": 0.7}
FLOOR = "import subprocess, sys, invoke; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def migration(folder: Path, i: int) -> Path:
    path = folder / "supabase" / "migrations" / f"{20240101000000 + i}_table_{i}.sql"
    path.write_text(
        f"create table public.t_{i} (id bigint primary key, note text);\n"
        f"alter table public.t_{i} enable row level security;\n"
        f"create index t_{i}_note_idx on public.t_{i} (note);\n"
    )
    return path


def make_project(folder: Path, count: int) -> None:
    (folder / "supabase" / "migrations").mkdir(parents=True)
    shutil.copy(ROOT / "supabase" / "config.toml", folder / "supabase" / "config.toml")
    shutil.copy(ROOT / ".squawk.toml", folder / ".squawk.toml")
    for i in range(count):
        migration(folder, i)


def timed(argv: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed: {(done.stderr or done.stdout)[-500:]}")
    return elapsed


def clone(server: DbUrl, template: str, name: str) -> DbUrl:
    """A copy of template owned by postgres, as postgres's URL (both pushes connect as on Supabase)."""
    with psycopg.connect(server.raw, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.execute(
            sql.SQL("create database {} template {} owner postgres").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return throwaway.as_postgres(server.with_dbname(name))


def applied(url: DbUrl) -> int:
    with psycopg.connect(url.raw) as conn:
        row = conn.execute("select count(*) from supabase_migrations.schema_migrations").fetchone()
    return int(row[0]) if row else 0


def interleave(rounds: int, label: str, runs: dict[str, Callable[[int], float]]) -> dict[str, float]:
    """The median of each run, the runs taking turns on who goes first."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            times[name].append(runs[name](round_))
        print(f"  {label} round {round_}: " + ", ".join(f"{n} {t[-1]:.3f}s" for n, t in times.items()), flush=True)
    return {name: statistics.median(t) for name, t in times.items()}


def report(took: dict[str, float], ratio: float, target: float) -> list[str]:
    """A push case's lines: the raw CLI, the floor (Python and Invoke, then the raw CLI), ours, the ratios."""
    return [
        f"  raw supabase db push            {took['raw']:7.3f} s",
        f"  floor: invoke's import + raw    {took['floor']:7.3f} s   ({took['floor'] / took['raw']:.2f}x)",
        f"  invoke db.push (all rails on)   {took['invoke']:7.3f} s",
        f"  ratio                           {ratio:7.2f}x   (target <= {target})",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="superuser URL of a server to use (default: start a throwaway cluster)")
    parser.add_argument("--migrations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=sorted(TARGETS), action="append", help="run only these cases")
    args = parser.parse_args()
    cases = args.only or sorted(TARGETS)
    with ExitStack() as stack:
        server = throwaway.server(args.url, stack)
        project = Path(tempfile.mkdtemp(prefix="supadeploy-bench-project-"))
        stack.callback(shutil.rmtree, project, True)
        make_project(project, args.migrations)
        cli = find_cli(Project(project))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPADEPLOY_", "SUPABASE_"))}
        # The subprocesses import supadeploy from this checkout, whatever the venv's editable install points at.
        base_env.update(
            {"SUPADEPLOY_PROJECT_DIR": str(project), "PGSSLMODE": "disable", "PYTHONPATH": str(ROOT / "src")}
        )
        invoke = [sys.executable, "-m", "invoke", "--search-root", str(ROOT)]

        def raw_push(url: DbUrl) -> float:
            argv = [str(cli.binary), "db", "push", f"--remote={url.raw}", "--yes", "--workdir", str(project)]
            return timed(argv, cwd=project, env=base_env)

        def floor_push(url: DbUrl) -> float:
            """The least any Invoke task wrapping the CLI costs: Python, Invoke's import, then the raw push."""
            argv = [str(cli.binary), "db", "push", f"--remote={url.raw}", "--yes", "--workdir", str(project)]
            return timed([sys.executable, "-c", FLOOR, *argv], cwd=project, env=base_env)

        def our_push(url: DbUrl) -> float:
            (project / ".env.local").write_text(f"SUPABASE_DB_URL={url.raw}\n")
            return timed([*invoke, "db.push"], cwd=project, env=base_env)

        ratios: dict[str, float] = {}
        results: list[str] = []
        if "empty" in cases:
            empty = throwaway.fresh_db(server, "bench_empty_template", owner="postgres")

            def on_empty(push: Callable[[DbUrl], float], kind: str) -> Callable[[int], float]:
                def run(round_: int) -> float:
                    url = clone(server, empty.dbname, f"bench_{kind}_{round_}")
                    took = push(url)
                    if applied(url) != args.migrations:
                        raise SystemExit(f"{url.dbname}: expected {args.migrations} applied")
                    return took

                return run

            runs = {"raw": raw_push, "floor": floor_push, "invoke": our_push}
            took = interleave(args.rounds, "empty", {k: on_empty(push, k) for k, push in runs.items()})
            ratios["empty"] = took["invoke"] / took["raw"]
            results += [
                f"push of {args.migrations} migrations onto an empty database, median of {args.rounds}:",
                *report(took, ratios["empty"], TARGETS["empty"]),
            ]

        if "one" in cases:
            # A database with N applied, pushed once by us (so our ledger is there, as after any earlier push).
            full = throwaway.as_postgres(throwaway.fresh_db(server, "bench_full_template", owner="postgres"))
            our_push(full)
            extra = migration(project, args.migrations)

            def one_more(push: Callable[[DbUrl], float], kind: str) -> Callable[[int], float]:
                def run(round_: int) -> float:
                    url = clone(server, full.dbname, f"bench_one_{kind}_{round_}")
                    took = push(url)
                    if applied(url) != args.migrations + 1:
                        raise SystemExit(f"{url.dbname}: expected {args.migrations + 1} applied")
                    return took

                return run

            rounds = max(args.rounds, 5)  # each run is short: more rounds for a steady median
            runs = {"raw": raw_push, "floor": floor_push, "invoke": our_push}
            took = interleave(rounds, "one", {k: one_more(push, k) for k, push in runs.items()})
            extra.unlink()
            ratios["one"] = took["invoke"] / took["raw"]
            results += [
                f"push of 1 pending migration onto a database with {args.migrations} applied, median of {rounds}:",
                *report(took, ratios["one"], TARGETS["one"]),
            ]

        if "status" in cases:
            envs = {
                name: throwaway.as_postgres(throwaway.fresh_db(server, f"bench_env_{name}", owner="postgres"))
                for name in ("local", "staging", "production")
            }
            for name, url in envs.items():
                raw_push(url)
                (project / f".env.{name}").write_text(f"SUPABASE_DB_URL={url.raw}\n")

            def raw_status(_round: int) -> float:
                return sum(
                    timed(
                        [str(cli.binary), "migration", "list", f"--remote={url.raw}", "--output-format", "json"]
                        + ["--workdir", str(project)],
                        cwd=project,
                        env=base_env,
                    )
                    for url in envs.values()
                )

            def our_status(_round: int) -> float:
                return timed([*invoke, "db.status", "--env", "all", "--json"], cwd=project, env=base_env)

            took = interleave(args.rounds * 2, "status", {"raw": raw_status, "invoke": our_status})
            raw, ours = took["raw"], took["invoke"]
            ratios["status"] = ours / raw
            results += [
                f"status over 3 environments x {args.migrations} migrations, median of {args.rounds * 2}:",
                f"  3 x raw supabase migration list {raw:7.3f} s",
                f"  invoke db.status --env all      {ours:7.3f} s",
                f"  ratio                           {ratios['status']:7.2f}x   (target <= {TARGETS['status']})",
            ]
        print("\n".join(results))
        return 0 if all(ratios[c] <= TARGETS[c] for c in ratios) else 1


if __name__ == "__main__":
    raise SystemExit(main())
