"""ddl_locks against the real server: every sampled form is run, its locks read from pg_locks, its rewrite from
relfilenode, and both compared with what the classifier says (and with PostgreSQL's documentation, below)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from supadeploy import ddl_locks
from supadeploy.dburl import DbUrl
from supadeploy.ddl_locks import Effect, LockMode, Risk, Size
from supadeploy.table_sizes import TargetTables, read_tables

from .conftest import Server, database_from

LAB = """
create schema lab;
-- postgres is no superuser (as on Supabase): a new owner needs CREATE on the schema.
grant create on schema lab to authenticated;
create table lab.parent (id int primary key, name varchar(20), amount numeric(10,2), at timestamp(3),
                         note text, n int);
create table lab.child (id int primary key, parent_id int, code text);
alter table lab.child add constraint child_parent_fk foreign key (parent_id) references lab.parent (id);
alter table lab.parent add constraint parent_n_check check (n > 0) not valid;
create index parent_note_idx on lab.parent (note);
insert into lab.parent select g, 'n' || g, g, now(), 'x', 1 from generate_series(1, 100) g;
insert into lab.child select g, g, 'c' from generate_series(1, 100) g;
create materialized view lab.mv as select id from lab.parent;
create unique index mv_id_idx on lab.mv (id);
create view lab.v as select id from lab.parent;
create domain lab.posint as int check (value > 0);
create function lab.trg() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger parent_trg before insert on lab.parent for each row execute function lab.trg();
create policy p_read on lab.parent for select using (true);
create publication lab_pub;
create table lab.part (id int, k int) partition by list (k);
create table lab.part1 partition of lab.part for values in (1);
create table lab.loose (id int, k int);
analyze lab.parent, lab.child;
"""

AE, SRE, SHARE, SUE = "ACCESS EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE", "SHARE UPDATE EXCLUSIVE"
EX, RE = "EXCLUSIVE", "ROW EXCLUSIVE"

# (statement, {relation: lock mode per PostgreSQL 15's documentation}, tables rewritten)
FORMS: list[tuple[str, dict[str, str], set[str]]] = [
    ("alter table lab.parent add column x int", {"parent": AE}, set()),
    ("alter table lab.parent add column x int default 5", {"parent": AE}, set()),
    ("alter table lab.parent add column x timestamptz default now()", {"parent": AE}, set()),
    ("alter table lab.parent add column x uuid default gen_random_uuid()", {"parent": AE}, {"parent"}),
    ("alter table lab.parent add column x lab.posint", {"parent": AE}, {"parent"}),
    ("alter table lab.parent add column x bigint generated always as identity", {"parent": AE}, {"parent"}),
    ("alter table lab.parent add column x int generated always as (n * 2) stored", {"parent": AE}, {"parent"}),
    ("alter table lab.parent add column x serial", {"parent": AE}, {"parent"}),
    ("alter table lab.parent add column x int not null default 1", {"parent": AE}, set()),
    ("alter table lab.parent add column x int references lab.child (id)", {"parent": AE, "child": SRE}, set()),
    ("alter table lab.parent alter column name type text", {"parent": AE}, set()),
    ("alter table lab.parent alter column name type varchar(40)", {"parent": AE}, set()),
    ("alter table lab.parent alter column name type varchar(10)", {"parent": AE}, {"parent"}),
    ("alter table lab.parent alter column n type bigint", {"parent": AE}, {"parent"}),
    ("alter table lab.parent alter column n type integer using n + 1", {"parent": AE}, {"parent"}),
    ("alter table lab.parent alter column amount type numeric(12,2)", {"parent": AE}, set()),
    ("alter table lab.parent alter column amount type numeric(12,3)", {"parent": AE}, {"parent"}),
    ("alter table lab.parent alter column at type timestamp(6)", {"parent": AE}, set()),
    ("alter table lab.parent alter column n set not null", {"parent": AE}, set()),
    ("alter table lab.parent alter column n drop not null", {"parent": AE}, set()),
    ("alter table lab.parent alter column n set default 3", {"parent": AE}, set()),
    ("alter table lab.parent alter column n set statistics 200", {"parent": SUE}, set()),
    ("alter table lab.parent alter column n set (n_distinct = 10)", {"parent": SUE}, set()),
    ("alter table lab.parent add constraint c check (n > 0)", {"parent": AE}, set()),
    ("alter table lab.parent add constraint c check (n > 0) not valid", {"parent": AE}, set()),
    ("alter table lab.parent validate constraint parent_n_check", {"parent": SUE}, set()),
    ("alter table lab.child validate constraint child_parent_fk", {"child": SUE}, set()),
    (
        "alter table lab.child add constraint c2 foreign key (parent_id) references lab.parent (id)",
        {"child": SRE, "parent": SRE},
        set(),
    ),
    (
        "alter table lab.child add constraint c2 foreign key (parent_id) references lab.parent (id) not valid",
        {"child": SRE, "parent": SRE},
        set(),
    ),
    ("alter table lab.parent add constraint u unique (name)", {"parent": AE}, set()),
    ("alter table lab.child drop constraint child_parent_fk", {"child": AE, "parent": AE}, set()),
    ("alter table lab.parent drop constraint parent_n_check", {"parent": AE}, set()),
    ("alter table lab.parent drop column note", {"parent": AE}, set()),
    ("alter table lab.child drop column parent_id", {"child": AE, "parent": AE}, set()),
    ("alter table lab.parent rename column note to memo", {"parent": AE}, set()),
    ("alter table lab.parent rename to parent2", {"parent": AE}, set()),
    ("alter table lab.parent rename constraint parent_n_check to pc", {"parent": AE}, set()),
    ("alter index lab.parent_note_idx rename to pni", {"parent_note_idx": SUE}, set()),
    ("alter table lab.parent enable row level security", {"parent": AE}, set()),
    ("alter table lab.parent force row level security", {"parent": AE}, set()),
    ("alter table lab.parent set (fillfactor = 70)", {"parent": SUE}, set()),
    ("alter table lab.parent set (autovacuum_enabled = false)", {"parent": SUE}, set()),
    ("alter table lab.parent owner to authenticated", {"parent": AE}, set()),
    ("alter table lab.parent set schema public", {"parent": AE}, set()),
    ("alter table lab.parent disable trigger parent_trg", {"parent": SRE}, set()),
    ("alter table lab.parent replica identity full", {"parent": AE}, set()),
    ("alter table lab.parent cluster on parent_note_idx", {"parent": SUE}, set()),
    ("alter table lab.child alter constraint child_parent_fk deferrable", {"child": AE}, set()),
    ("alter table lab.part attach partition lab.loose for values in (2)", {"part": SUE, "loose": AE}, set()),
    ("alter table lab.part detach partition lab.part1", {"part": AE, "part1": AE}, set()),
    ("create table lab.part2 partition of lab.part for values in (3)", {"part": AE}, set()),
    ("create table lab.c3 (id int references lab.parent (id))", {"parent": SRE}, set()),
    ("create index i2 on lab.parent (n)", {"parent": SHARE}, set()),
    ("create unique index i2 on lab.parent (id, n)", {"parent": SHARE}, set()),
    ("create trigger t2 after update on lab.parent for each row execute function lab.trg()", {"parent": SRE}, set()),
    ("drop trigger parent_trg on lab.parent", {"parent": AE}, set()),
    ("alter trigger parent_trg on lab.parent rename to pt", {"parent": AE}, set()),
    ("create policy p2 on lab.parent for select to authenticated using (true)", {"parent": AE}, set()),
    ("alter policy p_read on lab.parent using (false)", {"parent": AE}, set()),
    ("drop policy p_read on lab.parent", {"parent": AE}, set()),
    ("create rule r as on insert to lab.child do instead nothing", {"child": AE}, set()),
    ("comment on table lab.parent is 'x'", {"parent": SUE}, set()),
    ("comment on column lab.parent.n is 'x'", {"parent": SUE}, set()),
    ("comment on constraint parent_n_check on lab.parent is 'x'", {}, set()),
    ("grant select on lab.parent to anon", {}, set()),
    ("revoke select on lab.parent from anon", {}, set()),
    ("grant update (n) on lab.parent to authenticated", {}, set()),
    ("refresh materialized view lab.mv", {"mv": AE}, {"mv"}),
    ("refresh materialized view concurrently lab.mv", {"mv": EX}, set()),
    ("truncate lab.child", {"child": AE}, {"child"}),
    ("truncate lab.parent cascade", {"parent": AE, "child": AE}, {"parent", "child"}),
    ("drop table lab.child", {"child": AE, "parent": AE}, set()),
    ("drop view lab.v", {"v": AE}, set()),
    ("drop materialized view lab.mv", {"mv": AE}, set()),
    ("drop index lab.parent_note_idx", {"parent": AE}, set()),
    ("reindex index lab.parent_note_idx", {"parent": SHARE, "parent_note_idx": AE}, set()),
    ("reindex table lab.parent", {"parent": SHARE}, set()),
    ("cluster lab.parent using parent_pkey", {"parent": AE}, {"parent"}),
    ("analyze lab.parent", {"parent": SUE}, set()),
    ("insert into lab.child values (1000, 1, 'x')", {"child": RE}, set()),
    ("update lab.parent set n = 2", {"parent": RE}, set()),
    ("delete from lab.child where id = 1", {"child": RE}, set()),
    (
        "merge into lab.child c using lab.parent p on c.id = p.id when matched then update set code = 'z'",
        {"child": RE},
        set(),
    ),
    ("lock table lab.parent in share mode", {"parent": SHARE}, set()),
    ("create or replace view lab.v as select id, n from lab.parent", {"v": AE}, set()),
    ("alter view lab.v set (security_invoker = true)", {"v": AE}, set()),
    ("create statistics lab.st on n, amount from lab.parent", {"parent": SUE}, set()),
    ("alter publication lab_pub add table lab.parent", {"parent": SUE}, set()),
    ("create function lab.f() returns int language sql as 'select 1'", {}, set()),
]

# Weaker locks than this only block ACCESS EXCLUSIVE and EXCLUSIVE: the plan does not list them.
REPORTED_FROM = LockMode.ROW_EXCLUSIVE


@pytest.fixture(scope="module")
def lab(pg_server: Server, template_db: str) -> Iterator[tuple[DbUrl, TargetTables]]:
    with database_from(pg_server, template_db, "locks") as url:
        with psycopg.connect(url.raw, autocommit=True) as conn:
            conn.execute(LAB)
            yield url, read_tables(conn)


def relations(conn: psycopg.Connection) -> dict[int, tuple[str, str, int]]:
    """oid -> (name, relkind, relfilenode) for everything in schema lab."""
    rows = conn.execute(
        "select c.oid, c.relname, c.relkind, c.relfilenode from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'lab'"
    ).fetchall()
    return {oid: (name, kind, node) for oid, name, kind, node in rows}


def strongest(locks: list[tuple[int, str]], names: dict[int, tuple[str, str, int]]) -> dict[str, LockMode]:
    by_mode = {mode.pg_locks_mode: mode for mode in LockMode}
    found: dict[str, LockMode] = {}
    for oid, mode in locks:
        if oid in names:
            name = names[oid][0]
            found[name] = max(found.get(name, LockMode.ACCESS_SHARE), by_mode[mode])
    return found


def observe(conn: psycopg.Connection, statement: str) -> tuple[dict[str, LockMode], set[str], dict[int, tuple]]:
    """Run the statement in a transaction; the strongest lock per relation it holds, and what was rewritten."""
    before = relations(conn)
    conn.execute("begin")
    try:
        conn.execute(statement)
        held = conn.execute(
            "select relation::int, mode from pg_locks "
            "where pid = pg_backend_pid() and granted and locktype = 'relation'"
        ).fetchall()
        after = relations(conn)
    finally:
        conn.execute("rollback")
    rewritten = {
        name for oid, (name, kind, node) in before.items() if kind in "rmp" and oid in after and after[oid][2] != node
    }
    return strongest(held, before), rewritten, before


def classified(statement: str, target: TargetTables) -> ddl_locks.StatementLocks:
    [found] = ddl_locks.classify_sql(statement, target)
    return found


@pytest.mark.parametrize(("statement", "documented", "rewrites"), FORMS, ids=[f[0][:70] for f in FORMS])
def test_each_form_takes_the_locks_it_is_classified_with(
    lab: tuple[DbUrl, TargetTables], statement: str, documented: dict[str, str], rewrites: set[str]
) -> None:
    url, target = lab
    plan = classified(statement, target)
    assert plan.known, plan.unknowns
    said = {lock.relation.split(".", 1)[1]: lock.mode for lock in plan.locks}
    said_rewrite = {lock.relation.split(".", 1)[1] for lock in plan.locks if lock.effect is Effect.REWRITE}
    with psycopg.connect(url.raw, autocommit=True) as conn:
        held, rewritten, names = observe(conn, statement)
    kinds = {name: kind for name, kind, _ in names.values()}
    # What the server held: every non-index relation at ROW EXCLUSIVE or stronger, plus any the plan names.
    seen = {name: mode for name, mode in held.items() if (mode >= REPORTED_FROM and kinds[name] != "i") or name in said}
    assert {k: v.label for k, v in said.items()} == documented, "classifier differs from the documentation"
    assert seen == said, f"server held {seen}, classifier says {said}"
    assert rewritten == rewrites == said_rewrite, f"rewritten {rewritten}, classifier says {said_rewrite}"


def test_the_sample_covers_the_forms_the_plan_must_know() -> None:
    text = " ".join(statement for statement, _, _ in FORMS)
    for form in (
        "add column",
        "type",
        "create index",
        "create trigger",
        "foreign key",
        "validate constraint",
        "drop table",
        "rename",
        "comment on",
        "create policy",
        "enable row level security",
        "grant",
        "refresh materialized view",
        "cluster",
        "truncate",
        "update",
        "set not null",
    ):
        assert form in text, form
    assert len(FORMS) >= 15


# Forms that cannot run in a transaction block: another session holds SHARE UPDATE EXCLUSIVE (which lets the
# brief ACCESS SHARE of name lookup through), the mode the statement then waits for is read from pg_locks (not
# granted yet), the blocker lets go and the statement completes; its rewrite is read after it committed.
OUTSIDE_TRANSACTION = [
    ("create index concurrently ci on lab.parent (n)", "parent", LockMode.SHARE_UPDATE_EXCLUSIVE, False),
    ("drop index concurrently lab.parent_note_idx", "parent", LockMode.SHARE_UPDATE_EXCLUSIVE, False),
    ("vacuum lab.parent", "parent", LockMode.SHARE_UPDATE_EXCLUSIVE, False),
    ("vacuum full lab.child", "child", LockMode.ACCESS_EXCLUSIVE, True),
    ("reindex index concurrently lab.parent_note_idx", "parent", LockMode.SHARE_UPDATE_EXCLUSIVE, False),
]


@pytest.mark.parametrize(("statement", "table", "mode", "rewrites"), OUTSIDE_TRANSACTION, ids=lambda v: str(v)[:50])
def test_forms_outside_a_transaction_wait_for_the_mode_they_are_classified_with(
    pg_server: Server, template_db: str, statement: str, table: str, mode: LockMode, rewrites: bool
) -> None:
    with database_from(pg_server, template_db, "nontx") as url:
        with psycopg.connect(url.raw, autocommit=True) as setup:
            setup.execute(LAB)
            target = read_tables(setup)
        plan = classified(statement, target)
        [lock] = [lock for lock in plan.locks if lock.relation == f"lab.{table}"]
        assert lock.mode is mode
        assert (lock.effect is Effect.REWRITE) is rewrites
        with (
            psycopg.connect(url.raw, autocommit=True) as blocker,
            psycopg.connect(url.raw, autocommit=True) as worker,
            psycopg.connect(url.raw, autocommit=True) as watcher,
        ):
            oid, node = watcher.execute(
                "select oid, relfilenode from pg_class where oid = %s::regclass", (f"lab.{table}",)
            ).fetchone()
            pid = worker.info.backend_pid
            blocker.execute("begin")
            blocker.execute(f"lock table lab.{table} in share update exclusive mode")
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    worker.execute(statement)
                except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                    errors.append(exc)

            thread = threading.Thread(target=run)
            thread.start()
            waited = None
            deadline = time.monotonic() + 20
            while waited is None and time.monotonic() < deadline:
                row = watcher.execute(
                    "select mode from pg_locks where pid = %s and relation = %s and not granted", (pid, oid)
                ).fetchone()
                waited = row[0] if row else None
                time.sleep(0.05)
            blocker.execute("rollback")
            thread.join(60)
            assert not errors, errors
            assert waited == mode.pg_locks_mode
            after = watcher.execute("select relfilenode from pg_class where oid = %s", (oid,)).fetchone()
            assert (after[0] != node) is rewrites


def test_sizes_come_from_the_catalog_statistics(lab: tuple[DbUrl, TargetTables]) -> None:
    _, target = lab
    parent = target.get("lab.parent")
    assert parent is not None and parent.rows == 100 and parent.bytes and parent.bytes > 8192
    assert parent.columns["name"] == ddl_locks.ColumnType("varchar", (20,))
    assert parent.columns["amount"] == ddl_locks.ColumnType("numeric", (10, 2))
    assert parent.indexes["parent_note_idx"] == ("note",)
    assert target.get("lab.child").constraints["child_parent_fk"].references == "lab.parent"  # type: ignore[union-attr]
    assert target.get("lab.parent").referenced_by == ("lab.child",)  # type: ignore[union-attr]
    assert "lab.posint" in target.constrained_domains
    [reindex] = ddl_locks.classify_sql("reindex index lab.parent_note_idx", target)
    assert {lock.size for lock in reindex.locks} == {ddl_locks.Size(100, parent.bytes)}  # the index's table
    [again] = ddl_locks.classify_sql(
        "alter table lab.parent add column if not exists n bigint default random()", target
    )
    assert again.locks[0].effect is Effect.NONE
    assert target.get("lab.loose").rows is None  # never analysed  # type: ignore[union-attr]


def test_risk_grows_with_the_lock_the_effect_and_the_size() -> None:
    large, medium, small = Size(12_000_000, 4 * 1024**3), Size(200_000, 50 * 1024**2), Size(500, 64 * 1024)
    ae = LockMode.ACCESS_EXCLUSIVE
    assert ddl_locks.assess(ae, Effect.REWRITE, large) is Risk.HIGH
    assert ddl_locks.assess(ae, Effect.REWRITE, medium) is Risk.HIGH
    assert ddl_locks.assess(ae, Effect.REWRITE, small) is Risk.LOW
    assert ddl_locks.assess(ae, Effect.REWRITE, ddl_locks.NEW_TABLE) is Risk.NONE
    assert ddl_locks.assess(ae, Effect.SCAN, medium) is Risk.MEDIUM
    assert ddl_locks.assess(ae, Effect.NONE, large) is Risk.LOW
    assert ddl_locks.assess(LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.SCAN, large) is Risk.LOW
    assert ddl_locks.assess(LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.NONE, large) is Risk.NONE
    assert ddl_locks.assess(LockMode.ROW_EXCLUSIVE, Effect.SCAN, large) is Risk.MEDIUM
    assert ddl_locks.assess(ae, Effect.NONE, small, destructive=True) is Risk.HIGH
    assert ddl_locks.assess(ae, Effect.UNKNOWN, small) is Risk.UNKNOWN
    # A size nobody knows is treated as large: never guessed as safe.
    assert ddl_locks.assess(ae, Effect.SCAN, ddl_locks.UNKNOWN_SIZE) is Risk.HIGH


def test_tables_created_earlier_in_the_set_are_new_and_unknown_forms_are_unknown(tmp_path: Path) -> None:
    first = tmp_path / "20990101000000_a.sql"
    second = tmp_path / "20990101000001_b.sql"
    first.write_text("create table public.fresh (id int, v varchar(5));\n")
    second.write_text(
        "-- widen it\nalter table public.fresh alter column v type int using v::int;\n"
        "do $$ begin perform 1; end $$;\n"
        "alter table public.gone add column c uuid default my_uuid();\n"
        "alter table public.elsewhere alter column at type timestamptz;\n"
    )
    files = ddl_locks.classify([first, second], TargetTables())
    [create] = files[0].statements
    assert create.form == "CREATE TABLE" and create.risk is Risk.NONE
    widen, block, call, tz = files[1].statements
    assert widen.line == 2 and widen.locks[0].size.new and widen.risk is Risk.NONE
    assert widen.locks[0].effect is Effect.REWRITE
    assert block.risk is Risk.UNKNOWN and "DO block" in block.unknowns[0]
    assert call.risk is Risk.UNKNOWN and "my_uuid" in call.unknowns[0]
    assert tz.risk is Risk.UNKNOWN
    assert files[1].risk is Risk.UNKNOWN


def test_a_file_that_does_not_parse_is_reported_not_guessed(tmp_path: Path) -> None:
    bad = tmp_path / "20990101000000_bad.sql"
    bad.write_text("alter table x add colum y int;")
    [result] = ddl_locks.classify([bad], TargetTables())
    assert result.error and "cannot parse" in result.error and result.risk is Risk.UNKNOWN
