-- expect: policy-without-roles@4
create table public.notes (id bigint primary key, owner uuid);
alter table public.notes enable row level security;
create policy "read own" on public.notes for select using (owner = (select auth.uid()));
create policy "read public" on public.notes for select to public using (true);
