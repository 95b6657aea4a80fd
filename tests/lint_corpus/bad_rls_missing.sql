-- expect: rls-not-enabled@2, rls-not-enabled@3
create table public.notes (id bigint primary key, body text);
create table graphql_public.things (id bigint primary key);
