"""The Docker-free local database against the checked-in facts of Supabase's (supabase_platform.toml),
and postgres's privileges as the platform gives them: what it may do, and what it is refused."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from supadeploy.dburl import DbUrl
from supadeploy.supabase_platform import facts, observe

from .conftest import Server


@pytest.fixture
def cluster_only(pg_server: Server) -> Server:
    if pg_server.cluster is None:
        pytest.skip("the facts are those of supadeploy's own cluster, not of SUPADEPLOY_TEST_DATABASE_URL")
    return pg_server


@pytest.fixture
def as_postgres(cluster_only: Server, db_url: DbUrl) -> Iterator[psycopg.Connection]:
    """A connection as postgres, the role migrations and the Supabase CLI run as."""
    with psycopg.connect(db_url.raw, autocommit=True) as connection:
        yield connection


def test_the_local_database_has_the_platform_facts_less_its_documented_differences(
    cluster_only: Server, conn: psycopg.Connection
) -> None:
    platform = facts()
    expected = platform.expected_locally()
    live = observe(conn)
    # Role settings are cluster-wide, and migrations pushed to this server add their own (this
    # repo sets pgrst.db_pre_request on authenticator): compare the settings the facts name.
    for name, role in live["roles"].items():
        named = set(platform.raw["roles"][name]["settings"]) | set(platform.local["extra_role_settings"].get(name, {}))
        role["settings"] = {k: v for k, v in role["settings"].items() if k in named}
    for key in expected:
        assert live[key] == expected[key], key
    # Nothing Supabase-managed beyond the facts: every schema of a fresh database is listed.
    assert set(live["schemas"]) == set(expected["schemas"])


def test_the_documented_differences_name_only_platform_facts() -> None:
    # A difference that no longer differs (or never named a platform fact) is stale: drop it.
    platform = facts()
    local = platform.local
    assert set(local["missing_preload_libraries"]) <= set(platform.shared_preload_libraries)
    assert set(local["missing_installed_extensions"]) <= set(platform.raw["extensions"]["installed"])
    assert set(local["missing_schemas"]) <= set(platform.raw["database"]["schemas"])
    assert set(local["available_privileged_extensions"]) <= set(platform.privileged_extensions)
    for role, names in local["missing_role_settings"].items():
        assert set(names) <= set(platform.raw["roles"][role]["settings"])


def test_postgres_resolves_extension_functions_unqualified(as_postgres: psycopg.Connection) -> None:
    row = as_postgres.execute(
        "select current_user, length(gen_random_bytes(8)), uuid_generate_v4() is not null, "
        "crypt('x', gen_salt('bf', 4)) like '$2a$%'"
    ).fetchone()
    assert row == ("postgres", 8, True, True)


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("alter table auth.users add column nickname text", "must be owner of table users"),
        ("create table auth.extras (id int)", "permission denied for schema auth"),
        ("create table storage.extras (id int)", "permission denied for schema storage"),
        ("create function public.f() returns int language c as 'f'", "permission denied for language c"),
        ("create role sneaky superuser", "superuser"),
        ("create extension file_fdw", 'permission denied to create extension "file_fdw"'),
        ("alter system set work_mem = '1GB'", "permission denied"),
        ("create policy p on auth.instances for select to authenticated using (true)", "must be owner"),
    ],
)
def test_postgres_is_refused_what_the_platform_refuses(
    as_postgres: psycopg.Connection, statement: str, refusal: str
) -> None:
    with pytest.raises(psycopg.Error, match=refusal):
        as_postgres.execute(statement)
    assert as_postgres.execute(
        "select rolsuper, pg_has_role('postgres', 'supabase_admin', 'member'), "
        "pg_has_role('postgres', 'supabase_auth_admin', 'member') from pg_roles where rolname = 'postgres'"
    ).fetchone() == (False, False, False)


def test_postgres_may_do_what_supautils_lets_it(as_postgres: psycopg.Connection) -> None:
    as_postgres.execute("create extension hypopg")
    as_postgres.execute(
        'create policy "avatars: owners read" on storage.objects for select to authenticated '
        "using (owner_id = (select auth.uid())::text)"
    )
    as_postgres.execute(
        'create policy "users: self" on auth.users for select to authenticated using (id = (select auth.uid()))'
    )
    as_postgres.execute("set session_replication_role = replica")
    as_postgres.execute("reset session_replication_role")
    as_postgres.execute("alter role authenticator set pgrst.db_max_rows = '500'")
    as_postgres.execute("alter role authenticator reset pgrst.db_max_rows")
    owner = as_postgres.execute(
        "select extowner::regrole::text, (select proowner::regrole::text from pg_proc where proname = 'hypopg') "
        "from pg_extension where extname = 'hypopg'"
    ).fetchone()
    assert owner == ("supabase_admin", "supabase_admin")  # created by the superuser, as supautils does
    as_postgres.execute("drop extension hypopg")
    assert as_postgres.execute(
        "select pg_has_role('postgres', 'supabase_admin', 'member'), "
        "pg_has_role('postgres', 'supabase_storage_admin', 'member'), current_user"
    ).fetchone() == (False, False, "postgres")


def test_a_failed_statement_leaves_no_borrowed_membership(as_postgres: psycopg.Connection) -> None:
    with pytest.raises(psycopg.Error, match='column "nosuch" does not exist'):
        as_postgres.execute("create policy p on storage.objects for select to authenticated using (nosuch = 1)")
    with pytest.raises(psycopg.Error, match="can only create extension in database"):
        as_postgres.execute("create extension pg_cron")  # cron.database_name is postgres; this database is not
    assert as_postgres.execute(
        "select pg_has_role('postgres', 'supabase_admin', 'member'), "
        "pg_has_role('postgres', 'supabase_storage_admin', 'member')"
    ).fetchone() == (False, False)


def test_an_extension_supabase_offers_but_this_machine_lacks_is_named(as_postgres: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.FeatureNotSupported) as raised:
        as_postgres.execute('create extension if not exists "pg_net"')
    message = raised.value.diag.message_primary or ""
    assert message.startswith('extension "pg_net" is not available on the Docker-free local database')
    assert "\n" not in message
    # A name Supabase does not offer keeps PostgreSQL's own error.
    with pytest.raises(psycopg.Error, match="no_such_thing") as theirs:
        as_postgres.execute("create extension no_such_thing")
    assert "Docker-free" not in str(theirs.value)


def test_the_borrowing_flags_cannot_be_set_from_outside(as_postgres: psycopg.Connection) -> None:
    # The triggers keep their state in settings anyone may set: a planted value must not become a role.
    with as_postgres.transaction():
        as_postgres.execute("set local supadeploy.extension_role = 'supabase_admin'")
        as_postgres.execute("set local supadeploy.policy_grants_borrowed = 'anon'")
        as_postgres.execute("set local role authenticated")
        as_postgres.execute("create extension if not exists pgcrypto with schema extensions")
        assert as_postgres.execute("select current_user").fetchone() == ("authenticated",)
        as_postgres.execute("reset role")
    member = as_postgres.execute(
        "select pg_has_role('postgres', 'supabase_admin', 'member'), pg_has_role('postgres', 'anon', 'member')"
    ).fetchone()
    assert member == (False, True)
