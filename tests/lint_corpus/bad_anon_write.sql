-- expect: anon-write-grant@2, anon-write-grant@3
grant select, insert on public.notes to anon, authenticated;
grant all on table public.other to anon;
