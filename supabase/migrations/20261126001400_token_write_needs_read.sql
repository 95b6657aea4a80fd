-- A token's write scope comes with its read scope: `projects:write` needs `projects:read`,
-- `deployments:write` needs `deployments:read`.
--
-- Since 20261126000700 a token updates only the rows it may read, so a token issued with a write
-- scope alone could insert but never update: less than its scopes said. Issuing one is now refused,
-- on both paths (private.create_api_token for team admins, private.operator_issue_api_token for
-- operators), with a message naming the scope to add. The read scope is not added silently: a
-- token never gets more than its issuer asked for.
--
-- Tokens issued before keep their scopes (widening them would grant reads nobody asked for); the
-- policies still bound them to what 20261126000700 allows. As 20261126000500, with the new check.

create or replace function private.store_api_token(
  team uuid, token_name text, token_scopes text[], valid_for interval, issuer uuid
) returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  secret text := private.new_api_token();
  expires timestamptz;
  kind text;
begin
  begin
    expires := ((now() at time zone 'UTC') + valid_for) at time zone 'UTC';
  exception when datetime_field_overflow then
    expires := null;  -- beyond the year 294276: refused below, like a null interval
  end;
  if expires is null or expires - now() < interval '1 hour' or expires - now() > interval '366 days' then
    raise exception 'tokens live between 1 hour and 366 days' using errcode = 'check_violation';
  end if;
  if token_scopes is null or cardinality(token_scopes) = 0
     or not token_scopes <@ array['projects:read', 'projects:write', 'deployments:read', 'deployments:write'] then
    raise exception 'unknown scope: use projects:read, projects:write, deployments:read, deployments:write'
      using errcode = 'check_violation';
  end if;
  foreach kind in array array['projects', 'deployments'] loop
    if (kind || ':write') = any (token_scopes) and not (kind || ':read') = any (token_scopes) then
      raise exception '%:write needs %:read (a token updates only rows it may read): add %:read', kind, kind, kind
        using errcode = 'check_violation';
    end if;
  end loop;
  insert into public.api_tokens (team_id, name, token_hash, display_prefix, scopes, created_by, expires_at)
  values (team, token_name, extensions.digest(secret, 'sha256'), left(secret, 8), token_scopes, issuer, expires);
  return secret;
end
$$;
revoke execute on function private.store_api_token(uuid, text, text[], interval, uuid)
  from public, anon, authenticated, service_role;
