-- expect: policy-without-roles@4, policy-without-roles@5, policy-per-row-call@5, policy-without-roles@6, policy-without-roles@8, policy-per-row-call@8, policy-without-roles@10, policy-without-roles@14, policy-without-roles@15, policy-without-roles@17
-- Only signed-in users can pass these, yet they name no roles: PostgreSQL still evaluates them for
-- anon requests. A performance and clarity hint, never a blocker.
create policy "Users can view own profile" on public.profiles for select using ((select auth.uid()) = id);
create policy "Users can insert own profile" on public.profiles for insert with check (auth.uid() = id);
create policy "own rows" on "public"."todos" as permissive for all to public using (((select auth.uid()) = user_id));
-- Storage: a folder per user.
create policy "Users upload to their folder" on storage.objects for insert
  with check (bucket_id = 'avatars' and auth.uid()::text = (storage.foldername(name))[1]);
create policy "team members read" on public.projects for select
  using (exists (select 1 from public.team_members m
                 where m.team_id = projects.team_id and m.user_id = (select auth.uid())));
-- ¥ and ü in a comment above do not move the line.
create policy "signed in" on public.notes for select using ((select auth.role()) = 'authenticated');
create policy "claims" on public.notes for update
  using (((select auth.jwt()) ->> 'email') = owner_email);
create policy "in my teams" on public.notes for delete
  using (team_id in (select t.team_id from public.team_members t where t.user_id = (select auth.uid())));
