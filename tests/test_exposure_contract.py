"""The exposure contract: the schema grants explicitly what the Data API reaches, so Supabase's "default
privileges for new entities" (config.toml [api] auto_expose_new_tables) on or off makes no difference,
and from the shipped migrations on, nothing new is exposed by default."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from supadeploy.database import DbUrl, run_sql_file

from .conftest import Server, database_from

pytestmark = pytest.mark.e2e

API_ROLES = ("anon", "authenticated", "service_role")

# Every privilege on the schema's objects: schemas, tables, columns and functions of public and private.
PRIVILEGES = """
with grants as (
  select 'schema ' || n.nspname as object, a.grantee, a.privilege_type
  from pg_namespace n, aclexplode(n.nspacl) a
  where n.nspname in ('public', 'private')
  union all
  select 'table ' || c.oid::regclass::text, a.grantee, a.privilege_type
  from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) a
  where n.nspname in ('public', 'private') and c.relkind in ('r', 'v', 'm', 'p', 'S')
  union all
  select 'column ' || c.oid::regclass::text || '.' || t.attname, a.grantee, a.privilege_type
  from pg_attribute t join pg_class c on c.oid = t.attrelid join pg_namespace n on n.oid = c.relnamespace,
       aclexplode(t.attacl) a
  where n.nspname in ('public', 'private') and t.attnum > 0 and not t.attisdropped
  union all
  select 'function ' || p.oid::regprocedure::text, a.grantee, a.privilege_type
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace,
       aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
  where n.nspname in ('public', 'private')
)
select object, case when grantee = 0 then 'PUBLIC' else pg_get_userbyid(grantee) end, privilege_type
from grants order by 1, 2, 3
"""


def privileges(url: DbUrl) -> list[tuple[str, str, str]]:
    with psycopg.connect(url.raw) as conn:
        return [tuple(row) for row in conn.execute(PRIVILEGES)]  # type: ignore[misc]


def test_grants_are_the_same_with_new_entities_exposed_or_not(
    pg_server: Server, schema_template: str, unexposed_schema_template: str
) -> None:
    with (
        database_from(pg_server, schema_template, "expon") as exposed,
        database_from(pg_server, unexposed_schema_template, "expoff") as unexposed,
    ):
        on, off = privileges(exposed), privileges(unexposed)
    assert on == off
    # ... and the comparison compares something: every API role holds grants; PUBLIC only what
    # PostgreSQL gives it on schema public.
    assert set(API_ROLES) <= {grantee for _, grantee, _ in on}
    assert [g for g in on if g[1] == "PUBLIC"] == [("schema public", "PUBLIC", "USAGE")]


@pytest.fixture(scope="module")
def later_db(pg_server: Server, exposure_template: str) -> Iterator[DbUrl]:
    """The shipped schema, then what a later migration (run as postgres) creates without granting."""
    with database_from(pg_server, exposure_template, "later") as url:
        with psycopg.connect(url.raw, autocommit=True) as conn:
            conn.execute("set role postgres")
            conn.execute("create table public.later_table (id int primary key)")
            conn.execute("alter table public.later_table enable row level security")
            conn.execute("create function public.later_function() returns int language sql as 'select 1'")
            conn.execute("create function private.later_helper() returns int language sql as 'select 1'")
        yield url


@pytest.mark.parametrize("role", API_ROLES)
def test_what_a_later_migration_creates_is_exposed_to_nobody(later_db: DbUrl, role: str) -> None:
    with psycopg.connect(later_db.raw) as conn:
        (table, function, helper, public_function) = conn.execute(
            "select has_table_privilege(%(role)s, 'public.later_table',"
            " 'select, insert, update, delete, truncate, references, trigger'),"
            " has_function_privilege(%(role)s, 'public.later_function()', 'execute'),"
            " has_function_privilege(%(role)s, 'private.later_helper()', 'execute'),"
            " exists (select 1 from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
            "         where p.oid = 'public.later_function()'::regprocedure and a.grantee = 0)",
            {"role": role},
        ).fetchone()
    assert (table, function, helper, public_function) == (False, False, False, False)


def test_exposure_off_sql_takes_the_api_roles_out_of_the_defaults(pg_server: Server, template_db: str) -> None:
    """What sql/exposure_off.sql does on Supabase's base schema, and what it leaves: PUBLIC's EXECUTE."""
    with database_from(pg_server, template_db, "off") as url, psycopg.connect(url.raw, autocommit=True) as conn:
        run_sql_file(conn, "exposure_off.sql")
        run_sql_file(conn, "exposure_off.sql")  # idempotent
        conn.execute("set role postgres")
        conn.execute("create table public.t (id int)")
        conn.execute("create function public.f() returns int language sql as 'select 1'")
        for role in API_ROLES:
            (crud, execute) = conn.execute(
                "select has_table_privilege(%s, 'public.t', 'select, insert, update, delete'),"
                " has_function_privilege(%s, 'public.f()', 'execute')",
                (role, role),
            ).fetchone()
            # The platform's revoke leaves PostgreSQL's EXECUTE for PUBLIC: every role still runs f().
            assert (role, crud, execute) == (role, False, True)
    with database_from(pg_server, template_db, "on") as url, psycopg.connect(url.raw, autocommit=True) as conn:
        conn.execute("set role postgres")
        conn.execute("create table public.t (id int)")
        assert conn.execute("select has_table_privilege('anon', 'public.t', 'select')").fetchone() == (True,)
