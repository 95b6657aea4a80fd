-- db.restore, step 3 of 3: refuse to commit a backup that was not read to its end (the relay sets
-- restore_complete only once pg_restore exited cleanly), then create again what depends on the
-- restored schemas from outside them (restore_dependents.sql, recorded when the backup was made).
\if :{?restore_complete}
\else
do $$ begin raise exception 'the backup was not read to its end'; end $$;
\endif

do $$
declare
  target record;
begin
  for target in select definition from pg_temp.supadeploy_restore_dependents order by position loop
    execute target.definition;
  end loop;
end
$$;
