"""Scratch databases on the runner, never on the target: a target's applied history, rebuilt by the real CLI.

`history_copy(project, env, cli)` yields a `Scratch`: a database on the scratch server (--scratch-url,
$SUPADEPLOY_SCRATCH_URL, the Docker-free cluster's shadow when the target is that local database, else
the local environment's server) holding Supabase's base schema and exactly the files the target has
applied, pushed by the real Supabase CLI. `Scratch.apply(files)` pushes more files there and times each.

`template_clone(env)` is the quick way for an idle target on this machine (CREATE DATABASE ... TEMPLATE),
and `apply_files()` pushes to any such copy. Every database made here is named
`supadeploy_scratch_<host>_<pid>_<n>` and dropped afterwards; one left by a killed run is dropped by
the next run on the same machine, as its process is gone. The target itself is only read.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg import sql

from supadeploy import environments, pgtools
from supadeploy.database import applied_migrations, connect
from supadeploy.dburl import DbUrl
from supadeploy.environments import Environment
from supadeploy.errors import CopyUnavailable, HistoryConflict, PushFailed, SupadeployError
from supadeploy.local_backend import LocalCluster, load_compat_into, recreate_database, setup_sql, shadow_for
from supadeploy.migrations import MigrationFile, discover
from supadeploy.pgtools import LineSink, discard
from supadeploy.project import CONFIG_FILE, MIGRATIONS_DIR, Project
from supadeploy.supabase_cli import SupabaseCli, applying_file

PREFIX = "supadeploy_scratch_"
# Which machine made a scratch database: a process id means something only there.
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_OURS = re.compile(rf"^{PREFIX}(?P<host>[0-9a-f]{{8}})_(?P<pid>\d+)_\d+$")
_OLDER = re.compile(r"^supadeploy_(?:dryrun|drift)_(?P<pid>\d+)$")  # named by earlier versions, on this machine
_numbers = itertools.count(1)


@dataclass(frozen=True)
class FileResult:
    """One file pushed to a copy: applied (True), failed (False) or not tried (None), why, and how long it took."""

    filename: str
    ok: bool | None
    reason: str
    seconds: float | None = None


def database_name() -> str:
    """A new scratch database's name: this machine, this process, a counter."""
    return f"{PREFIX}{HOST}_{os.getpid()}_{next(_numbers)}"


def abandoned(name: str) -> bool:
    """True for a scratch database whose process, on this machine, is gone (a killed run's leftover)."""
    found = _OURS.match(name)
    if found and found["host"] == HOST:
        return not pgtools.process_alive(int(found["pid"]))
    older = _OLDER.match(name)
    return bool(older) and not pgtools.process_alive(int(older["pid"]))  # type: ignore[index]


def sweep(admin: psycopg.Connection) -> list[str]:
    """Drop the scratch databases that killed runs left on this server; return their names."""
    rows = admin.execute("select datname from pg_database where datname like 'supadeploy\\_%'").fetchall()
    dropped = []
    for (name,) in rows:
        if abandoned(name):
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
            dropped.append(name)
    return dropped


@contextmanager
def _database(server: DbUrl, *, template: str | None = None) -> Iterator[DbUrl]:
    """A new database on server (a copy of template, if given), always dropped afterwards."""
    name = database_name()
    maintenance = server.maintenance
    with connect(maintenance) as admin:
        sweep(admin)
        create = sql.SQL("create database {}").format(sql.Identifier(name))
        if template is not None:
            create = sql.SQL("{} template {}").format(create, sql.Identifier(template))
        try:
            admin.execute(create)
        except psycopg.Error as exc:
            reason = (exc.diag.message_primary or str(exc)).splitlines()[0]
            raise CopyUnavailable(f"cannot create a scratch database on {server.where} ({reason})") from None
    try:
        yield server.with_dbname(name)
    finally:
        try:
            with connect(maintenance) as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        except SupadeployError:
            pass  # the server went away: the next run on this machine drops it


@contextmanager
def template_clone(env: Environment) -> Iterator[DbUrl]:
    """CREATE DATABASE ... TEMPLATE of a target on this machine that nobody else is connected to.

    CopyUnavailable otherwise: PostgreSQL copies only an idle database, and would wait 5 s for others
    to leave (pg_cron's scheduler never leaves the local postgres database).
    """
    if not env.url.is_loopback:
        raise CopyUnavailable(f"{env.name} is not on this machine")
    with connect(env.url.maintenance) as admin:
        for _ in range(4):  # a session closed a moment ago (our own gates') may still be leaving
            row = admin.execute(
                "select count(*) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                (env.url.dbname,),
            ).fetchone()
            others = int(row[0]) if row else 0
            if not others:
                break
            time.sleep(0.05)
    if others:
        raise CopyUnavailable(f"{env.name} has {others} other session(s)")
    with _database(env.url, template=env.url.dbname) as copy:
        yield copy


def scratch_server(project: Project, env: Environment, override: DbUrl | None = None) -> DbUrl:
    """--scratch-url, else SUPADEPLOY_SCRATCH_URL, else the local environment's server."""
    return override or env.settings.scratch_url or environments.resolve(project, "local").url


