-- The unmatched users, inserted as Supabase Auth would (Docker-free backend, or a rolled-back dry run).
insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
                        created_at, updated_at)
select '00000000-0000-0000-0000-000000000000',
       extensions.uuid_generate_v5({ns}::uuid, 'User:' || email_key),
       'authenticated', 'authenticated', email_key,
       '{{"provider": "email", "providers": ["email"]}}'::jsonb,
       jsonb_strip_nulls(jsonb_build_object('display_name', left(name, 100), 'nova_user_id', nova_id)),
       created_at at time zone 'UTC', now()
from (
  select distinct on (email_key) email_key, name, nova_id, created_at
  from pg_temp.nova_user_map where auth_id is null and email_key <> ''
  order by email_key, created_at, nova_id
) u
on conflict (id) do nothing
