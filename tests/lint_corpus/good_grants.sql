-- expect:
grant select on public.notes to anon;
grant insert, update on public.notes to authenticated;
revoke insert on public.notes from anon;
grant usage on schema public to anon;
