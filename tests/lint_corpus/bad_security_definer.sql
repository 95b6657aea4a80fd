-- expect: security-definer-search-path, security-definer-exposed
create function public.whoami() returns uuid
language sql security definer
as $$ select auth.uid() $$;
create function private.helper() returns int
language sql security definer
as $$ select 1 $$;
