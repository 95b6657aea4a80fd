"""Benchmark: fleet.promote over 12 targets with max_parallel = 4, against promoting them one after another.

Both run the same rails per target (lock, plan, verified backup, push, verify with the advisors, record) on
fresh databases cloned from one template before each timed run, medians of --rounds, taking turns on who
goes first. Baselines, measured in the same run:
  - the same fleet with max_parallel = 1                                   target <= 0.4x
  - 12 x `invoke env.promote --from staging --to <target> --yes`, a shell loop (reported, no target)
For each run: how busy the machine's cores were (other work on a shared machine shows here), the CPU our
side spent (this process and its children: the Supabase CLI, pg_dump) and the server's (the postmaster
and its backends, when the server runs here). The serial run's CPU over the cores is the least time any
parallel run can take: the "floor" line. Then one target's promotion step by step.

    .venv/bin/python bench/fleet_promote.py               # starts its own cluster in /tmp
    .venv/bin/python bench/fleet_promote.py --rounds 5 --migrations 10 --no-shell-loop
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import throwaway  # noqa: E402

from supadeploy import advisors, backups, environments, promotion  # noqa: E402
from supadeploy.dburl import DbUrl  # noqa: E402
from supadeploy.fleet import load  # noqa: E402
from supadeploy.project import Project  # noqa: E402
from supadeploy.push import push  # noqa: E402
from supadeploy.rollout import plan_fleet, promote_fleet  # noqa: E402
from supadeploy.settings import LOCAL_PASSWORD, ProcessSettings  # noqa: E402
from supadeploy.supabase_cli import find_cli  # noqa: E402

TARGET_RATIO = 0.4
TARGETS = [f"t{i:02d}" for i in range(1, 13)]


def make_project(folder: Path, migrations: int, parallel: int) -> None:
    (folder / "supabase" / "migrations").mkdir(parents=True)
    shutil.copy(ROOT / "supabase" / "config.toml", folder / "supabase" / "config.toml")
    shutil.copy(ROOT / ".squawk.toml", folder / ".squawk.toml")
    for i in range(migrations):
        (folder / "supabase" / "migrations" / f"{20240101000000 + i}_table_{i}.sql").write_text(
            f"create table public.t_{i} (id bigint primary key, note text);\n"
            f"alter table public.t_{i} enable row level security;\n"
        )
    write_fleet(folder, parallel)


def write_fleet(folder: Path, parallel: int) -> None:
    names = ", ".join(f'"{t}"' for t in TARGETS)
    (folder / "supabase" / "fleet.toml").write_text(
        f'[[waves]]\nname = "all"\ntargets = [{names}]\nmax_parallel = {parallel}\n'
    )


# As on Supabase, the databases belong to postgres, who pushes (the throwaway cluster's password for it).
OWNER = "postgres"


def clone(server: DbUrl, template: str, name: str) -> DbUrl:
    with psycopg.connect(server.raw, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.execute(
            sql.SQL("create database {} template {} owner {}").format(
                sql.Identifier(name), sql.Identifier(template), sql.Identifier(OWNER)
            )
        )
    return DbUrl.parse(f"postgresql://{OWNER}:{LOCAL_PASSWORD}@{server.host}:{server.port}/{name}")


def fresh_targets(server: DbUrl, template: str, project: Path, round_: int, kind: str) -> None:
    for name in TARGETS:
        url = clone(server, template, f"bench_fleet_{kind}_{round_}_{name}")
        (project / f".env.{name}").write_text(f"SUPABASE_DB_URL={url.raw}\n")


def fleet_run(project: Path, parallel: int, backups_dir: Path) -> None:
    write_fleet(project, parallel)
    proj = Project(project)
    fleet = load(proj)
    cli = find_cli(proj)
    source = environments.resolve(proj, "staging", environ={})
    planned = plan_fleet(proj, fleet, source, cli, names=fleet.targets, environ={}, with_lint=False, with_drift=False)
    report = promote_fleet(
        proj, planned, cli, process=ProcessSettings(actor="bench", sha="b"), backup_folder=str(backups_dir)
    )
    if not report.ok or sum(o.outcome == "promoted" for o in report.outcomes) != len(TARGETS):
        raise SystemExit(f"fleet run failed: {report.as_dict()}")


def shell_loop(project: Path, backups_dir: Path, env: dict[str, str]) -> None:
    invoke = [sys.executable, "-m", "invoke", "--search-root", str(ROOT)]
    for name in TARGETS:
        argv = [*invoke, "env.promote", "--from", "staging", "--to", name, "--yes", "--backup-dir", str(backups_dir)]
        done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"env.promote to {name} failed: {done.stderr[-500:]}")


def cpu_ticks() -> tuple[int, int]:
    """Busy and total ticks of the whole machine (every core), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def our_cpu() -> float:
    """CPU seconds of this process and of every child it has waited for (the CLI, pg_dump, invoke)."""
    return sum(
        r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def server_cpu(postmaster: int | None) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, its finished backends and its live ones."""
    if postmaster is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / tick


@dataclass
class Meter:
    """Wall time, the machine's busy share, and the CPU our side and the server spent, over one run."""

    postmaster: int | None
    wall: float = 0.0
    busy: float = 0.0
    client: float = 0.0
    server: float = 0.0

    @contextmanager
    def running(self) -> Iterator[None]:
        busy0, total0 = cpu_ticks()
        client0, server0 = our_cpu(), server_cpu(self.postmaster)
        started = time.perf_counter()
        yield
        self.wall = time.perf_counter() - started
        busy1, total1 = cpu_ticks()
        self.busy = (busy1 - busy0) / max(1, total1 - total0)
        self.client, self.server = our_cpu() - client0, server_cpu(self.postmaster) - server0


def postmaster_of(server: DbUrl) -> int | None:
    """The server's postmaster pid when it runs on this machine and we may read its data directory."""
    try:
        with psycopg.connect(server.raw) as conn:
            row = conn.execute("show data_directory").fetchone()
        return int((Path(str(row[0])) / "postmaster.pid").read_text().split()[0]) if row else None
    except (OSError, psycopg.Error, ValueError):
        return None


@contextmanager
def measured(into: dict[str, tuple[float, float]], step: str) -> Iterator[None]:
    """Wall time and CPU time (ours and our children's) of one step."""
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    yield
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, before, strict=True))
    into[step] = (wall, cpu)


