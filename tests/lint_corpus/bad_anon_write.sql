-- expect: anon-write-grant
grant select, insert on public.notes to anon, authenticated;
grant all on table public.other to anon;
