"""The house rules that a machine can check: ruff clean, no Invoke in the library, nothing at import time."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from .conftest import REPO


def test_ruff_is_clean() -> None:
    targets = [name for name in ("src", "tests", "bench", "tasks.py") if (REPO / name).exists()]
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "concise", *targets],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_library_does_not_import_invoke() -> None:
    library = [p for p in (REPO / "src" / "supadeploy").glob("*.py")]
    offenders = [p.name for p in library if "import invoke" in p.read_text() or "from invoke" in p.read_text()]
    assert offenders == []


def test_listing_tasks_touches_no_database(tmp_path) -> None:  # noqa: ANN001
    # No project, no .env, an unroutable URL: --list must still work, so nothing runs at import time.
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), "--list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SUPABASE_DB_URL": "postgresql://x:y@127.0.0.1:1/db"},
    )
    assert done.returncode == 0, done.stderr
    assert "db.push" in done.stdout


def test_listing_tasks_imports_nothing_heavy() -> None:
    # `invoke --list` loads every task module: they import the library inside each task, not at the top.
    probe = (
        "import sys; from invoke.loader import FilesystemLoader; FilesystemLoader(start=sys.argv[1]).load('tasks');"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'psycopg', 'rich', 'pglast', 'dotenv', 'supabase'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(REPO)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_push_run_by_ci_loads_only_what_it_uses(project_dir, db_url) -> None:  # noqa: ANN001
    # A developer feels db.push's fixed cost: output that is not a terminal (CI, a pipe) needs no rich, and a
    # push that succeeds on an unprotected target needs neither the failure cleanup nor the lock watch.
    from .conftest import run_invoke

    shutil.copy(REPO / ".squawk.toml", project_dir.root / ".squawk.toml")  # this repo's rules: no warning to draw
    project_dir.add_migration(
        "20240101000000",
        "one",
        "create table public.t (id bigint primary key);\nalter table public.t enable row level security;\n",
    )
    project_dir.set_env("local", SUPABASE_DB_URL=db_url.raw)
    ran = run_invoke(project_dir, "db.push", PYTHONPROFILEIMPORTTIME="1")
    assert ran.returncode == 0, ran.output
    assert "Applying migration 20240101000000_one.sql" in ran.stderr
    loaded = {line.rsplit("|", 1)[-1].strip() for line in ran.stderr.splitlines() if line.startswith("import time:")}
    assert "supadeploy.push" in loaded  # the probe sees the imports at all
    unused = {"supadeploy.index_builds", "supadeploy.lock_waits"}
    assert {m for m in loaded if m.split(".")[0] == "rich" or m in unused} == set()


def test_a_task_leaves_what_it_loaded_to_the_exit_not_to_the_collector() -> None:
    # The collector would run about a hundred young collections over the modules a task loads, and walk them
    # all again at exit (about 50 ms of a push): a task runs with larger thresholds, and the boundary freezes
    # what it loaded when it ends, failed or not.
    import gc

    from invoke.exceptions import Exit

    from supadeploy.errors import ConfigError
    from supadeploy.tasks.boundary import GC_THRESHOLDS, reports_errors

    seen: list[tuple[int, int, int]] = []

    def fails() -> None:
        seen.append(gc.get_threshold())
        raise ConfigError("bad value")

    thresholds = gc.get_threshold()  # an earlier test may have run a task in this process: back to Python's default
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    try:
        with pytest.raises(Exit, match="error: bad value"):
            reports_errors(fails)()
        assert seen == [GC_THRESHOLDS] and GC_THRESHOLDS[0] > 700
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
