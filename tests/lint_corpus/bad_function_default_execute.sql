-- expect: function-executable-by-anon@4, function-executable-by-anon@8, function-executable-by-anon@13, function-executable-by-anon@18
-- Functions in an exposed schema are RPCs; PUBLIC and Supabase's default privileges let anon call
-- them until a migration says otherwise.
create function public.search_products(term text) returns setof public.products
language sql stable set search_path = ''
as $$ select * from public.products where name ilike '%' || term || '%' $$;

create or replace function public.my_orders() returns setof public.orders
language sql stable set search_path = ''
as $$ select * from public.orders where user_id = (select auth.uid()) $$;
grant execute on function public.my_orders() to authenticated;

create function public.half_revoked() returns int language sql set search_path = '' as $$ select 1 $$;
-- PUBLIC only: anon keeps its own grant from Supabase's default privileges.
revoke all on function public.half_revoked() from public;

-- SQL-standard body.
create function public.total(a int, b int) returns int language sql immutable
begin atomic
  select a + b;
end;

-- Quiet: revoked from public and anon, then granted.
create function public.team_stats(team uuid) returns bigint
language sql stable set search_path = ''
as $$ select count(*) from public.projects p where p.team_id = team $$;
revoke execute on function public.team_stats(uuid) from public, anon;
grant execute on function public.team_stats(uuid) to authenticated, service_role;

-- Quiet: meant for anon, and said so.
create function public.ping() returns text language sql immutable set search_path = '' as $$ select 'pong' $$;
grant execute on function public.ping() to anon;

-- Quiet: revoke all on function (no argument list) then an explicit grant list.
create function "public"."archive"(p_id bigint) returns void
language plpgsql set search_path = ''
as $function$ begin update public.projects set archived = true where id = p_id; end; $function$;
revoke all on function public.archive from public, anon, authenticated;
grant all on function public.archive to service_role;

-- Quiet: not exposed, a trigger, a procedure.
create function private.helper() returns int language sql set search_path = '' as $$ select 1 $$;
create function public.touch() returns trigger language plpgsql set search_path = ''
as $$ begin new.updated_at := now(); return new; end $$;
create procedure public.nightly() language sql as $$ select 1 $$;
