-- expect:
-- auto_expose_new_tables left unset: new tables in public get the Data API roles' privileges.
create table public.invoices (id bigint primary key, total numeric);
alter table public.invoices enable row level security;
create sequence public.ticket_numbers;