def breakdown(project: Path, server: DbUrl, template: str, backups_dir: Path) -> dict[str, tuple[float, float]]:
    """Where one target's promotion spends its time (client-side CPU only: the server's is not counted)."""
    url = clone(server, template, "bench_fleet_breakdown")
    (project / ".env.t01").write_text(f"SUPABASE_DB_URL={url.raw}\n")
    proj = Project(project)
    cli = find_cli(proj)
    source = environments.resolve(proj, "staging", environ={})
    target = environments.resolve(proj, "t01", environ={}, declared=True)
    steps: dict[str, tuple[float, float]] = {}
    with measured(steps, "source gates (once per run: checksums, advisors on staging)"):
        versions = promotion.source_gates(proj, source, cli)
    with measured(steps, "plan the target (history, prefix)"):
        promotion.plan_target(source.name, versions, target)
    with measured(steps, "backup (pg_dump, pg_restore --list)"):
        backups.backup(proj, target, folder=str(backups_dir))
    with measured(steps, "push (the Supabase CLI)"):
        push(proj, target, cli)
    with measured(steps, "verify: advisors on the target (the Supabase CLI)"):
        advisors.advisors(cli, target)
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--url",
        help="superuser URL of a server whose postgres role has password postgres (default: a throwaway cluster)",
    )
    parser.add_argument("--migrations", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--no-shell-loop", action="store_true", help="skip the 12 x invoke env.promote baseline")
    args = parser.parse_args()
    with ExitStack() as stack:
        server = throwaway.server(args.url, stack)
        project = Path(tempfile.mkdtemp(prefix="supadeploy-bench-fleet-"))
        stack.callback(shutil.rmtree, project, True)
        backups_dir = project / "backups"
        make_project(project, args.migrations, args.parallel)
        template = throwaway.fresh_db(server, "bench_fleet_template")
        with psycopg.connect(server.raw, autocommit=True) as admin:
            admin.execute(sql.SQL("alter database {} is_template true").format(sql.Identifier(template.dbname)))
        staging = clone(server, template.dbname, "bench_fleet_staging")
        (project / ".env.staging").write_text(f"SUPABASE_DB_URL={staging.raw}\n")
        proj = Project(project)
        push(proj, environments.resolve(proj, "staging", environ={}), find_cli(proj))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPADEPLOY_", "SUPABASE_"))}
        env.update({"SUPADEPLOY_PROJECT_DIR": str(project), "PGSSLMODE": "disable", "PYTHONPATH": str(ROOT / "src")})

        runs: dict[str, Callable[[], None]] = {
            "parallel": lambda: fleet_run(project, args.parallel, backups_dir),
            "serial": lambda: fleet_run(project, 1, backups_dir),
        }
        if not args.no_shell_loop:
            runs["loop"] = lambda: shell_loop(project, backups_dir, env)
        postmaster = postmaster_of(server)
        meters: dict[str, list[Meter]] = {k: [] for k in runs}
        for round_ in range(args.rounds):
            order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
            for kind in order:
                fresh_targets(server, template.dbname, project, round_, kind)  # not timed
                meter = Meter(postmaster)
                with meter.running():
                    runs[kind]()
                meters[kind].append(meter)
            print(
                f"  round {round_}: "
                + ", ".join(f"{k} {meters[k][-1].wall:.2f}s ({meters[k][-1].busy:.0%} busy)" for k in runs),
                flush=True,
            )
        med = {
            k: {f: statistics.median(getattr(m, f) for m in ms) for f in ("wall", "busy", "client", "server")}
            for k, ms in meters.items()
        }
        ratio = med["parallel"]["wall"] / med["serial"]["wall"]
        steps = breakdown(project, server, template.dbname, backups_dir)
        cores = os.cpu_count() or 1
        labels = {
            "parallel": f"fleet.promote, max_parallel = {args.parallel}",
            "serial": "fleet.promote, max_parallel = 1 (serial)",
            "loop": "12 x invoke env.promote (shell loop)",
        }
        print(f"12 targets, {args.migrations} migrations each, median of {args.rounds} rounds, {cores} core(s):")
        print(f"  {'':<42}{'wall':>8}  {'machine busy':>12}  {'our CPU':>8}  {'server CPU':>10}")
        for kind in runs:
            m = med[kind]
            print(f"  {labels[kind]:<42}{m['wall']:7.2f}s  {m['busy']:12.0%}  {m['client']:7.2f}s  {m['server']:9.2f}s")
        if "loop" in med:
            print(f"  {'ratio against the shell loop':<42}{med['parallel']['wall'] / med['loop']['wall']:7.2f}x")
        print(f"  {'ratio against serial':<42}{ratio:7.2f}x   (target <= {TARGET_RATIO})")
        # CPU-bound work cannot finish faster than the cores allow: the serial run's CPU (ours and the
        # server's) spread over every core is the least time any parallel run can take.
        work = med["serial"]["client"] + med["serial"]["server"]
        print(f"  {'floor set by the cores: CPU / cores / serial':<42}{work / cores / med['serial']['wall']:7.2f}x")
        print("one target's promotion, step by step (wall / client CPU; the server's CPU is not counted):")
        for step, (wall, cpu) in steps.items():
            print(f"  {step:<62} {wall:6.2f} s / {cpu:5.2f} s")
        return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
