-- Nova users whose emails differ only in case are one Supabase user: one membership, the highest role.
update pg_temp.nova_member_plan p set reason = 'same person as another membership (email differs only in case)'
from (select id, row_number() over (partition by team_id, user_id order by role desc, created_at, id) as n
      from pg_temp.nova_member_plan where reason is null) d
where d.id = p.id and d.n > 1
