-- Shared building blocks of the merged Vision-/Nova schema.
--
-- private: helpers that policies call. PostgREST does not expose this schema, so
-- SECURITY DEFINER functions here cannot be called as RPCs over the Data API.
create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;
alter default privileges in schema private revoke execute on functions from public;

-- Team roles, strongest first. The enum's sort order is the rank order.
create type public.team_role as enum ('viewer', 'member', 'admin', 'owner');

create type public.deployment_environment as enum ('local', 'staging', 'production');
create type public.deployment_status as enum ('queued', 'running', 'succeeded', 'failed', 'cancelled');
create type public.generation_status as enum ('queued', 'running', 'succeeded', 'failed');
create type public.campaign_status as enum ('draft', 'active', 'paused', 'ended');

create function private.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
