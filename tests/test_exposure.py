"""exposure on a real database: snapshot, change the catalog, snapshot again, read the delta."""

from __future__ import annotations

import psycopg

from supadeploy import exposure

EXPOSED = ("public", "graphql_public")

BEFORE = """
create table public.invoices (id int primary key, team_id int, total numeric);
create table public.projects (id int primary key, team_id int, name text);
alter table public.invoices enable row level security;
alter table public.projects enable row level security;
revoke all on public.invoices, public.projects from anon;
create policy "members read" on public.projects for select to authenticated using (team_id = 1);
create policy "members write" on public.projects for update to authenticated using (team_id = 1);
create function public.total(team int) returns numeric language sql stable as 'select 1::numeric';
revoke execute on function public.total(int) from public, anon, authenticated, service_role;
create schema private;
create table private.secrets (id int);
"""


def lines(conn: psycopg.Connection, change: str) -> list[str]:
    before = exposure.snapshot(conn, EXPOSED)
    conn.execute(change)
    return [c.line for c in exposure.delta(before, exposure.snapshot(conn, EXPOSED))]


def test_grants_policies_and_rls_show_as_lines(conn: psycopg.Connection) -> None:
    conn.execute(BEFORE)
    found = lines(
        conn,
        """
        grant select on public.invoices to anon;
        drop policy "members read" on public.projects;
        alter policy "members write" on public.projects using (team_id = 2);
        alter table public.invoices disable row level security;
        grant update (name) on public.projects to anon;
        create table private.more (id int);
        grant select on private.secrets to anon;
        """,
    )
    assert found == [
        "RLS off on public.invoices",
        "+SELECT on public.invoices to anon",
        "+UPDATE (name) on public.projects to anon",
        "-policy 'members read' on public.projects",
        "~policy 'members write' on public.projects: using (team_id = 1) -> (team_id = 2)",
    ]


def test_a_function_made_executable_by_anon_through_public(conn: psycopg.Connection) -> None:
    conn.execute(BEFORE)
    found = lines(conn, "grant execute on function public.total(int) to public;")
    assert found == [
        "+EXECUTE on function public.total(team integer) to PUBLIC",
        "+EXECUTE on function public.total(team integer) to anon, authenticated, service_role (through PUBLIC)",
    ]
    # Revoking only anon's own grant leaves it reachable through PUBLIC: nothing changes for anon.
    assert lines(conn, "revoke execute on function public.total(int) from anon;") == []
    assert lines(conn, "revoke execute on function public.total(int) from public;") == [
        "-EXECUTE on function public.total(team integer) to PUBLIC",
        "-EXECUTE on function public.total(team integer) to anon, authenticated, service_role (through PUBLIC)",
    ]


def test_new_table_view_and_definer_function_and_default_privileges(conn: psycopg.Connection) -> None:
    conn.execute(BEFORE)
    found = lines(
        conn,
        """
        create table public.leads (id int);
        create view public.lead_ids as select id from public.leads;
        create function public.peek() returns int language sql security definer set search_path = ''
          as 'select 1';
        revoke execute on function public.peek() from public, authenticated, service_role;
        alter default privileges for role postgres in schema public revoke all on tables from anon;
        """,
    )
    assert found == [
        "-default ALL on new tables in public created by postgres to anon",
        "+ALL on public.lead_ids to anon, authenticated, service_role",
        "view public.lead_ids runs as its owner: RLS on its tables does not apply",
        "RLS off on public.leads",
        "+ALL on public.leads to anon, authenticated, service_role",
        "+EXECUTE on function public.peek() to anon",
        "+SECURITY DEFINER function public.peek()",
    ]


def test_nothing_changes_nothing_is_reported(conn: psycopg.Connection) -> None:
    conn.execute(BEFORE)
    assert lines(conn, "comment on table public.invoices is 'money';") == []
