select {id} as id,
       coalesce(nullif(left(btrim(s.name), 100), ''), nullif(left(btrim(s.slug), 100), ''), 'Nova team') as name,
       {created} as created_at, {updated} as updated_at
from pg_temp.nova_team s
where {where}
