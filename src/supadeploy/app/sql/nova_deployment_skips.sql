select case when p.id is null then 'orphan: project not in Nova'
            when t.id is null then 'orphan: the project''s team is not in Nova' end as reason, s.id
from pg_temp.nova_deployment s
left join pg_temp.nova_project p on p.id = s."projectId"
left join pg_temp.nova_team t on t.id = p."teamId"
