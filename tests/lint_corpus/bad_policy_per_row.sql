-- expect: policy-per-row-call@2, policy-per-row-call@3, policy-per-row-call@5
create policy "own" on public.notes for select to authenticated using (owner = auth.uid());
create policy "claims" on public.notes for update to authenticated
  using (true) with check ((auth.jwt() ->> 'team') = team::text);
create policy "setting" on public.notes for delete to authenticated
  using (team::text = current_setting('app.team', true));
