-- expect:
-- Quoted identifiers, as `supabase db diff` writes them.
create table "public"."Orders" ("id" bigint not null);
alter table "public"."Orders" enable row level security;
-- Enabled inside a DO block, as hand-written "idempotent" migrations do.
create table public.carts (id bigint primary key);
do $$
begin
  if not exists (select 1 from pg_tables where schemaname = 'public' and tablename = 'carts') then
    raise notice 'missing';
  end if;
  alter table public.carts enable row level security;
end
$$;
-- Temporary tables are never exposed.
create temporary table staging_rows (id bigint);
-- Writes granted to anon on a table whose RLS this file enables: the policies decide.
create table public.guestbook (id bigint primary key, message text);
alter table public.guestbook enable row level security;
grant insert on public.guestbook to anon;
create policy "anyone signs" on public.guestbook for insert to anon with check (length(message) < 500);
