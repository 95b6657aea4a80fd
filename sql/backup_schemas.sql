-- The schemas a backup holds and a restore replaces: the project's own. Not PostgreSQL's, not
-- Supabase's (%(managed)s), not made by an extension, not owned by supabase_admin (Supabase's too,
-- and beyond what postgres may drop or create).
select n.nspname
from pg_namespace n
where n.nspname not like 'pg\_%%'
  and n.nspname <> 'information_schema'
  and n.nspname <> all (%(managed)s::text[])
  and pg_get_userbyid(n.nspowner) <> 'supabase_admin'
  and not exists (
    select from pg_depend d
    where d.classid = 'pg_namespace'::regclass and d.objid = n.oid and d.deptype = 'e'
  )
order by n.nspname
