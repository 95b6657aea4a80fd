-- expect: suppression-without-reason, policy-per-row-call
-- supadeploy-ignore policy-per-row-call
create policy "own" on public.notes for select to authenticated using (owner = auth.uid());
