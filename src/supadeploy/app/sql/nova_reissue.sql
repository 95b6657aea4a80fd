select t.id, t.name, array_agg(s.name order by s.name)
from pg_temp.nova_apitoken s join pg_temp.nova_team t on t.id = s."teamId"
where s."revokedAt" is null and (s."expiresAt" is null or s."expiresAt" > (now() at time zone 'UTC'))
group by t.id, t.name order by t.name, t.id
