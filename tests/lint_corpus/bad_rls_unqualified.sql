-- expect: rls-not-enabled
create table notes (id bigint primary key);
alter table other enable row level security;
