-- db.restore, step 2 of 3, between the backup's objects and its privileges: every object the backup
-- just created gets PostgreSQL's built-in privileges back (acldefault), whatever default privileges
-- or event triggers granted meanwhile. The backup's GRANTs and REVOKEs, which pg_dump wrote against
-- the built-in privileges, then give back exactly the privileges of the backup point.
do $$
declare
  target record;
  entry record;
begin
  for target in
    with restored as (
      select pg_catalog.to_regnamespace(name) as oid from pg_temp.supadeploy_restore_schemas
    )
    select case when c.relkind = 'S' then 'sequence' else 'table' end as kind, c.oid::regclass::text as name,
           c.relacl as acl,
           pg_catalog.acldefault((case when c.relkind = 'S' then 's' else 'r' end)::"char", c.relowner) as builtin
    from pg_class c
    where c.relnamespace in (select oid from restored) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
      and c.relacl is not null
    union all
    select case p.prokind when 'p' then 'procedure' else 'function' end, p.oid::regprocedure::text,
           p.proacl, pg_catalog.acldefault('f'::"char", p.proowner)
    from pg_proc p
    where p.pronamespace in (select oid from restored) and p.proacl is not null and p.prokind <> 'a'
    union all
    select case t.typtype when 'd' then 'domain' else 'type' end, t.oid::regtype::text,
           t.typacl, pg_catalog.acldefault('T'::"char", t.typowner)
    from pg_type t
    where t.typnamespace in (select oid from restored) and t.typacl is not null and t.typtype in ('e', 'd', 'r', 'c')
    union all
    select 'schema', quote_ident(n.nspname), n.nspacl, pg_catalog.acldefault('n'::"char", n.nspowner)
    from pg_namespace n
    where n.oid in (select oid from restored) and n.nspacl is not null
      and n.nspname in (select name from pg_temp.supadeploy_restore_schemas where action = 'drop')
  loop
    for entry in
      select distinct g.grantee from pg_catalog.aclexplode(target.acl) g
    loop
      execute format('revoke all on %s %s from %s', target.kind, target.name,
        case when entry.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(entry.grantee)) end);
    end loop;
    for entry in
      select g.grantee, g.privilege_type from pg_catalog.aclexplode(target.builtin) g
    loop
      execute format('grant %s on %s %s to %s', entry.privilege_type, target.kind, target.name,
        case when entry.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(entry.grantee)) end);
    end loop;
  end loop;
end
$$;
