-- The schemas `supabase db lint` checks by default (CLI: pkg/migration ListUserSchemas):
-- not created by an extension, not Supabase-managed (%(managed)s: LIKE patterns), not owned
-- by supabase_admin.
select n.nspname
from pg_namespace n
left join pg_depend d on d.objid = n.oid and d.classid = 'pg_namespace'::regclass and d.deptype = 'e'
where d.objid is null
  and not n.nspname like any (%(managed)s)
  and pg_get_userbyid(n.nspowner) <> 'supabase_admin'
order by n.nspname
