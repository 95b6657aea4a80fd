"""Benchmark: the Docker-free local database, as a developer types it, against bare PostgreSQL measured in
the same run.

  from nothing   `invoke local.start db.push` (initdb, Supabase's base schema, this repo's migrations)
                 vs `initdb` + `pg_ctl start` of the same binaries            target: < 5 s
  running        `invoke local.start` on a cluster that runs vs `invoke --list`  target: < 1 s
  stopped        `invoke local.start` on a stopped cluster vs `pg_ctl start`    target: < 1 s

Medians of --rounds rounds, each round on a new cluster in /tmp.

    .venv/bin/python bench/local_start.py
    .venv/bin/python bench/local_start.py --rounds 7
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from supadeploy.local_backend import SERVER_USER, find_bindir, free_port  # noqa: E402

TARGETS = {"from nothing": 5.0, "running": 1.0, "stopped": 1.0}


def timed(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, as_server_user: bool = False) -> float:
    kwargs: dict[str, object] = {}
    if as_server_user and os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, **kwargs
    )  # type: ignore[call-overload]
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {(done.stderr or done.stdout)[-500:]}")
    return elapsed


def scratch() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="supadeploy-bench-", dir="/tmp"))
    folder.chmod(0o755)  # the postgres system user enters it when we run as root
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        os.chown(folder, account.pw_uid, account.pw_gid)
    return folder


def bare_round(bindir: Path) -> tuple[float, float]:
    """initdb + pg_ctl start, then pg_ctl start alone after a stop: PostgreSQL's own floor."""
    folder = scratch()
    data = folder / "pgdata"
    port = str(free_port())
    start = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", f"-p {port} -k {folder}"]
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "bench", "--auth=trust"]
        fresh = timed(initdb, cwd=folder, as_server_user=True)
        fresh += timed([*start, "-w", "start"], cwd=folder, as_server_user=True)
        timed([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], cwd=folder, as_server_user=True)
        again = timed([*start, "-w", "start"], cwd=folder, as_server_user=True)
        timed([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], cwd=folder, as_server_user=True)
        return fresh, again
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ours_round() -> tuple[float, float, float, float]:
    """invoke local.start db.push from nothing, local.start running, local.start stopped, invoke --list."""
    project = Path(tempfile.mkdtemp(prefix="supadeploy-bench-project-"))
    local = scratch()
    shutil.copytree(ROOT / "supabase", project / "supabase")
    shutil.copy(ROOT / ".squawk.toml", project / ".squawk.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPADEPLOY_", "SUPABASE_"))}
    env.update(
        SUPADEPLOY_PROJECT_DIR=str(project),
        SUPADEPLOY_LOCAL_DIR=str(local / "local"),
        SUPADEPLOY_LOCAL_PORT=str(free_port()),
        SUPADEPLOY_LOCAL_BACKEND="cluster",
    )
    invoke = [sys.executable, "-m", "invoke", "--search-root", str(ROOT)]
    try:
        fresh = timed([*invoke, "local.start", "db.push"], cwd=project, env=env)
        running = timed([*invoke, "local.start"], cwd=project, env=env)
        timed([*invoke, "local.stop"], cwd=project, env=env)
        stopped = timed([*invoke, "local.start"], cwd=project, env=env)
        listing = timed([*invoke, "--list"], cwd=project, env=env)
        return fresh, running, stopped, listing
    finally:
        subprocess.run([*invoke, "local.stop"], cwd=project, env=env, capture_output=True, check=False)
        shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(local, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bindir = find_bindir()
    rows: dict[str, list[float]] = {name: [] for name in ("fresh", "running", "stopped", "list", "bare", "bare_start")}
    for _ in range(args.rounds):
        bare, bare_start = bare_round(bindir)
        fresh, running, stopped, listing = ours_round()
        for name, value in zip(rows, (fresh, running, stopped, listing, bare, bare_start), strict=True):
            rows[name].append(value)
    median = {name: statistics.median(values) for name, values in rows.items()}
    lines = [
        ("from nothing", median["fresh"], "initdb + pg_ctl start", median["bare"]),
        ("running", median["running"], "invoke --list", median["list"]),
        ("stopped", median["stopped"], "pg_ctl start", median["bare_start"]),
    ]
    print(f"median of {args.rounds} rounds")
    for name, ours, baseline_name, baseline in lines:
        verdict = "ok" if ours < TARGETS[name] else "OVER TARGET"
        print(
            f"{name:13} {ours:6.2f}s  vs {baseline_name:22} {baseline:6.2f}s  ratio {ours / baseline:5.2f}x  "
            f"(target < {TARGETS[name]:.0f}s: {verdict})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
