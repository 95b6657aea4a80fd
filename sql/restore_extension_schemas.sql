-- Which of %(schemas)s hold objects of an extension (a restore empties those, never drops them).
select distinct n.nspname
from pg_depend d
join pg_namespace n on n.oid = case d.classid
    when 'pg_class'::regclass then (select relnamespace from pg_class where oid = d.objid)
    when 'pg_proc'::regclass then (select pronamespace from pg_proc where oid = d.objid)
    when 'pg_type'::regclass then (select typnamespace from pg_type where oid = d.objid)
  end
where d.deptype = 'e'
  and d.classid in ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass)
  and n.nspname = any (%(schemas)s::text[])
