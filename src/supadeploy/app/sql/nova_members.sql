select s.team_id, s.user_id, s.role, (s.created_at at time zone 'UTC') as created_at
from pg_temp.nova_member_plan s
where s.reason is null and {where}
