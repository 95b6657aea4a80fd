-- Teams that had no owner in Nova, and the member who became one.
select p.team_id, t.name, a.email from pg_temp.nova_member_plan p
join pg_temp.nova_team t on t.id = p.nova_team_id join auth.users a on a.id = p.user_id
where p.promoted order by t.name, p.team_id
