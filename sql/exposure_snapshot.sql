-- What each client role can reach in the exposed schemas: one row per (kind, object, role, item) with a detail.
-- Parameters: schemas (the schemas the Data API exposes), roles (client roles; those missing are skipped).
-- The role 'public' is PostgreSQL's PUBLIC pseudo-role (grantee 0 in an ACL); for the real roles, privileges
-- are what has_*_privilege says, so grants through PUBLIC and role membership count, and detail 'public' marks
-- a privilege that PUBLIC holds too.
--   schema    object schema          role  item USAGE
--   table     schema.relation        role  item SELECT, INSERT, ...   (tables, views, materialized views)
--   column    schema.relation        role  item SELECT (column), ...  (only where the table-level one is missing)
--   function  schema.f(args)         role  item EXECUTE
--   default   owner: objects in schema role item privilege on new objects (pg_default_acl, explicit entries)
--   rls       schema.table           ''    ''   detail on | off | on, forced
--   policy    schema.table           ''    name detail {"command", "permissive", "roles", "using", "check"}
--   definer   schema.f(args)         ''    ''   detail SECURITY DEFINER
--   view      schema.view            ''    ''   detail invoker | owner (whose privileges and RLS apply)
with roles as (
  select oid, rolname from pg_roles where rolname = any(%(roles)s::text[]) and rolname <> 'public'
),
want_public as (
  select 1 where 'public' = any(%(roles)s::text[])
),
s as (
  select oid, nspname, nspowner, nspacl from pg_namespace where nspname = any(%(schemas)s::text[])
),
rel as (
  select c.oid, s.nspname || '.' || c.relname as name, c.relkind, c.relacl, c.relowner,
         c.relrowsecurity, c.relforcerowsecurity, c.reloptions
  from pg_class c join s on s.oid = c.relnamespace
  where c.relkind in ('r', 'p', 'v', 'm', 'f')
),
fn as (
  select p.oid, s.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as name,
         p.proacl, p.proowner, p.prosecdef
  from pg_proc p join s on s.oid = p.pronamespace
  where p.prokind = 'f'
),
table_privs(privilege) as (
  values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')
),
column_privs(privilege) as (
  values ('SELECT'), ('INSERT'), ('UPDATE'), ('REFERENCES')
),
public_tables as (
  select rel.oid, a.privilege_type
  from rel cross join lateral aclexplode(coalesce(rel.relacl, acldefault('r', rel.relowner))) a
  where a.grantee = 0
),
public_functions as (
  select fn.oid
  from fn cross join lateral aclexplode(coalesce(fn.proacl, acldefault('f', fn.proowner))) a
  where a.grantee = 0 and a.privilege_type = 'EXECUTE'
)
select 'schema' as kind, s.nspname as object, r.rolname as role, 'USAGE' as item, '' as detail
from s cross join roles r
where has_schema_privilege(r.oid, s.oid, 'USAGE')
union all
select 'schema', s.nspname, 'public', 'USAGE', ''
from s cross join want_public cross join lateral aclexplode(coalesce(s.nspacl, acldefault('n', s.nspowner))) a
where a.grantee = 0 and a.privilege_type = 'USAGE'
union all
select 'table', rel.name, r.rolname, p.privilege,
       case when exists (select 1 from public_tables pt where pt.oid = rel.oid and pt.privilege_type = p.privilege)
            then 'public' else '' end
from rel cross join roles r cross join table_privs p
where has_table_privilege(r.oid, rel.oid, p.privilege)
union all
select 'table', rel.name, 'public', pt.privilege_type, ''
from rel join public_tables pt on pt.oid = rel.oid cross join want_public
union all
select 'column', rel.name, r.rolname, p.privilege || ' (' || att.attname || ')', ''
from rel
join pg_attribute att on att.attrelid = rel.oid and att.attnum > 0 and not att.attisdropped and att.attacl is not null
cross join roles r cross join column_privs p
where has_column_privilege(r.oid, rel.oid, att.attnum, p.privilege)
  and not has_table_privilege(r.oid, rel.oid, p.privilege)
union all
select 'column', rel.name, 'public', a.privilege_type || ' (' || att.attname || ')', ''
from rel
join pg_attribute att on att.attrelid = rel.oid and att.attnum > 0 and not att.attisdropped and att.attacl is not null
cross join want_public
cross join lateral aclexplode(att.attacl) a
where a.grantee = 0
union all
select 'function', fn.name, r.rolname, 'EXECUTE',
       case when exists (select 1 from public_functions pf where pf.oid = fn.oid) then 'public' else '' end
from fn cross join roles r
where has_function_privilege(r.oid, fn.oid, 'EXECUTE')
union all
select 'function', fn.name, 'public', 'EXECUTE', ''
from fn join public_functions pf on pf.oid = fn.oid cross join want_public
union all
select 'default',
       pg_get_userbyid(d.defaclrole) || ': ' || case d.defaclobjtype
         when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
         when 'T' then 'types' when 'n' then 'schemas' else d.defaclobjtype::text end
       || coalesce(' in ' || dn.nspname, ' in every schema'),
       coalesce(gr.rolname, 'public'), a.privilege_type, ''
from pg_default_acl d
left join pg_namespace dn on dn.oid = d.defaclnamespace
cross join lateral aclexplode(d.defaclacl) a
left join pg_roles gr on gr.oid = a.grantee
where (d.defaclnamespace = 0 or dn.nspname = any(%(schemas)s::text[]))
  and (coalesce(gr.rolname, 'public') in (select rolname from roles)
       or (a.grantee = 0 and exists (select 1 from want_public)))
union all
select 'rls', rel.name, '', '',
       case when rel.relrowsecurity then 'on' else 'off' end
       || case when rel.relforcerowsecurity then ', forced' else '' end
from rel where rel.relkind in ('r', 'p')
union all
select 'policy', rel.name, '', pol.polname,
       jsonb_build_object(
         'command', case pol.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE'
                                    when 'd' then 'DELETE' else 'ALL' end,
         'permissive', pol.polpermissive,
         'roles', (select coalesce(jsonb_agg(q.name order by q.name), '[]'::jsonb)
                   from (select case when ro = 0 then 'public' else pg_get_userbyid(ro)::text end as name
                         from unnest(pol.polroles) ro) q),
         'using', pg_get_expr(pol.polqual, pol.polrelid),
         'check', pg_get_expr(pol.polwithcheck, pol.polrelid)
       )::text
from pg_policy pol join rel on rel.oid = pol.polrelid
union all
select 'definer', fn.name, '', '', 'SECURITY DEFINER'
from fn where fn.prosecdef
union all
select 'view', rel.name, '', '',
       case when exists (
         select 1 from pg_options_to_table(rel.reloptions) o
         where o.option_name = 'security_invoker' and lower(o.option_value) in ('true', 'on', '1', 'yes')
       ) then 'invoker' else 'owner' end
from rel where rel.relkind = 'v'
