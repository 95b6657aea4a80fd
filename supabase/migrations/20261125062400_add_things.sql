create table things(id int primary key); alter table things enable row level security;
