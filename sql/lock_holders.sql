-- The sessions holding a lock on one table (%(table)s, an oid), other than this one: what a DROP INDEX
-- CONCURRENTLY on that table waits for. Shown as in blocking_sessions.sql, never with query text.
select distinct
  a.pid,
  a.usename::text as usename,
  a.application_name,
  a.state,
  a.query_start,
  extract(epoch from (pg_catalog.now() - a.xact_start))::float8 as xact_seconds
from pg_catalog.pg_locks l
join pg_catalog.pg_stat_activity a on a.pid = l.pid
where l.locktype = 'relation'
  and l.relation = %(table)s::oid
  and l.granted
  and l.pid <> pg_catalog.pg_backend_pid()
order by a.pid
