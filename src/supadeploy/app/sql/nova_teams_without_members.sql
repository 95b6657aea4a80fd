-- Nova teams left without any imported member.
select t.id, t.name from pg_temp.nova_team t where not exists (
  select 1 from pg_temp.nova_member_plan p where p.nova_team_id = t.id and p.reason is null)
order by t.name, t.id
