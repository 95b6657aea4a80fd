-- expect:
create policy "own" on public.notes for select to authenticated using (owner = (select auth.uid()));
create policy "team" on public.notes for update to authenticated
  using (team = any (array(select t from private.teams_of((select auth.uid())) t)))
  with check (exists (select 1 from private.members m where m.user_id = auth.uid()));
