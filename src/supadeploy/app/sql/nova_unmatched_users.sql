-- Nova emails with no Supabase account yet: one row per email, its earliest Nova user first.
select email_key, (array_agg(name order by created_at, nova_id))[1], min(created_at),
       array_agg(nova_id order by created_at, nova_id)
from pg_temp.nova_user_map
where auth_id is null and email_key <> ''
group by email_key order by email_key
