-- expect:
-- Policies meant for everyone name no roles (or `to public`): anon must keep passing them.
create policy "public read" on public.products for select using (true);
create policy "Avatar images are publicly accessible." on storage.objects
  for select using (bucket_id = 'avatars');
create policy "published posts" on "public"."posts" as permissive for select to public
  using ((status = 'published'::text));
-- Signed-in users see their drafts, everyone sees published ones: `to authenticated` would hide those.
create policy "read posts" on public.posts for select
  using (status = 'published' or author_id = (select auth.uid()));
create policy "anon submissions" on public.feedback for insert with check ((select auth.uid()) is null);
create policy "shared via team helper" on public.docs for select
  using (private.can_read(team_id));
-- A restrictive policy with no roles restricts everyone: naming roles would lift it for the others.
create policy "not banned" on public.comments as restrictive for all
  using (not exists (select 1 from public.bans b where b.user_id = (select auth.uid())));
create policy "everyone, said out loud" on public.products for select to anon, authenticated using (true);
create policy "claims with a default" on public.flags for select
  using (coalesce((select auth.jwt()) ->> 'plan', 'free') = 'free');
