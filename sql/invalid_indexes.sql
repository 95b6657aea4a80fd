-- INVALID indexes (pg_index.indisvalid false) on the given tables, as a failed CREATE INDEX CONCURRENTLY
-- leaves them, except those a backend is building right now (pg_stat_progress_create_index).
--   %(schemas)s, %(tables)s: parallel arrays naming the tables; a null schema resolves through the
--                            session's search_path, as the migration's own unqualified name did
select
  i.indexrelid::int8 as oid,
  n.nspname as schema,
  c.relname as name,
  t.relname as table_name,
  i.indrelid::int8 as table_oid
from pg_catalog.pg_index i
join pg_catalog.pg_class c on c.oid = i.indexrelid
join pg_catalog.pg_class t on t.oid = i.indrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where not i.indisvalid
  and i.indrelid in (
    select pg_catalog.to_regclass(
      case when s is null then pg_catalog.quote_ident(r) else pg_catalog.quote_ident(s) || '.' || pg_catalog.quote_ident(r) end
    )
    from unnest(%(schemas)s::text[], %(tables)s::text[]) as named(s, r)
  )
  and not exists (
    select from pg_catalog.pg_stat_progress_create_index p where p.index_relid = i.indexrelid
  )
order by n.nspname, c.relname
