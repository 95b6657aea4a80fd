-- A private bucket; each user reads and uploads under a folder named by their id.
insert into storage.buckets (id, name, public) values ('attachments', 'attachments', false);

create policy "attachments: owners read" on storage.objects
  for select to authenticated
  using (bucket_id = 'attachments' and owner_id = (select auth.uid())::text);
create policy "attachments: owners upload into their folder" on storage.objects
  for insert to authenticated
  with check (
    bucket_id = 'attachments'
    and owner_id = (select auth.uid())::text
    and (storage.foldername(name))[1] = (select auth.uid())::text
  );
