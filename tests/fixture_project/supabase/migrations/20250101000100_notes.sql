-- Profiles and notes, each row visible only to its author.
create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  handle citext not null unique,
  invite_code text not null default encode(gen_random_bytes(9), 'hex'),
  created_at timestamptz not null default now()
);
alter table public.profiles enable row level security;

create table public.notes (
  id uuid primary key default uuid_generate_v4(),
  author uuid not null default auth.uid() references auth.users (id) on delete cascade,
  body text not null check (length(body) between 1 and 10000),
  created_at timestamptz not null default now()
);
alter table public.notes enable row level security;
create index notes_author_idx on public.notes (author);

-- auto_expose_new_tables = false: the Data API reaches only what is granted here.
grant select, update (handle) on public.profiles to authenticated;
grant select, insert, delete on public.notes to authenticated;

create policy "profiles: authors read their own" on public.profiles
  for select to authenticated using (id = (select auth.uid()));
create policy "profiles: authors rename themselves" on public.profiles
  for update to authenticated using (id = (select auth.uid())) with check (id = (select auth.uid()));
create policy "notes: authors read their own" on public.notes
  for select to authenticated using (author = (select auth.uid()));
create policy "notes: authors write their own" on public.notes
  for insert to authenticated with check (author = (select auth.uid()));
create policy "notes: authors delete their own" on public.notes
  for delete to authenticated using (author = (select auth.uid()));

-- Clients follow their notes live.
alter publication supabase_realtime add table public.notes;

-- A profile for every new user, made by a trigger on auth.users (Supabase's documented pattern).
create schema private;
create function private.create_profile() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, handle)
  values (new.id, coalesce(new.raw_user_meta_data ->> 'handle', new.id::text));
  return new;
end
$$;
revoke all on function private.create_profile() from public;
create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.create_profile();

-- How many notes an author has (PL/pgSQL, so `invoke db.lint --db` checks its body).
create function public.note_count(who uuid) returns integer
language plpgsql
stable
set search_path = ''
as $$
declare
  total integer;
begin
  select count(*) into total from public.notes where author = who;
  return total;
end
$$;
revoke all on function public.note_count(uuid) from public;
grant execute on function public.note_count(uuid) to authenticated;
