-- expect: transaction-control
begin;
create schema app;
commit;
