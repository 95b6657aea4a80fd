-- expect: anon-write-grant@6, anon-write-grant@8, rls-not-enabled@10
create table public.drafts (id bigint primary key);
alter table public.drafts enable row level security;
create table private.jobs (id bigint primary key);
-- Every table in both schemas: private.jobs has no RLS.
grant insert, update on all tables in schema public, private to anon;
-- PUBLIC includes anon.
grant delete on private.jobs to public;
-- A table created here without RLS: rls-not-enabled says it once; its grants restate that hole.
create table public.scratch (id bigint primary key);
grant all on table public.scratch to anon;
