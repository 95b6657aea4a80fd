-- expect:
-- config: auto_expose_new_tables = false
create table public.tickets (id bigint primary key);
alter table public.tickets enable row level security;
create view public.open_tickets with (security_invoker = true) as select id from public.tickets;
create sequence public.ticket_numbers;
grant select on all tables in schema public to authenticated;
grant usage on sequence public.ticket_numbers to authenticated;
-- Default privileges restored for this schema's new tables: later tables need no GRANT of their own.
alter default privileges for role postgres in schema public grant select on tables to authenticated;
create table public.labels (id bigint primary key);
alter table public.labels enable row level security;
