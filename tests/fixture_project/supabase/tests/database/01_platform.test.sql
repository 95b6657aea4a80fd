-- What the project relies on from Supabase's database. pgTAP is there without a CREATE
-- EXTENSION here: `supabase test db` (and `invoke db.test`) create it in extensions, which
-- postgres's search_path includes, so plan() and is() resolve unqualified.
begin;
select plan(11);

select has_table('public', 'profiles', 'profiles exist');
select has_table('public', 'notes', 'notes exist');
select ok(length(encode(gen_random_bytes(9), 'hex')) = 18, 'gen_random_bytes resolves unqualified');
select col_type_is('public', 'profiles', 'handle', 'extensions', 'citext', 'handles are citext');
select is(
  (select count(*)::int from pg_publication_tables
   where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'notes'),
  1, 'notes stream through supabase_realtime');
select is(
  (select schedule from cron.job where jobname = 'purge-old-notes'),
  '0 3 * * *', 'the purge job is scheduled');
select is(
  (select count(*)::int from auth.identities i join auth.users u on u.id = i.user_id
   where u.email = 'ada@example.com' and i.provider = 'email' and i.email = 'ada@example.com'),
  1, 'the seeded user has her email identity');
select isnt(
  (select confirmed_at from auth.users where email = 'ada@example.com'),
  null, 'confirmed_at is derived from email_confirmed_at');
select ok(
  not has_table_privilege('anon', 'public.notes', 'select'),
  'anon is granted nothing (auto_expose_new_tables = false)');
select ok(
  has_table_privilege('authenticated', 'public.notes', 'insert'),
  'authenticated may insert notes, as granted');
select is(public.note_count('a0000000-0000-4000-8000-000000000001'), 1, 'note_count counts Ada''s note');

select * from finish();
rollback;
