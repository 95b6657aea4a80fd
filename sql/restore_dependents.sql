-- Objects outside the project's schemas (%(schemas)s) that depend on objects inside them: a trigger on
-- auth.users that calls our function, a policy on storage.objects that calls ours. Dropping our schemas
-- drops them too, so a restore creates them again from `definition` (run with an empty search_path, so
-- every name in it is qualified). `definition` is NULL for a kind a restore cannot create again.
with ours as (
  select oid from pg_namespace where nspname = any (%(schemas)s::text[])
),
inside as (
  select 'pg_class'::regclass as classid, c.oid from pg_class c where c.relnamespace in (select oid from ours)
  union all
  select 'pg_proc'::regclass, p.oid from pg_proc p where p.pronamespace in (select oid from ours)
  union all
  select 'pg_type'::regclass, t.oid from pg_type t where t.typnamespace in (select oid from ours)
),
dependent as (
  select distinct d.classid, d.objid
  from pg_depend d
  join inside i on i.classid = d.refclassid and i.oid = d.refobjid
  where d.deptype = 'n'
    and not exists (select from pg_depend e where e.classid = d.classid and e.objid = d.objid and e.deptype = 'e')
),
placed as (
  select d.classid, d.objid,
    case d.classid
      when 'pg_trigger'::regclass then
        (select c.relnamespace from pg_trigger t join pg_class c on c.oid = t.tgrelid where t.oid = d.objid)
      when 'pg_policy'::regclass then
        (select c.relnamespace from pg_policy p join pg_class c on c.oid = p.polrelid where p.oid = d.objid)
      when 'pg_constraint'::regclass then (select connamespace from pg_constraint where oid = d.objid)
      when 'pg_rewrite'::regclass then
        (select c.relnamespace from pg_rewrite r join pg_class c on c.oid = r.ev_class where r.oid = d.objid)
      when 'pg_attrdef'::regclass then
        (select c.relnamespace from pg_attrdef a join pg_class c on c.oid = a.adrelid where a.oid = d.objid)
      when 'pg_class'::regclass then (select relnamespace from pg_class where oid = d.objid)
      when 'pg_proc'::regclass then (select pronamespace from pg_proc where oid = d.objid)
      when 'pg_type'::regclass then (select typnamespace from pg_type where oid = d.objid)
    end as namespace
  from dependent d
)
select
  pg_describe_object(p.classid, p.objid, 0) as name,
  case p.classid
    when 'pg_trigger'::regclass then (
      select pg_get_triggerdef(t.oid)
        || case t.tgenabled
             when 'D' then format('; alter table %%s disable trigger %%I', t.tgrelid::regclass, t.tgname)
             when 'R' then format('; alter table %%s enable replica trigger %%I', t.tgrelid::regclass, t.tgname)
             when 'A' then format('; alter table %%s enable always trigger %%I', t.tgrelid::regclass, t.tgname)
             else ''
           end
      from pg_trigger t where t.oid = p.objid
    )
    when 'pg_policy'::regclass then (
      select format(
        'create policy %%I on %%s as %%s for %%s to %%s%%s%%s',
        pol.polname,
        pol.polrelid::regclass,
        case when pol.polpermissive then 'permissive' else 'restrictive' end,
        case pol.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update' when 'd' then 'delete'
          else 'all' end,
        (select string_agg(case when r.role = 0 then 'public' else quote_ident(pg_get_userbyid(r.role)) end, ', '
                           order by r.n)
         from unnest(pol.polroles) with ordinality as r (role, n)),
        ' using (' || pg_get_expr(pol.polqual, pol.polrelid) || ')',
        ' with check (' || pg_get_expr(pol.polwithcheck, pol.polrelid) || ')'
      )
      from pg_policy pol where pol.oid = p.objid
    )
  end as definition
from placed p
where p.namespace is null or p.namespace not in (select oid from ours)
order by p.classid::oid, name
