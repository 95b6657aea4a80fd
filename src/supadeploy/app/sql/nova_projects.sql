select {id} as id, {team} as team_id, coalesce(nullif(left(btrim(s.name), 100), ''), 'Nova project') as name,
       left(s.description, 2000) as description, {created} as created_at, {updated} as updated_at
from pg_temp.nova_project s
join pg_temp.nova_team t on t.id = s."teamId"
where {where}
