-- The sessions that block the Supabase CLI's backends while they wait for a lock, as pg_blocking_pids says.
-- The CLI's backends: this login role's sessions that connected since %(since)s and carry the CLI's
-- application_name (%(application)s), other than this one.
-- What is shown of a blocker: pid, login role, application_name, state, when its current (or last) query
-- started and how long its transaction has been open; never its query text, whose literals may hold secrets.
select distinct
  b.pid,
  b.usename::text as usename,
  b.application_name,
  b.state,
  b.query_start,
  extract(epoch from (pg_catalog.now() - b.xact_start))::float8 as xact_seconds
from pg_catalog.pg_stat_activity w
cross join lateral unnest(pg_catalog.pg_blocking_pids(w.pid)) as blocker(pid)
join pg_catalog.pg_stat_activity b on b.pid = blocker.pid
where w.wait_event_type = 'Lock'
  and w.application_name = %(application)s
  and w.usename = session_user
  and w.backend_start >= %(since)s
  and w.pid <> pg_catalog.pg_backend_pid()
