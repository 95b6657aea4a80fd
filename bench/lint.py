"""Benchmark: linting 200 migration files with db.lint vs squawk alone on the same files, in one run.

The files cycle through this repo's shipped migrations and the lint corpus (tables, policies,
PL/pgSQL SECURITY DEFINER functions, grants, `supabase db diff` output), about 16,000 lines.
Each round times, in alternating order, wall clock and CPU (user + system, child processes included):

- squawk alone: the squawk binary over the files with .squawk.toml (what db.lint runs anyway);
- db.lint: `lint.lint()` in-process: squawk started first, the Supabase rules over the whole history
  while it runs, then its findings sifted;
- the Supabase rules alone (`squawk=False`), to show what db.lint adds;
- invoke db.lint: the task as a user runs it (Python start-up and imports included), for reference.

Target: db.lint <= 1.5x squawk alone (wall-clock medians). squawk and the rules run side by side, so
the wall ratio needs a free core; on a machine whose cores are all busy it tends to the CPU ratio
(rules + squawk) / squawk, which is also printed, with the load average.

    .venv/bin/python bench/lint.py
    .venv/bin/python bench/lint.py --files 200 --rounds 7
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from supadeploy import lint  # noqa: E402
from supadeploy.project import Project  # noqa: E402

CORPUS = ROOT / "tests" / "lint_corpus"


def templates() -> list[Path]:
    shipped = sorted((ROOT / "supabase" / "migrations").glob("*.sql"))
    corpus = [p for p in sorted(CORPUS.glob("*.sql")) if p.stem != "bad_syntax"]
    return shipped + corpus


def make_project(folder: Path, count: int) -> list[Path]:
    migrations = folder / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    shutil.copy(ROOT / "supabase" / "config.toml", folder / "supabase" / "config.toml")
    shutil.copy(ROOT / ".squawk.toml", folder / ".squawk.toml")
    sources = templates()
    paths = []
    for i in range(count):
        source = sources[i % len(sources)]
        path = migrations / f"{20240101000000 + i}_{source.stem}.sql"
        path.write_text(source.read_text())
        paths.append(path)
    return paths


def cpu() -> float:
    """CPU seconds used so far by this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    started, used = time.perf_counter(), cpu()
    run()
    return time.perf_counter() - started, cpu() - used


def squawk_alone(project: Path, paths: list[Path]) -> None:
    argv = [lint.squawk_binary(), "--reporter", "json", "--pg-version", "15", "--config", str(project / ".squawk.toml")]
    subprocess.run([*argv, *map(str, paths)], cwd=project, capture_output=True, check=False, stdin=subprocess.DEVNULL)


def task(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPADEPLOY_", "SUPABASE_"))}
    env["SUPADEPLOY_PROJECT_DIR"] = str(project)
    argv = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "db.lint", "--json"]
    subprocess.run(argv, cwd=project, env=env, capture_output=True, check=False, stdin=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="supadeploy-bench-lint-"))
    try:
        paths = make_project(project, args.files)
        lines = sum(p.read_text().count("\n") for p in paths)
        findings = lint.lint(Project(project), paths)  # warm-up: imports, page cache
        print(f"{len(paths)} files, {lines} lines, {len(findings)} findings")
        proj = Project(project)
        runs = {
            "squawk": lambda: squawk_alone(project, paths),
            "lint": lambda: lint.lint(proj, paths),
            "rules": lambda: lint.lint(proj, paths, squawk=False),
            "task": lambda: task(project),
        }
        wall: dict[str, list[float]] = {kind: [] for kind in runs}
        used: dict[str, list[float]] = {kind: [] for kind in runs}
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for round_ in range(args.rounds):
            order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
            for kind in order:
                seconds, cpu_seconds = timed(runs[kind])
                wall[kind].append(seconds)
                used[kind].append(cpu_seconds)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        median = {kind: statistics.median(times) for kind, times in wall.items()}
        cpu_median = {kind: statistics.median(times) for kind, times in used.items()}
        labels = {
            "squawk": "squawk alone",
            "lint": "db.lint (library)",
            "rules": "Supabase rules only",
            "task": "invoke db.lint",
        }
        for kind, label in labels.items():
            rounds = " ".join(f"{t:.3f}" for t in wall[kind])
            print(f"{label:<20} wall median {median[kind]:.3f}s  CPU median {cpu_median[kind]:.3f}s  rounds: {rounds}")
        ratio = median["lint"] / median["squawk"]
        print(f"db.lint / squawk alone, wall: {ratio:.2f}x (target <= 1.5x)")
        print(f"db.lint / squawk alone, CPU: {cpu_median['lint'] / cpu_median['squawk']:.2f}x")
        print(f"Supabase rules / squawk alone, CPU: {cpu_median['rules'] / cpu_median['squawk']:.2f}x")
        print(f"invoke db.lint / squawk alone, wall: {median['task'] / median['squawk']:.2f}x (with start-up)")
        return 0 if ratio <= 1.5 else 1
    finally:
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
