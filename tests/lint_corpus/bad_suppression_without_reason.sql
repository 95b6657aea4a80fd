-- expect: suppression-without-reason@2, policy-per-row-call@3
-- supadeploy-ignore policy-per-row-call
create policy "own" on public.notes for select to authenticated using (owner = auth.uid());
