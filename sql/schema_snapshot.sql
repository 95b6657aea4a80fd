-- One row per schema object that migrations own: (kind, name, definition).
-- excluded (a parameter): schemas to leave out (Supabase-managed ones, the CLI's and supadeploy's own).
with s as (
  select oid, nspname from pg_namespace
  where nspname <> all (%(excluded)s::text[])
    and nspname not like 'pg\_%%' and nspname <> 'information_schema'
),
rel as (
  select c.oid, c.relname, c.relkind, c.relacl, c.relrowsecurity, c.relforcerowsecurity, s.nspname
  from pg_class c join s on s.oid = c.relnamespace
  where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
    and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
)
select 'schema' as kind, nspname as name, '' as definition from s
union all
select 'table', nspname || '.' || relname,
       'kind ' || relkind::text || ', rls ' || relrowsecurity || ', force rls ' || relforcerowsecurity
from rel
union all
select 'column', r.nspname || '.' || r.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
       || case when a.attnotnull then ' not null' else '' end
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
       || case when a.attgenerated <> '' then ' generated' else '' end
       || case when a.attidentity <> '' then ' identity ' || a.attidentity::text else '' end
from rel r
join pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where r.relkind <> 'S'
union all
select 'constraint', r.nspname || '.' || r.relname || '.' || con.conname, pg_get_constraintdef(con.oid)
from pg_constraint con join rel r on r.oid = con.conrelid
union all
select 'index', r.nspname || '.' || i.relname, pg_get_indexdef(i.oid)
from pg_index x join pg_class i on i.oid = x.indexrelid join rel r on r.oid = x.indrelid
union all
select 'function', s.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       md5(pg_get_functiondef(p.oid))
from pg_proc p join s on s.oid = p.pronamespace
where p.prokind in ('f', 'p', 'w')
  and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
union all
select 'trigger', tn.nspname || '.' || c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
from pg_trigger t
join pg_class c on c.oid = t.tgrelid
join pg_namespace tn on tn.oid = c.relnamespace
join pg_proc p on p.oid = t.tgfoid
where not t.tgisinternal
  and (tn.oid in (select oid from s) or p.pronamespace in (select oid from s))
union all
select 'policy', pol.schemaname || '.' || pol.tablename || '.' || pol.policyname,
       pol.cmd || ' ' || pol.permissive || ' to ' || array_to_string(pol.roles, ',')
       || ' using ' || coalesce(pol.qual, '-') || ' check ' || coalesce(pol.with_check, '-')
from pg_policies pol where pol.schemaname in (select nspname from s)
union all
select 'type', s.nspname || '.' || t.typname,
       'enum ' || (select string_agg(e.enumlabel, ',' order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid)
from pg_type t join s on s.oid = t.typnamespace
where t.typtype = 'e'
union all
select 'grant', r.nspname || '.' || r.relname || ' to ' || coalesce(g.rolname, 'public'),
       string_agg(a.privilege_type, ',' order by a.privilege_type)
from rel r cross join lateral aclexplode(r.relacl) a left join pg_roles g on g.oid = a.grantee
group by r.nspname, r.relname, g.rolname
union all
select 'grant', r.nspname || '.' || r.relname || '.' || att.attname || ' to ' || coalesce(g.rolname, 'public'),
       string_agg(a.privilege_type, ',' order by a.privilege_type)
from rel r join pg_attribute att on att.attrelid = r.oid and att.attacl is not null
cross join lateral aclexplode(att.attacl) a left join pg_roles g on g.oid = a.grantee
group by r.nspname, r.relname, att.attname, g.rolname
union all
select 'grant', s.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') to '
       || coalesce(g.rolname, 'public'),
       string_agg(a.privilege_type, ',' order by a.privilege_type)
from pg_proc p join s on s.oid = p.pronamespace
cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
left join pg_roles g on g.oid = a.grantee
where not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
group by s.nspname, p.proname, p.oid, g.rolname
union all
select 'grant', s.nspname || ' to ' || coalesce(g.rolname, 'public'),
       string_agg(a.privilege_type, ',' order by a.privilege_type)
from s join pg_namespace n on n.oid = s.oid
cross join lateral aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
left join pg_roles g on g.oid = a.grantee
group by s.nspname, g.rolname
