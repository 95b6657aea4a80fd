-- What a Supabase database holds before the first user migration, for a plain
-- PostgreSQL (>= 15) with no Supabase image behind it: roles as the platform has
-- them, schemas, search paths, default privileges, the realtime publication, the
-- default extensions and the event triggers that stand in for supautils.
--
-- Modelled on what supabase/postgres's init scripts and migrations leave behind
-- (see src/supadeploy/supabase_platform.toml for each fact and its source),
-- written for this project. Run by a superuser (supabase_admin on the Docker-free
-- cluster), before supabase_auth.sql and supabase_storage.sql. Idempotent.
-- Roles and parameter grants are cluster-wide; everything else is per database.

-- Roles ---------------------------------------------------------------------
do $roles$
declare
  wanted record;
begin
  for wanted in
    select * from (values
      -- name, attributes (as on Supabase: supabase/postgres init scripts and migrations)
      ('supabase_admin', 'superuser inherit createrole createdb login replication bypassrls'),
      ('postgres', 'nosuperuser inherit createrole createdb login replication bypassrls'),
      ('anon', 'nosuperuser inherit nocreaterole nocreatedb nologin noreplication nobypassrls'),
      ('authenticated', 'nosuperuser inherit nocreaterole nocreatedb nologin noreplication nobypassrls'),
      ('service_role', 'nosuperuser inherit nocreaterole nocreatedb nologin noreplication bypassrls'),
      ('authenticator', 'nosuperuser noinherit nocreaterole nocreatedb login noreplication nobypassrls'),
      ('supabase_auth_admin', 'nosuperuser noinherit nocreaterole nocreatedb login noreplication nobypassrls'),
      ('supabase_storage_admin', 'nosuperuser noinherit createrole nocreatedb login noreplication nobypassrls'),
      ('dashboard_user', 'nosuperuser inherit createrole createdb nologin replication nobypassrls'),
      ('supabase_replication_admin', 'nosuperuser inherit nocreaterole nocreatedb login replication nobypassrls'),
      ('supabase_read_only_user', 'nosuperuser inherit nocreaterole nocreatedb login noreplication bypassrls'),
      ('pgbouncer', 'nosuperuser inherit nocreaterole nocreatedb login noreplication nobypassrls')
    ) as r(name, attributes)
  loop
    if not exists (select from pg_roles where rolname = wanted.name) then
      execute format('create role %I', wanted.name);
    end if;
    if wanted.name = 'postgres' and (select oid from pg_roles where rolname = 'postgres') = 10 then
      -- A server whose bootstrap superuser is postgres (a stock image) cannot demote it.
      raise warning 'postgres is this server''s bootstrap superuser and keeps SUPERUSER: migrations run here with more privilege than on Supabase';
      execute 'alter role postgres createrole createdb login replication bypassrls';
    else
      execute format('alter role %I %s', wanted.name, wanted.attributes);
    end if;
  end loop;
end
$roles$;

-- Memberships: exactly these for the roles Supabase manages (older layouts gave postgres the
-- auth and storage owners, and ADMIN OPTION on the API roles; Supabase revoked both).
do $memberships$
declare
  wanted record;
  stale record;
begin
  for wanted in
    select * from (values
      ('postgres', array['anon', 'authenticated', 'service_role', 'pg_monitor', 'pg_read_all_data', 'pg_signal_backend']),
      ('authenticator', array['anon', 'authenticated', 'service_role']),
      ('supabase_storage_admin', array['authenticator']),
      ('supabase_read_only_user', array['pg_read_all_data'])
    ) as m(member, groups)
  loop
    for stale in
      select g.rolname as grp, am.admin_option
      from pg_auth_members am
      join pg_roles g on g.oid = am.roleid
      join pg_roles m on m.oid = am.member
      where m.rolname = wanted.member
    loop
      if not stale.grp = any (wanted.groups) then
        execute format('revoke %I from %I', stale.grp, wanted.member);
      elsif stale.admin_option then
        execute format('revoke admin option for %I from %I', stale.grp, wanted.member);
      end if;
    end loop;
    for stale in
      select g as grp from unnest(wanted.groups) as g
      where not exists (
        select from pg_auth_members am
        where am.roleid = g::regrole and am.member = wanted.member::regrole
      )
    loop
      execute format('grant %I to %I', stale.grp, wanted.member);
    end loop;
  end loop;
  -- PostgreSQL 16 made CREATEROLE need ADMIN OPTION on a role to grant or alter it. Supabase then
  -- gives postgres ADMIN OPTION on the API roles (20250605172253_grant_with_admin_to_postgres_16_
  -- and_above); supautils also lets postgres set the allowed settings (pgrst.*) on authenticator,
  -- which takes ADMIN OPTION on authenticator here, with neither its privileges nor SET ROLE.
  if current_setting('server_version_num')::int >= 160000 then
    execute 'grant anon, authenticated, service_role to postgres with admin option';
    execute 'grant authenticator to postgres with admin option, inherit false, set false';
  end if;
