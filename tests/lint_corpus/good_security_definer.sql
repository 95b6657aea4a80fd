-- expect:
create function private.helper() returns int
language sql security definer set search_path = ''
as $$ select 1 $$;
create function public.plain() returns int
language sql set search_path = ''
as $$ select 1 $$;
revoke execute on function public.plain() from public, anon;
