-- Whether the team exists (a token for an unknown team is refused before anything is written).
select 1 from public.teams where id = %s
