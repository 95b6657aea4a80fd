-- expect: api-grant-missing@4, api-grant-missing@13, api-grant-missing@15
-- config: auto_expose_new_tables = false
-- No GRANT and no default privileges: the Data API cannot reach these.
create table public.invoices (id bigint primary key, total numeric);
alter table public.invoices enable row level security;

create table "public"."receipts" ("id" bigint not null, "url" text);
alter table "public"."receipts" enable row level security;
grant select, insert on table "public"."receipts" to "authenticated";
grant all on table "public"."receipts" to "service_role";

-- A view and a sequence need their grants too.
create view public.invoice_totals with (security_invoker = true) as select sum(total) as total from public.invoices;
-- (the sequence)
create sequence public.ticket_numbers;

-- Quiet: not exposed.
create table private.audit (id bigint primary key);
