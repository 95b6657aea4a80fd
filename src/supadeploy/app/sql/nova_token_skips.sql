select case when t.id is null then 'orphan: team not in Nova' end as reason, s.id
from pg_temp.nova_apitoken s left join pg_temp.nova_team t on t.id = s."teamId"
