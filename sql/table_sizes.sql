-- The target's tables as db.plan needs them, read from the catalog only (a read-only role can run it).
-- One row per table, partitioned table, materialized view, view, foreign table and sequence outside the
-- system schemas, plus one row per domain that carries constraints (kind 'domain').
--   rows:  pg_class.reltuples, the estimate VACUUM/ANALYZE keep (null when the table was never analysed);
--          for a partitioned table, the sum over its leaf partitions
--   bytes: pg_total_relation_size (heap, TOAST and indexes); for a partitioned table, the sum over its leaves
--   columns:     {name: [internal type name, format_type]}
--   indexes:     {name: [column, ...]} (expression columns are left out)
--   constraints: {name: [contype, referenced table or null, [column, ...]]}
--   referenced_by: tables whose foreign keys point at this one
with rel as (
  select c.oid, n.nspname, c.relname, c.relkind, c.reltuples
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p', 'm', 'v', 'f', 'S')
    and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
    and n.nspname not like 'pg\_temp\_%'
    and n.nspname not like 'pg\_toast\_temp\_%'
)
select
  r.nspname as schema,
  r.relname as name,
  r.relkind::text as kind,
  case
    when r.relkind = 'p' then (
      select sum(greatest(pc.reltuples, 0))::bigint
      from pg_partition_tree(r.oid) t join pg_class pc on pc.oid = t.relid
      where t.isleaf
    )
    when r.reltuples < 0 then null
    else r.reltuples::bigint
  end as rows,
  case
    when r.relkind = 'p' then (
      select coalesce(sum(pg_total_relation_size(t.relid)), 0)::bigint
      from pg_partition_tree(r.oid) t
      where t.isleaf
    )
    else pg_total_relation_size(r.oid)
  end as bytes,
  coalesce((
    select jsonb_object_agg(a.attname, jsonb_build_array(ty.typname, format_type(a.atttypid, a.atttypmod)))
    from pg_attribute a join pg_type ty on ty.oid = a.atttypid
    where a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
  ), '{}'::jsonb) as columns,
  coalesce((
    select jsonb_object_agg(
      ic.relname,
      coalesce((
        select jsonb_agg(a.attname order by k.ord)
        from unnest(x.indkey::int2[]) with ordinality k(attnum, ord)
        join pg_attribute a on a.attrelid = r.oid and a.attnum = k.attnum
      ), '[]'::jsonb)
    )
    from pg_index x join pg_class ic on ic.oid = x.indexrelid
    where x.indrelid = r.oid
  ), '{}'::jsonb) as indexes,
  coalesce((
    select jsonb_object_agg(
      con.conname,
      jsonb_build_array(
        con.contype::text,
        case when con.confrelid <> 0 then (
          select fn.nspname || '.' || fc.relname
          from pg_class fc join pg_namespace fn on fn.oid = fc.relnamespace
          where fc.oid = con.confrelid
        ) end,
        coalesce((
          select jsonb_agg(a.attname order by k.ord)
          from unnest(con.conkey) with ordinality k(attnum, ord)
          join pg_attribute a on a.attrelid = r.oid and a.attnum = k.attnum
        ), '[]'::jsonb)
      )
    )
    from pg_constraint con
    where con.conrelid = r.oid
  ), '{}'::jsonb) as constraints,
  coalesce((
    select jsonb_agg(distinct rn.nspname || '.' || rc.relname)
    from pg_constraint con
    join pg_class rc on rc.oid = con.conrelid
    join pg_namespace rn on rn.oid = rc.relnamespace
    where con.confrelid = r.oid and con.contype = 'f' and con.conrelid <> r.oid
  ), '[]'::jsonb) as referenced_by
from rel r
union all
select n.nspname, t.typname, 'domain', null, null, '{}'::jsonb, '{}'::jsonb, '{}'::jsonb, '[]'::jsonb
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
where t.typtype = 'd'
  and n.nspname not in ('pg_catalog', 'information_schema')
  and (t.typnotnull or exists (select 1 from pg_constraint c where c.contypid = t.oid))
