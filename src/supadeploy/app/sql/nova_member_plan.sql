create temporary table nova_member_plan as
select s.id, s."teamId" as nova_team_id, s."createdAt" as created_at,
       case when t.id is null then 'orphan: team not in Nova'
            when u.nova_id is null then 'orphan: user not in Nova'
            when u.email_key is null or u.email_key = '' then 'user has no email'
            when u.auth_id is null then 'user has no Supabase account (--create-users creates it)'
       end as reason,
       extensions.uuid_generate_v5({ns}::uuid, 'Team:' || s."teamId") as team_id,
       u.auth_id as user_id,
       (case upper(s.role) when 'OWNER' then 'owner' when 'ADMIN' then 'admin' when 'VIEWER' then 'viewer'
        else 'member' end)::public.team_role as role,
       false as promoted
from pg_temp.nova_teammember s
left join pg_temp.nova_team t on t.id = s."teamId"
left join pg_temp.nova_user_map u on u.nova_id = s."userId"
