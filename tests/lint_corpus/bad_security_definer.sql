-- expect: function-executable-by-anon@2, security-definer-exposed@2, security-definer-search-path@2, security-definer-search-path@5
create function public.whoami() returns uuid
language sql security definer
as $$ select auth.uid() $$;
create function private.helper() returns int
language sql security definer
as $$ select 1 $$;
