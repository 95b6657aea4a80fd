-- db.restore, step 1 of 3, in the restore's one transaction (psql --single-transaction): make room.
-- psql variables: drop_schemas and empty_schemas (JSON arrays of names), dependents (a JSON array of
-- statements that create again what, outside these schemas, depends on them; run by restore_finish.sql).
select pg_catalog.set_config('search_path', '', false);
set client_min_messages = warning;

create temporary table supadeploy_restore_schemas on commit drop as
  select 'drop' as action, value as name from pg_catalog.jsonb_array_elements_text(:'drop_schemas'::jsonb)
  union all
  select 'empty', value from pg_catalog.jsonb_array_elements_text(:'empty_schemas'::jsonb);

create temporary table supadeploy_restore_dependents on commit drop as
  select ordinality as position, value as definition
  from pg_catalog.jsonb_array_elements_text(:'dependents'::jsonb) with ordinality;

do $$
declare
  target record;
begin
  -- A schema that holds no extension's objects goes whole, with everything in it (and, by CASCADE,
  -- what depends on it elsewhere: restore_finish.sql creates that again).
  for target in select name from pg_temp.supadeploy_restore_schemas where action = 'drop' loop
    execute format('drop schema if exists %I cascade', target.name);
  end loop;
  -- public, and a schema holding an extension's objects, stays: it is emptied of everything else.
  for target in
    with emptied as (
      select pg_catalog.to_regnamespace(name) as oid from pg_temp.supadeploy_restore_schemas where action = 'empty'
    ),
    found as (
      select 'pg_class'::regclass as classid, c.oid,
        format('drop %s if exists %s cascade',
          case c.relkind when 'v' then 'view' when 'm' then 'materialized view' when 'f' then 'foreign table'
            when 'S' then 'sequence' else 'table' end,
          c.oid::regclass) as statement
      from pg_class c where c.relnamespace in (select oid from emptied) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
      union all
      select 'pg_proc'::regclass, p.oid,
        format('drop %s if exists %s cascade',
          case p.prokind when 'a' then 'aggregate' when 'p' then 'procedure' else 'function' end, p.oid::regprocedure)
      from pg_proc p where p.pronamespace in (select oid from emptied)
      union all
      select 'pg_type'::regclass, t.oid,
        format('drop %s if exists %s cascade', case t.typtype when 'd' then 'domain' else 'type' end, t.oid::regtype)
      from pg_type t
      where t.typnamespace in (select oid from emptied)
        and t.typtype in ('e', 'd', 'r', 'c')
        and (t.typtype <> 'c' or (select relkind from pg_class where oid = t.typrelid) = 'c')
    )
    -- Not an extension's member ('e'), nor what goes with its owner ('i': an identity column's sequence).
    select statement from found f
    where not exists (
      select from pg_depend e where e.classid = f.classid and e.objid = f.oid and e.deptype in ('e', 'i')
    )
  loop
    execute target.statement;
  end loop;
end
$$;
