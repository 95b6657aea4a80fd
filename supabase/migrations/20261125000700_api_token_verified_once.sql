-- API tokens: verify once per request. The pre-request looks the token up and holds what it found
-- (hash, team, scopes) in a transaction-local setting; the policy helper uses that instead of a
-- second lookup, but only for the token this request presents (the held hash must match it), and
-- falls back to its own lookup when the pre-request did not run. The checksum is now checked only
-- to name the failure: a lookup miss is a 401 either way.

create or replace function private.authenticate_api_token() returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  presented text := private.presented_api_token();
  token record;
begin
  if presented is null then
    return;
  end if;
  select t.id, t.team_id, t.scopes, t.token_hash, t.revoked_at, t.expires_at, t.last_used_at into token
  from public.api_tokens t
  where t.token_hash = extensions.digest(presented, 'sha256');
  if not found or token.revoked_at is not null or token.expires_at <= now() then
    if not private.api_token_well_formed(presented) then
      raise exception 'malformed API token' using errcode = 'PT401';
    end if;
    raise exception 'invalid, expired or revoked API token' using errcode = 'PT401';
  end if;
  if nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub' is not null then
    raise exception 'send either a user session or an API token, not both' using errcode = 'PT401';
  end if;
  perform set_config(
    'supadeploy.api_token',
    encode(token.token_hash, 'hex') || ' ' || token.team_id::text || ' ' || array_to_string(token.scopes, ','),
    true
  );
  -- GET and HEAD run read-only: last use is recorded on writes, at most once a minute.
  if current_setting('transaction_read_only') = 'off'
     and (token.last_used_at is null or token.last_used_at < now() - interval '1 minute') then
    update public.api_tokens set last_used_at = now() where id = token.id;
  end if;
end
$$;

-- Teams whose data the presented token may touch with `scope`: its team, or none.
create or replace function private.api_token_teams(scope text) returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  -- Inlined rather than private.presented_api_token(): this runs in every token-checked policy.
  presented text := nullif(current_setting('request.headers', true), '')::json ->> 'x-api-token';
  held text[] := string_to_array(nullif(current_setting('supadeploy.api_token', true), ''), ' ');
  found_team uuid;
begin
  if presented is null then
    return '{}';
  end if;
  -- What the pre-request verified, bound to this request's token: a value set any other way for
  -- another token (or none) is ignored.
  if held is not null and held[1] = encode(extensions.digest(presented, 'sha256'), 'hex') then
    return case when scope = any (string_to_array(held[3], ',')) then array[held[2]::uuid] else '{}'::uuid[] end;
  end if;
  select t.team_id into found_team
  from public.api_tokens t
  where t.token_hash = extensions.digest(presented, 'sha256')
    and t.revoked_at is null and t.expires_at > now() and scope = any (t.scopes);
  return case when found_team is null then '{}'::uuid[] else array[found_team] end;
end
$$;
