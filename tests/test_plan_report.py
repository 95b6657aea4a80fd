"""The plan report, built from real pieces: fixture migrations classified by ddl_locks against a fixture
"staging" holding data of known size, the exposure delta of applying them, and real lint findings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest

from supadeploy import advisors as advisor_checks
from supadeploy import ddl_locks, exposure, lint
from supadeploy.ddl_locks import Risk
from supadeploy.plan_report import AdvisorsDelta, FileApply, PgtapResult, PlanReport, advisors_delta
from supadeploy.project import Project
from supadeploy.table_sizes import TargetTables, read_tables

from .conftest import REPO, ProjectDir

GOLDEN = REPO / "tests" / "golden" / "plan_report.md"
UPDATE = os.environ.get("SUPADEPLOY_UPDATE_GOLDEN") == "1"

STAGING = """
create table public.customers (id int primary key, name text not null) with (autovacuum_enabled = false);
create table public.orders (id bigint primary key, customer_id int not null, total int not null)
  with (autovacuum_enabled = false);
create table public.events (id bigint primary key, kind text) with (autovacuum_enabled = false);
alter table public.customers enable row level security;
alter table public.orders enable row level security;
alter table public.events enable row level security;
revoke all on public.customers, public.orders, public.events from anon;
insert into public.customers select g, 'customer ' || g from generate_series(1, 5000) g;
insert into public.orders select g, 1 + g % 5000, g % 997 from generate_series(1, 1000000) g;
"""

MIGRATIONS = {
    "20990101000000_orders_total.sql": """-- totals above 2^31 are coming
alter table public.orders alter column total type bigint;

create index orders_customer_idx on public.orders (customer_id);
""",
    "20990101000001_customer_email.sql": """alter table public.customers add column email text;
alter table public.customers add constraint customers_email_check check (email like '%@%') not valid;
alter table public.customers validate constraint customers_email_check;
grant select on public.customers to anon;
""",
    "20990101000002_invoices.sql": """create table public.invoices (
  id bigint primary key,
  customer_id int references public.customers (id),
  total bigint not null
);
alter table public.invoices enable row level security;
create policy "invoices: members read" on public.invoices for select to authenticated using (true);
alter table public.events add column at timestamptz default clock_timestamp();
""",
}


@pytest.fixture
def staging(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(STAGING)
    conn.execute("vacuum analyze public.customers, public.orders, public.events")
    return conn


def build_report(project_dir: ProjectDir, conn: psycopg.Connection) -> PlanReport:
    (project_dir.root / ".squawk.toml").write_text((REPO / ".squawk.toml").read_text())
    paths = [
        project_dir.add_migration(*name.removesuffix(".sql").split("_", 1), body) for name, body in MIGRATIONS.items()
    ]
    target = read_tables(conn)
    locks = ddl_locks.classify(paths, target)
    before = exposure.snapshot(conn, ("public",))
    for path in paths:
        conn.execute(path.read_text().encode())
    changes = exposure.delta(before, exposure.snapshot(conn, ("public",)))
    findings = lint.lint(Project(project_dir.root), paths)
    # Fixture values where a real run measures time or runs the CLI: the golden must not depend on them.
    applies = tuple(
        FileApply(p.name, ok=True, reason="applies cleanly", seconds=s)
        for p, s in zip(paths, (4.2, 0.3, 0.1), strict=True)
    )
    rls_off = advisor_checks.Finding(
        "warn",
        "rls_disabled_in_public",
        "Table `public.leads` is public, but RLS has not been enabled.",
        ("SECURITY",),
        "",
    )
    advisors = advisors_delta([], [rls_off])
    return PlanReport(
        env="staging",
        target="db.example.supabase.co:5432",
        locks=tuple(locks),
        lint=tuple(findings),
        applies=applies,
        applied_on="scratch copy of staging's history",
        exposure=tuple(changes),
        advisors=advisors,
        pgtap=PgtapResult(passed=True, summary="All tests successful."),
    )


def test_golden_markdown_and_the_ranking_behind_it(project_dir: ProjectDir, staging: psycopg.Connection) -> None:
    report = build_report(project_dir, staging)
    text = report.markdown()
    if UPDATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "run with SUPADEPLOY_UPDATE_GOLDEN=1 and review the diff"
    by_line = {(s.file, s.line): s for s in report.statements}
    widen = by_line[("20990101000000_orders_total.sql", 2)]
    [lock] = widen.locks
    assert lock.size.rows == 1_000_000 and lock.size.size_class == "large"
    assert (lock.mode.label, lock.effect.value, widen.risk) == ("ACCESS EXCLUSIVE", "rewrite", Risk.HIGH)
    index = by_line[("20990101000000_orders_total.sql", 4)]
    assert (index.locks[0].mode.label, index.risk) == ("SHARE", Risk.HIGH)
    email = by_line[("20990101000001_customer_email.sql", 1)]
    assert email.locks[0].size.rows == 5000 and email.risk is Risk.LOW
    volatile_on_empty = by_line[("20990101000002_invoices.sql", 8)]
    assert volatile_on_empty.locks[0].effect.value == "rewrite" and volatile_on_empty.risk is Risk.LOW
    assert report.highest_risk is Risk.HIGH
    assert "+SELECT on public.customers to anon" in [c.line for c in report.exposure or ()]
    payload = json.loads(json.dumps(report.as_dict()))
    assert payload["highest_risk"] == "high" and payload["files"][0]["statements"][0]["locks"][0]["rows"] == 1_000_000


def test_sections_that_did_not_run_say_so_and_never_pass() -> None:
    report = PlanReport(
        env="production",
        target="db:5432",
        locks=(ddl_locks.FileLocks("20990101000000_x.sql"),),
        not_run={"applies": "production is protected"},
    )
    text = report.markdown()
    assert "**Applies:** not run (production is protected)" in text
    assert "**Exposure:** not run" in text and "**pgTAP:** not run" in text
    assert report.as_dict()["applies"] is None
    failing = PlanReport("staging", "db:5432", (), applies=(FileApply("a.sql", ok=False, reason="boom"),))
    assert not failing.ok
    assert PlanReport("staging", "db:5432", ()).markdown().startswith("### db.plan · staging: nothing pending")


def test_advisors_delta_matches_on_name_and_detail() -> None:
    a = advisor_checks.Finding("warn", "x", "on t1", (), "")
    b = advisor_checks.Finding("warn", "x", "on t2", (), "")
    assert advisors_delta([a], [a, b]) == AdvisorsDelta(added=(b,), resolved=())
    assert advisors_delta([a, b], [b]) == AdvisorsDelta(added=(), resolved=(a,))


def test_markdown_cells_survive_pipes_and_backticks(tmp_path: Path) -> None:
    path = tmp_path / "20990101000000_p.sql"
    path.write_text("update public.t set v = 'a|b' where k = '`';\n")
    report = PlanReport("staging", "db:5432", tuple(ddl_locks.classify([path], TargetTables())))
    text = report.markdown()
    assert "`` update public.t set v = 'a\\|b' where k = '`' ``" in text
    rows = [line for line in text.splitlines() if line.startswith("| 🟠")]
    assert len(rows) == 1 and rows[0].count(" | ") == 6, rows
