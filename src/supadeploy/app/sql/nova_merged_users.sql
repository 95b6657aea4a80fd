-- Nova users whose emails differ only in case: one Supabase user for all of them.
select email_key, array_agg(nova_id order by nova_id) from pg_temp.nova_user_map
where email_key <> '' group by email_key having count(*) > 1 order by email_key