@contextmanager
def _on_shadow(shadow: LocalCluster, extra_sql: Sequence[str]) -> Iterator[DbUrl]:
    """The shadow cluster's postgres database, fresh (pg_cron lives only there), one run at a time.

    The shadow is stopped afterwards by whoever started it; one a killed run started is adopted.
    """
    shadow.root.mkdir(parents=True, exist_ok=True)
    with (shadow.root / "scratch.lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        starter = shadow.root / "started_by"
        started = shadow.start()
        if not started and starter.is_file() and not pgtools.process_alive(int(starter.read_text() or 0)):
            started = True  # a killed run started it: ours to stop now
        if started:
            starter.write_text(str(os.getpid()))
        try:
            recreate_database(shadow.url, extra_sql=extra_sql)
            yield shadow.url
        finally:
            if started:
                shadow.stop()
                starter.unlink(missing_ok=True)


@contextmanager
def empty_database(project: Project, env: Environment, server: DbUrl | None = None) -> Iterator[DbUrl]:
    """A database with Supabase's base schema (and config.toml's setup) on the runner, for env's history."""
    shadow = None if server or env.settings.scratch_url else shadow_for(project, env.settings)
    if shadow is not None:
        with _on_shadow(shadow, setup_sql(project)) as url:
            yield url
        return
    host = scratch_server(project, env, server)
    with ExitStack() as stack:
        try:
            url = stack.enter_context(_database(host))
            load_compat_into(url, extra_sql=setup_sql(project))
        except CopyUnavailable:
            raise
        except SupadeployError as exc:
            raise CopyUnavailable(
                f"no scratch database on {host.where} ({exc}): start the local database (invoke local.start) "
                "or set SUPADEPLOY_SCRATCH_URL"
            ) from None
        yield url


@dataclass(frozen=True)
class Scratch:
    """A scratch database holding a target's applied history, and a CLI bound to a folder of those files."""

    url: DbUrl
    versions: tuple[str, ...]  # what the target had applied when its history was read
    cli: SupabaseCli

    def apply(self, files: Sequence[MigrationFile], *, on_line: LineSink = discard) -> tuple[FileResult, ...]:
        """Push files (pending on the target) here with the real CLI; each file's outcome and time."""
        folder = self.cli.workdir / MIGRATIONS_DIR
        for file in files:
            shutil.copy(file.path, folder / file.filename)
        return apply_files(self.cli, self.url, files, on_line=on_line)


@contextmanager
def history_copy(
    project: Project,
    env: Environment,
    cli: SupabaseCli,
    *,
    server: DbUrl | None = None,
    versions: Sequence[str] | None = None,
) -> Iterator[Scratch]:
    """A scratch database with env's applied history (or these versions), rebuilt by the real CLI; env is only read.

    Targets with the same history share one rebuild (fleet.plan passes their versions).
    """
    files = {f.version: f for f in discover(project.migrations_dir)}
    if versions is None:
        with connect(env.url) as conn:
            conn.execute("set default_transaction_read_only = on")
            versions = [m.version for m in applied_migrations(conn)]
    missing = [v for v in versions if v not in files]
    if missing:
        raise HistoryConflict(f"cannot rebuild {env.name}: no local file for applied version(s) {', '.join(missing)}")
    workdir = Path(tempfile.mkdtemp(prefix="supadeploy-scratch-"))
    try:
        (workdir / MIGRATIONS_DIR).mkdir(parents=True)
        if (project.root / CONFIG_FILE).is_file():
            shutil.copy(project.root / CONFIG_FILE, workdir / CONFIG_FILE)
        for version in versions:
            shutil.copy(files[version].path, workdir / MIGRATIONS_DIR / files[version].filename)
        here = replace(cli, workdir=workdir)
        with empty_database(project, env, server) as url:
            if versions:
                try:
                    here.push(url, include_all=True)
                except PushFailed as failure:
                    raise CopyUnavailable(
                        f"{env.name}'s history does not rebuild on a scratch database: {failure}"
                    ) from None
            yield Scratch(url, tuple(versions), here)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def apply_files(
    cli: SupabaseCli, url: DbUrl, files: Sequence[MigrationFile], *, on_line: LineSink = discard
) -> tuple[FileResult, ...]:
    """`supabase db push --include-all` to a copy; each file timed from its `Applying migration` line to the next.

    A file the copy had already (applied on the target since its history was read) is said to be so.
    """
    started: dict[str, float] = {}

    def timed(line: str) -> None:
        name = applying_file(line)
        if name is not None:
            started[name] = time.monotonic()
        on_line(line)

    failure: PushFailed | None = None
    try:
        cli.push(url, include_all=True, on_line=timed)
    except PushFailed as exc:
        failure = exc
    ended = time.monotonic()
    order = sorted(started, key=started.__getitem__)
    ends = {name: started[order[i + 1]] if i + 1 < len(order) else ended for i, name in enumerate(order)}
    results = []
    for file in files:
        took = ends[file.filename] - started[file.filename] if file.filename in started else None
        if failure is not None and file.filename == failure.file:
            where = f" in statement {failure.statement}" if failure.statement else ""
            results.append(FileResult(file.filename, ok=False, reason=f"{failure.detail}{where}", seconds=took))
        elif file.filename in started:
            results.append(FileResult(file.filename, ok=True, reason="applies cleanly", seconds=took))
        elif failure is not None:
            results.append(FileResult(file.filename, ok=None, reason="not tried: an earlier file fails"))
        else:
            results.append(
                FileResult(file.filename, ok=True, reason="applied on the target meanwhile, by another push")
            )
    return tuple(results)
