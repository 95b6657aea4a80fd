-- expect:
-- supadeploy-ignore policy-per-row-call: the table holds a few hundred rows and is read by admins only
create policy "own" on public.notes for select to authenticated using (owner = auth.uid());
-- supadeploy-ignore-file rls-not-enabled: a view-backing table, exposed read-only through a function
create table public.lookup (code text primary key);
