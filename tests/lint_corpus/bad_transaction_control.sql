-- expect: transaction-control@2, transaction-control@4
begin;
create schema app;
commit;
