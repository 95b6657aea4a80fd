-- Every token (of one team), newest first; never the hash.
select id, team_id, name, display_prefix, scopes, created_at, expires_at, revoked_at, last_used_at
from public.api_tokens
where %(team)s::uuid is null or team_id = %(team)s::uuid
order by created_at desc
