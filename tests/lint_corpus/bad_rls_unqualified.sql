-- expect: rls-not-enabled@2
create table notes (id bigint primary key);
alter table other enable row level security;
