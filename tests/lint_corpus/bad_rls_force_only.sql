-- expect: rls-not-enabled@3
-- FORCE applies RLS to the table owner too; it does not enable RLS.
create table public.ledger (id bigint primary key, amount numeric);
alter table public.ledger force row level security;
