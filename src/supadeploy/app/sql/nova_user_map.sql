-- Each Nova user with the auth.users row of the same email (case-insensitive), if any.
create temporary table nova_user_map as
select s.id as nova_id, lower(btrim(s.email)) as email_key, s.name, s."createdAt" as created_at,
       a.id as auth_id
from pg_temp.nova_user s
left join (
  select distinct on (lower(email)) lower(email) as email_key, id
  from auth.users where email is not null and email <> '' order by lower(email), id
) a on a.email_key = lower(btrim(s.email)) and btrim(s.email) <> ''
