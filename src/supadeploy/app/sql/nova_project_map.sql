-- Deployments look their project's ids up here instead of hashing them again per row.
create temporary table nova_project_map as
select s.id as nova_id, extensions.uuid_generate_v5({ns}::uuid, 'Project:' || s.id) as project_id,
       extensions.uuid_generate_v5({ns}::uuid, 'Team:' || s."teamId") as team_id
from pg_temp.nova_project s join pg_temp.nova_team t on t.id = s."teamId"
