-- A team keeps an owner: where Nova had none, its most senior member (role, then join date) becomes one.
update pg_temp.nova_member_plan p set role = 'owner', promoted = true
from (select distinct on (m.team_id) m.id from pg_temp.nova_member_plan m
      where m.reason is null and m.team_id in (
        select team_id from pg_temp.nova_member_plan where reason is null
        group by team_id having not bool_or(role = 'owner'))
      order by m.team_id, m.role desc, m.created_at, m.id) c
where c.id = p.id
