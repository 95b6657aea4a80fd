-- plpgsql_check over the PL/pgSQL functions of one schema, as `supabase db lint` runs it
-- (trigger functions left out: they need a table to be checked against).
select p.proname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       plpgsql_check_function(p.oid, format := 'json')
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_language l on l.oid = p.prolang
where l.lanname = 'plpgsql'
  and p.prorettype <> 'trigger'::regtype
  and n.nspname = %(schema)s
order by p.proname, p.oid
