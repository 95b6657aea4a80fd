-- API tokens: every path that issues or revokes says who acts, and a token lives no longer than its
-- issuer's right to issue it.
--
-- Before, private.issue_api_token / private.revoke_api_token took the acting user as an argument and
-- read null as "the trusted operator". Both were executable by `authenticated` with any argument, and
-- create_api_token / revoke_api_token passed auth.uid(), which is null for a JWT without `sub`: such a
-- request could mint a full token for any team, or revoke any team's token. Now:
-- - private.create_api_token / private.revoke_api_token act for auth.uid() only and refuse null;
-- - private.operator_issue_api_token / private.operator_revoke_api_token are the operator's path
--   (invoke tokens.*, over the database connection, or service_role), executable by no client role;
-- - a token's issuer is created_by. When the issuer stops being an admin or owner of the team
--   (demoted, removed, left, or the account deleted), their tokens are revoked, as GitHub's
--   fine-grained tokens lose access when their owner leaves the organisation. Operator tokens have
--   no issuer and live until they expire or are revoked.
-- Revocation happens when the membership changes, so verifying a token per request costs nothing more.

-- Dropped, not kept: they are the fail-open path. No Data API client can reach the private schema;
-- the one caller outside the database (supadeploy's tokens.* tasks) moves to the operator functions.
-- squawk-ignore ban-drop-function
drop function private.issue_api_token(uuid, text, text[], interval, uuid);
-- squawk-ignore ban-drop-function
drop function private.revoke_api_token(uuid, uuid);

-- Shared by both paths; executable by nobody but its owner (the SECURITY DEFINER callers below).
create function private.store_api_token(
  team uuid, token_name text, token_scopes text[], valid_for interval, issuer uuid
) returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  secret text := private.new_api_token();
begin
  if valid_for is null or valid_for < interval '1 hour' or valid_for > interval '366 days' then
    raise exception 'tokens live between 1 hour and 366 days' using errcode = 'check_violation';
  end if;
  if token_scopes is null or cardinality(token_scopes) = 0
     or not token_scopes <@ array['projects:read', 'projects:write', 'deployments:read', 'deployments:write'] then
    raise exception 'unknown scope: use projects:read, projects:write, deployments:read, deployments:write'
      using errcode = 'check_violation';
  end if;
  insert into public.api_tokens (team_id, name, token_hash, display_prefix, scopes, created_by, expires_at)
  values (team, token_name, extensions.digest(secret, 'sha256'), left(secret, 8), token_scopes, issuer,
          now() + valid_for);
  return secret;
end
$$;
revoke execute on function private.store_api_token(uuid, text, text[], interval, uuid)
  from public, anon, authenticated, service_role;

-- A signed-in admin or owner issues a token for their team.
create function private.create_api_token(team uuid, token_name text, token_scopes text[], valid_for interval)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  caller_role public.team_role;
begin
  if caller is null then
    raise exception 'sign in as a team admin to create tokens' using errcode = 'insufficient_privilege';
  end if;
  if private.presented_api_token() is not null then
    raise exception 'an API token cannot create tokens' using errcode = 'insufficient_privilege';
  end if;
  -- FOR SHARE: a concurrent demotion waits until this token exists, then revokes it with the others.
  select m.role into caller_role
  from public.team_members m
  where m.team_id = team and m.user_id = caller
  for share;
  if caller_role is null or caller_role < 'admin' then
    raise exception 'only team admins and owners create tokens' using errcode = 'insufficient_privilege';
  end if;
  return private.store_api_token(team, token_name, token_scopes, valid_for, caller);
end
$$;

create function private.revoke_api_token(token_id uuid) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
begin
  if caller is null then
    raise exception 'sign in as a team admin to revoke tokens' using errcode = 'insufficient_privilege';
  end if;
  if private.presented_api_token() is not null then
    raise exception 'an API token cannot revoke tokens' using errcode = 'insufficient_privilege';
  end if;
  update public.api_tokens t set revoked_at = coalesce(t.revoked_at, now())
  where t.id = token_id
    and exists (
      select 1 from public.team_members m
      where m.team_id = t.team_id and m.user_id = caller and m.role >= 'admin');
  if not found then
    raise exception 'no such token in a team you administer' using errcode = 'no_data_found';
  end if;
end
$$;

-- The operator's path: no user, no issuer; for the database owner and service_role only.
create function private.operator_issue_api_token(team uuid, token_name text, token_scopes text[], valid_for interval)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if private.presented_api_token() is not null then
    raise exception 'an API token cannot create tokens' using errcode = 'insufficient_privilege';
  end if;
  return private.store_api_token(team, token_name, token_scopes, valid_for, null);
end
$$;

create function private.operator_revoke_api_token(token_id uuid) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  update public.api_tokens t set revoked_at = coalesce(t.revoked_at, now()) where t.id = token_id;
  if not found then
    raise exception 'no such token' using errcode = 'no_data_found';
  end if;
end
$$;

revoke execute on function private.create_api_token(uuid, text, text[], interval),
  private.revoke_api_token(uuid),
  private.operator_issue_api_token(uuid, text, text[], interval),
  private.operator_revoke_api_token(uuid)
  from public, anon, authenticated, service_role;
grant execute on function private.create_api_token(uuid, text, text[], interval), private.revoke_api_token(uuid)
  to authenticated;
grant execute on function private.operator_issue_api_token(uuid, text, text[], interval),
  private.operator_revoke_api_token(uuid)
  to service_role;

create or replace function public.create_api_token(
  team uuid, token_name text, scopes text[], valid_for interval default interval '90 days'
) returns text
language sql
set search_path = ''
as $$
  select private.create_api_token(team, token_name, scopes, valid_for)
$$;

create or replace function public.revoke_api_token(token_id uuid) returns void
language sql
set search_path = ''
as $$
  select private.revoke_api_token(token_id)
$$;

-- A token dies with its issuer's right to issue it --------------------------------------------------
create function private.revoke_tokens_of_former_admins() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.role >= 'admin'
     and (tg_op = 'DELETE' or new.role < 'admin' or new.team_id <> old.team_id or new.user_id <> old.user_id) then
    update public.api_tokens t set revoked_at = now()
    where t.team_id = old.team_id and t.created_by = old.user_id and t.revoked_at is null;
  end if;
  return null;
end
$$;

create trigger team_members_revoke_former_admins_tokens
  after update or delete on public.team_members
  for each row execute function private.revoke_tokens_of_former_admins();

-- Deleting the issuer's account sets created_by to null (the foreign key's ON DELETE SET NULL),
-- possibly before the membership rows go: the token must not turn into an operator token then.
create function private.revoke_tokens_losing_their_issuer() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.created_by is not null and new.created_by is null and new.revoked_at is null then
    new.revoked_at := now();
  end if;
  return new;
end
$$;

create trigger api_tokens_revoke_when_issuer_goes
  before update of created_by on public.api_tokens
  for each row execute function private.revoke_tokens_losing_their_issuer();

revoke execute on function private.revoke_tokens_of_former_admins(), private.revoke_tokens_losing_their_issuer()
  from public, anon, authenticated, service_role;

-- Tokens whose issuer already lost the right: revoked now.
update public.api_tokens t set revoked_at = now()
where t.revoked_at is null
  and t.created_by is not null
  and not exists (
    select 1 from public.team_members m
    where m.team_id = t.team_id and m.user_id = t.created_by and m.role >= 'admin');
