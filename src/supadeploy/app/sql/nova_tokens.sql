-- Nova's secrets cannot become valid vsn_ tokens: each is imported revoked, with a random hash nobody
-- knows the preimage of, the display prefix vsn_nova, and every scope (it never authenticates).
select {id} as id, {team} as team_id, coalesce(nullif(left(btrim(s.name), 100), ''), 'Nova token') as name,
       extensions.digest(extensions.gen_random_bytes(32), 'sha256') as token_hash,
       'vsn_nova' as display_prefix, {scopes}::text[] as scopes, u.auth_id as created_by, {created} as created_at,
       -- A token lives at most 366 days (api_tokens_lifetime), whatever Nova allowed.
       least(greatest(coalesce(s."expiresAt", s."createdAt" + interval '1 year'), s."createdAt" + interval '1 second'),
             s."createdAt" + interval '366 days') at time zone 'UTC' as expires_at,
       coalesce({revoked}, now()) as revoked_at, {last_used} as last_used_at
from pg_temp.nova_apitoken s
join pg_temp.nova_team t on t.id = s."teamId"
left join pg_temp.nova_user_map u on u.nova_id = s."createdById"
where {where}
