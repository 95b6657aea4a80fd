-- expect:
create table public.notes (id bigint primary key, owner uuid);
alter table public.notes enable row level security;
create table notes_archive (id bigint primary key);
alter table public.notes_archive enable row level security;
create schema if not exists private;
create table private.internal (id bigint primary key);
