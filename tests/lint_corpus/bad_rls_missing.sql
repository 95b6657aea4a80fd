-- expect: rls-not-enabled
create table public.notes (id bigint primary key, body text);
create table graphql_public.things (id bigint primary key);