end
$memberships$;

-- supautils lets postgres set these parameters (privileged_role_allowed_configs), which need a
-- superuser otherwise: superuser-only settings, and settings of libraries not loaded (pgrst.*
-- are PostgREST's in-database configuration, set on authenticator). PostgreSQL 15 grants that
-- directly, parameter by parameter; the patterns (pgrst.*, plan_filter.*) are spelled out here.
do $parameters$
declare
  parameter text;
begin
  for parameter in
    select name from pg_settings
    where context = 'superuser'
      and (name in ('session_replication_role', 'log_lock_waits', 'log_min_messages', 'track_io_timing',
                    'auto_explain.log_min_duration', 'auto_explain.log_nested_statements')
           or name like 'pgaudit.%')
    union
    select unnest(array[
      'pg_net.batch_size', 'pg_net.ttl', 'safeupdate.enabled',
      'pgrst.db_aggregates_enabled', 'pgrst.db_anon_role', 'pgrst.db_extra_search_path',
      'pgrst.db_hoisted_tx_settings', 'pgrst.db_max_rows', 'pgrst.db_plan_enabled', 'pgrst.db_pre_config',
      'pgrst.db_pre_request', 'pgrst.db_prepared_statements', 'pgrst.db_root_spec', 'pgrst.db_schemas',
      'pgrst.db_tx_end', 'pgrst.jwt_aud', 'pgrst.jwt_cache_max_lifetime', 'pgrst.jwt_role_claim_key',
      'pgrst.jwt_secret', 'pgrst.jwt_secret_is_base64', 'pgrst.openapi_mode', 'pgrst.openapi_security_active',
      'pgrst.openapi_server_proxy_uri', 'pgrst.server_cors_allowed_origins', 'pgrst.server_timing_enabled',
      'pgrst.server_trace_header'
    ])
  loop
    execute format('grant set on parameter %s to postgres', parameter);
  end loop;
end
$parameters$;

alter role supabase_admin set search_path = "$user", public, auth, extensions;
alter role postgres set search_path = "$user", public, extensions;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role supabase_auth_admin set search_path = auth;
alter role supabase_auth_admin set idle_in_transaction_session_timeout = 60000;
alter role supabase_storage_admin set search_path = storage;
-- safeupdate is not installed here; the setting alone is harmless and keeps the role's settings as on Supabase.
alter role postgres set safeupdate.enabled = 0;
-- PostgREST reads its in-database configuration from the authenticator role; the advisors
-- read the exposed schemas from the same setting.
alter role authenticator set pgrst.db_schemas = 'public, graphql_public';

-- The database: owned by postgres, as on Supabase (ansible: alter database postgres owner to postgres).
do $database$
begin
  if (select pg_get_userbyid(datdba) from pg_database where datname = current_database()) <> 'postgres' then
    execute format('alter database %I owner to postgres', current_database());
  end if;
  -- What `supabase start` sets for the local JWT (CLI: internal/db/start/templates/schema.sql).
  execute format(
    'alter database %I set "app.settings.jwt_secret" to %L',
    current_database(), 'super-secret-jwt-token-with-at-least-32-characters-long'
  );
  execute format('alter database %I set "app.settings.jwt_exp" to %L', current_database(), '3600');
end
$database$;

-- Schemas -------------------------------------------------------------------
create schema if not exists extensions;
alter schema extensions owner to postgres;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
grant all on schema extensions to dashboard_user;
alter default privileges in schema extensions
  grant all on tables to postgres with grant option;
alter default privileges in schema extensions
  grant all on routines to postgres with grant option;
alter default privileges in schema extensions
  grant all on sequences to postgres with grant option;


-- Exposed through the Data API alongside public (config.toml [api] schemas).
create schema if not exists graphql_public;
grant usage on schema graphql_public to postgres, anon, authenticated, service_role;
alter default privileges in schema graphql_public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema graphql_public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema graphql_public
  grant all on sequences to postgres, anon, authenticated, service_role;

-- Realtime's schema exists (its tables come with the Realtime server, which is not here).
create schema if not exists realtime;
grant usage on schema realtime to postgres with grant option;

-- public: what Supabase grants, so a table created by a migration is reachable
-- through the Data API and guarded only by its RLS policies (sql/exposure_off.sql
-- takes the table, sequence and function defaults back, as config.toml
-- [api] auto_expose_new_tables = false asks).
grant usage on schema public to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;

-- Realtime: the publication exists and is empty; projects add their tables to it.
do $publication$
begin
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$publication$;
alter publication supabase_realtime owner to postgres;

-- Event triggers: what supautils and Supabase's own triggers do on the platform ----------
-- (the functions are created by the superuser; an event trigger function cannot be called directly)

-- The extensions Supabase offers: supadeploy.platform_extensions, which the Docker-free cluster's
-- postgresql.conf sets from supautils.privileged_extensions. Empty elsewhere: then the triggers
-- below stand aside.
create or replace function extensions.supadeploy_platform_extensions()
returns text[]
language sql
stable
set search_path = ''
as $$
  select coalesce(
    pg_catalog.regexp_split_to_array(nullif(pg_catalog.current_setting('supadeploy.platform_extensions', true), ''), '\s*,\s*'),
    '{}'
  )
$$;

-- CREATE EXTENSION of an extension Supabase offers but this machine does not have: one line
-- that names it, instead of "could not open extension control file". The name is read from
-- the statement text (a ddl_command_start trigger has no parse tree); when the text holds
-- more than one CREATE EXTENSION, PostgreSQL's own error is left to speak.
create or replace function extensions.supadeploy_require_available_extension()
returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
  statement text := pg_catalog.current_query();
  names text[];
  wanted text;
begin
  statement := pg_catalog.regexp_replace(statement, '/\*.*?\*/', ' ', 'g');
  statement := pg_catalog.regexp_replace(statement, '--[^\n]*', ' ', 'g');
  select pg_catalog.array_agg(distinct m[1]) into names
  from pg_catalog.regexp_matches(
    statement,
    'create\s+extension\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|[[:alpha:]_][[:alnum:]_$]*)',
    'gi'
  ) as m;
  if pg_catalog.cardinality(names) is distinct from 1 then
    return;
  end if;
  wanted := names[1];
  if wanted like '"%' then
    wanted := pg_catalog.replace(pg_catalog.substr(wanted, 2, pg_catalog.length(wanted) - 2), '""', '"');
  else
    wanted := pg_catalog.lower(wanted);
  end if;
  if wanted = any (extensions.supadeploy_platform_extensions())
     and not exists (select from pg_catalog.pg_available_extensions where name = wanted) then
    raise exception using
      errcode = 'feature_not_supported',
      message = pg_catalog.format(
        'extension "%s" is not available on the Docker-free local database: use the Docker backend '
        '(SUPADEPLOY_LOCAL_BACKEND=docker, supabase start) or install its package for PostgreSQL %s here',
        wanted, pg_catalog.current_setting('server_version_num')::int / 10000
      );
  end if;
end
$$;

-- Privileged extensions (supautils on Supabase): postgres may create, update and drop the
-- extensions Supabase offers, and they are created by the superuser, so supabase_admin owns
-- the extension and its objects. Here postgres borrows supabase_admin for the one statement:
--   1 (security definer) grants postgres membership in supabase_admin,
--   2 (as the caller) switches the transaction's role to supabase_admin,
--   3 (as supabase_admin) refuses an extension Supabase does not offer, switches back,
--   4 (security definer) takes the membership back.
-- A statement that fails rolls back the membership and the role switch with it.
create or replace function extensions.supadeploy_extension_borrow()
returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- The flags are settings anyone can set: start each statement from a clean slate.
  perform pg_catalog.set_config('supadeploy.extension_borrowed', '', true);
  perform pg_catalog.set_config('supadeploy.extension_role', '', true);
  if session_user <> 'postgres'
     or pg_catalog.cardinality(extensions.supadeploy_platform_extensions()) = 0
     or pg_catalog.pg_has_role('postgres', 'supabase_admin', 'MEMBER') then
    return;
  end if;
  grant supabase_admin to postgres;
  perform pg_catalog.set_config('supadeploy.extension_borrowed', 'on', true);
end
$$;

create or replace function extensions.supadeploy_extension_become()
returns event_trigger
language plpgsql
set search_path = ''
as $$
begin
  if pg_catalog.current_setting('supadeploy.extension_borrowed', true) = 'on' and current_user = 'postgres' then
    perform pg_catalog.set_config('supadeploy.extension_role', pg_catalog.current_setting('role'), true);
    perform pg_catalog.set_config('role', 'supabase_admin', true);
  end if;
end
$$;

create or replace function extensions.supadeploy_extension_restore()
returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
  refused text;
  previous text := nullif(pg_catalog.current_setting('supadeploy.extension_role', true), '');
begin
  if previous is null then
    return;
  end if;
  perform pg_catalog.set_config('supadeploy.extension_role', '', true);
  if tg_tag in ('CREATE EXTENSION', 'ALTER EXTENSION') then
    select e.extname into refused
    from pg_catalog.pg_event_trigger_ddl_commands() as ev
    join pg_catalog.pg_extension as e on e.oid = ev.objid
    where ev.classid = 'pg_catalog.pg_extension'::pg_catalog.regclass
      and not e.extname = any (extensions.supadeploy_platform_extensions())
      and not exists (
        select from pg_catalog.pg_available_extension_versions v
        where v.name = e.extname and v.version = e.extversion and v.trusted
      )
    limit 1;
  end if;
  perform pg_catalog.set_config('role', previous, true);
  if refused is not null then
    raise exception using errcode = 'insufficient_privilege', hint = 'Must be superuser to create this extension.',
      message = pg_catalog.format('permission denied to create extension "%s"', refused);
  end if;
end
$$;

create or replace function extensions.supadeploy_extension_refuse_drop()
returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
  refused text;
begin
  if nullif(pg_catalog.current_setting('supadeploy.extension_role', true), '') is null then
    return;
  end if;
  select d.object_identity into refused
  from pg_catalog.pg_event_trigger_dropped_objects() as d
  where d.object_type = 'extension' and d.original
    and not d.object_identity = any (extensions.supadeploy_platform_extensions())
    and not exists (select from pg_catalog.pg_available_extension_versions v where v.name = d.object_identity and v.trusted)
  limit 1;
  if refused is not null then
    raise exception using errcode = 'insufficient_privilege',
      message = pg_catalog.format('must be owner of extension %s', refused);
  end if;
end
$$;

create or replace function extensions.supadeploy_extension_return()
returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if session_user = 'postgres' and pg_catalog.current_setting('supadeploy.extension_borrowed', true) = 'on' then
    perform pg_catalog.set_config('supadeploy.extension_borrowed', '', true);
    revoke supabase_admin from postgres;
  end if;
end
$$;

drop event trigger if exists supadeploy_extension_0_available;
create event trigger supadeploy_extension_0_available
  on ddl_command_start
  when tag in ('CREATE EXTENSION')
  execute function extensions.supadeploy_require_available_extension();
drop event trigger if exists supadeploy_extension_1_borrow;
create event trigger supadeploy_extension_1_borrow
  on ddl_command_start
  when tag in ('CREATE EXTENSION', 'ALTER EXTENSION', 'DROP EXTENSION')
  execute function extensions.supadeploy_extension_borrow();
drop event trigger if exists supadeploy_extension_2_become;
create event trigger supadeploy_extension_2_become
  on ddl_command_start
  when tag in ('CREATE EXTENSION', 'ALTER EXTENSION', 'DROP EXTENSION')
  execute function extensions.supadeploy_extension_become();
drop event trigger if exists supadeploy_extension_3_drop;
create event trigger supadeploy_extension_3_drop
  on sql_drop
  when tag in ('DROP EXTENSION')
  execute function extensions.supadeploy_extension_refuse_drop();
drop event trigger if exists supadeploy_extension_3_restore;
create event trigger supadeploy_extension_3_restore
  on ddl_command_end
  when tag in ('CREATE EXTENSION', 'ALTER EXTENSION', 'DROP EXTENSION')
  execute function extensions.supadeploy_extension_restore();
drop event trigger if exists supadeploy_extension_4_return;
create event trigger supadeploy_extension_4_return
  on ddl_command_end
  when tag in ('CREATE EXTENSION', 'ALTER EXTENSION', 'DROP EXTENSION')
  execute function extensions.supadeploy_extension_return();

-- pg_cron: what Supabase's issue_pg_cron_access trigger grants postgres when the extension
-- is created (supabase/postgres migrations 20231020085357, 20260730000000).
create or replace function extensions.grant_pg_cron_access()
returns event_trigger
language plpgsql
set search_path = ''
as $$
begin
  if exists (
    select from pg_catalog.pg_event_trigger_ddl_commands() as ev
    join pg_catalog.pg_extension as ext on ev.objid = ext.oid
    where ext.extname = 'pg_cron'
  ) then
    grant usage on schema cron to postgres with grant option;
    alter default privileges in schema cron grant all on tables to postgres with grant option;
    alter default privileges in schema cron grant all on functions to postgres with grant option;
    alter default privileges in schema cron grant all on sequences to postgres with grant option;
    grant all privileges on all tables in schema cron to postgres with grant option;
    grant all privileges on all functions in schema cron to postgres with grant option;
    grant all privileges on all sequences in schema cron to postgres with grant option;
    revoke all on table cron.job from postgres;
    grant select on table cron.job to postgres with grant option;
    revoke trigger on cron.job_run_details from postgres;
  end if;
end
$$;

drop event trigger if exists issue_pg_cron_access;
create event trigger issue_pg_cron_access
  on ddl_command_end
  when tag in ('CREATE EXTENSION')
  execute function extensions.grant_pg_cron_access();

-- Policies on auth and storage tables: postgres owns neither, yet on Supabase it may create,
-- alter and drop policies on the tables supautils.policy_grants lists. Here postgres borrows
-- the owner's membership for the one statement: granted at ddl_command_start, checked and
-- revoked at ddl_command_end (or rolled back with the statement when it fails). A policy on
-- any other table of those owners is refused, as on Supabase.
create or replace function extensions.supadeploy_policy_grants_begin()
returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  owner_role text;
begin
  -- The list is a setting anyone can set: start each statement from a clean slate.
  perform pg_catalog.set_config('supadeploy.policy_grants_borrowed', '', true);
  if session_user <> 'postgres' then
    return;
  end if;
  for owner_role in
    select distinct pg_catalog.pg_get_userbyid(c.relowner)
    from pg_catalog.pg_class c
    where c.oid = any (extensions.supadeploy_policy_granted_tables())
      and not pg_catalog.pg_has_role('postgres', c.relowner, 'MEMBER')
  loop
    execute pg_catalog.format('grant %I to postgres', owner_role);
    perform pg_catalog.set_config(
      'supadeploy.policy_grants_borrowed',
      pg_catalog.concat_ws(',', nullif(pg_catalog.current_setting('supadeploy.policy_grants_borrowed', true), ''), owner_role),
      true
    );
  end loop;
end
$$;

create or replace function extensions.supadeploy_policy_grants_end()
returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  borrowed text := nullif(pg_catalog.current_setting('supadeploy.policy_grants_borrowed', true), '');
  owner_role text;
  refused regclass;
begin
  if borrowed is null or session_user <> 'postgres' then
    return;
  end if;
  perform pg_catalog.set_config('supadeploy.policy_grants_borrowed', '', true);
  select p.polrelid::regclass into refused
  from pg_catalog.pg_event_trigger_ddl_commands() as ev
  join pg_catalog.pg_policy as p on p.oid = ev.objid
  join pg_catalog.pg_class as c on c.oid = p.polrelid
  where pg_catalog.pg_get_userbyid(c.relowner) = any (pg_catalog.string_to_array(borrowed, ','))
    and not p.polrelid = any (extensions.supadeploy_policy_granted_tables())
  limit 1;
  for owner_role in
    select distinct pg_catalog.pg_get_userbyid(c.relowner)
    from pg_catalog.pg_class c
    where c.oid = any (extensions.supadeploy_policy_granted_tables())
      and pg_catalog.pg_get_userbyid(c.relowner) = any (pg_catalog.string_to_array(borrowed, ','))
  loop
    execute pg_catalog.format('revoke %I from postgres', owner_role);
  end loop;
  if refused is not null then
    raise exception using errcode = 'insufficient_privilege',
      message = pg_catalog.format('must be owner of table %s', refused);
  end if;
end
$$;

create or replace function extensions.supadeploy_policy_grants_drop()
returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  borrowed text := nullif(pg_catalog.current_setting('supadeploy.policy_grants_borrowed', true), '');
  refused text;
begin
  if borrowed is null or session_user <> 'postgres' then
    return;
  end if;
  select d.address_names[1] || '.' || d.address_names[2] into refused
  from pg_catalog.pg_event_trigger_dropped_objects() as d
  join pg_catalog.pg_class as c
    on c.relname = d.address_names[2]
   and c.relnamespace = pg_catalog.to_regnamespace(d.address_names[1])
  where d.object_type = 'policy'
    and pg_catalog.pg_get_userbyid(c.relowner) = any (pg_catalog.string_to_array(borrowed, ','))
    and not c.oid = any (extensions.supadeploy_policy_granted_tables())
  limit 1;
  if refused is not null then
    raise exception using errcode = 'insufficient_privilege',
      message = pg_catalog.format('must be owner of table %s', refused);
  end if;
end
$$;

-- supautils.policy_grants for postgres (supabase/postgres ansible/files/postgresql_config/supautils.conf.j2).
create or replace function extensions.supadeploy_policy_granted_tables()
returns oid[]
language sql
stable
set search_path = ''
as $$
  select coalesce(pg_catalog.array_agg(pg_catalog.to_regclass(t)::oid) filter (where pg_catalog.to_regclass(t) is not null), '{}')
  from pg_catalog.unnest(array[
    'auth.audit_log_entries', 'auth.identities', 'auth.refresh_tokens', 'auth.sessions', 'auth.users',
    'realtime.messages', 'storage.buckets', 'storage.migrations', 'storage.objects',
    'storage.s3_multipart_uploads', 'storage.s3_multipart_uploads_parts'
  ]) as t
$$;
revoke all on function extensions.supadeploy_policy_granted_tables() from public;

drop event trigger if exists supadeploy_policy_grants_begin;
create event trigger supadeploy_policy_grants_begin
  on ddl_command_start
  when tag in ('CREATE POLICY', 'ALTER POLICY', 'DROP POLICY')
  execute function extensions.supadeploy_policy_grants_begin();

drop event trigger if exists supadeploy_policy_grants_drop;
create event trigger supadeploy_policy_grants_drop
  on sql_drop
  when tag in ('DROP POLICY')
  execute function extensions.supadeploy_policy_grants_drop();

drop event trigger if exists supadeploy_policy_grants_end;
create event trigger supadeploy_policy_grants_end
  on ddl_command_end
  when tag in ('CREATE POLICY', 'ALTER POLICY', 'DROP POLICY')
  execute function extensions.supadeploy_policy_grants_end();

-- Extensions every Supabase database has (the event triggers above are in place first, so a
-- second run of this file goes through the current versions of them).
create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists pg_stat_statements with schema extensions;
grant all privileges on all tables in schema extensions to postgres with grant option;
grant all privileges on all routines in schema extensions to postgres with grant option;
grant all privileges on all sequences in schema extensions to postgres with grant option;
