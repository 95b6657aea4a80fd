-- expect: concurrently-not-alone@3
create table app.events (id bigint primary key, at timestamptz);
create index concurrently events_at_idx on app.events (at);
