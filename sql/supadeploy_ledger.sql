-- supadeploy's own records, beside the Supabase CLI's supabase_migrations.schema_migrations.
-- Never exposed through the Data API; only the migration role reads or writes it.
create schema if not exists supadeploy;
revoke all on schema supadeploy from public;

-- SHA-256 of each migration file when it was applied (or backfilled / repaired later).
create table if not exists supadeploy.migration_checksums (
  version text primary key,
  name text,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  recorded_at timestamptz not null default now(),
  how text not null default 'push' check (how in ('push', 'backfill', 'repair'))
);

-- One row per env.promote that changed (or verified) a target.
create table if not exists supadeploy.promotions (
  id bigint generated always as identity primary key,
  source_env text not null,
  target_env text not null,
  promoted_by text not null,
  promoted_at timestamptz not null default now(),
  git_sha text,
  versions text[] not null,
  applied text[] not null,
  backup_file text
);

do $$
begin
  -- Supabase's default privileges would hand these tables to the API roles.
  if exists (select from pg_roles where rolname = 'anon') then
    revoke all on all tables in schema supadeploy from anon, authenticated;
  end if;
end
$$;
