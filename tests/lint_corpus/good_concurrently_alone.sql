-- expect:
create index concurrently if not exists events_at_idx on app.events (at);
