-- Token and invitation lifetimes are elapsed time, whatever the interval says and whatever the
-- session's time zone.
--
-- PostgreSQL compares intervals as if a month were 30 days, but adds them to a timestamp with real
-- month lengths, and adds days to a timestamptz in the session's TimeZone, which a Data API client
-- chooses (PostgREST's `Prefer: timezone=...`). So `valid_for > interval '366 days'` let through
-- '3000000 months -89999634 days' (a token expiring in the year 5616) and '1 year 6 days' (371 days);
-- and the invitations' check `expires_at <= created_at + interval '30 days'` gave a different answer
-- in each time zone: an invitation sent from UTC failed its own check (23514) when accepted from a
-- zone where those 30 days cross a change of clocks, and a sender in such a zone got an hour more.
--
-- Now the expiry is computed once, in UTC (real month lengths, no clock changes), and the time from
-- now to it is what is checked; the table checks compare elapsed times (expires_at - created_at),
-- which no session setting changes. They are added NOT VALID, after the rows that break them are
-- clamped, and validated by 20261126001000 in a transaction of its own; from here they hold for every
-- row written.

-- Tokens -------------------------------------------------------------------------------------------
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
  insert into public.api_tokens (team_id, name, token_hash, display_prefix, scopes, created_by, expires_at)
  values (team, token_name, extensions.digest(secret, 'sha256'), left(secret, 8), token_scopes, issuer, expires);
  return secret;
end
$$;
revoke execute on function private.store_api_token(uuid, text, text[], interval, uuid)
  from public, anon, authenticated, service_role;

-- Tokens minted through the bypass live 366 days from their creation, no longer. A number of hours
-- adds exactly, in any time zone (366 x 24).
update public.api_tokens
set expires_at = created_at + interval '8784 hours'
where expires_at - created_at > interval '366 days';

alter table public.api_tokens
  add constraint api_tokens_lifetime check (expires_at - created_at <= interval '366 days') not valid;

-- Invitations --------------------------------------------------------------------------------------
create or replace function private.create_invitation(
  team uuid, invitee_email text, invitee_role public.team_role, valid_for interval
) returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  caller_role public.team_role;
  secret text := 'inv_' || encode(extensions.gen_random_bytes(24), 'hex');
  expires timestamptz;
begin
  if caller is null then
    raise exception 'sign in to invite someone' using errcode = 'insufficient_privilege';
  end if;
  begin
    expires := ((now() at time zone 'UTC') + valid_for) at time zone 'UTC';
  exception when datetime_field_overflow then
    expires := null;
  end;
  if expires is null or expires - now() < interval '1 hour' or expires - now() > interval '30 days' then
    raise exception 'invitations live between 1 hour and 30 days' using errcode = 'check_violation';
  end if;
  -- FOR SHARE: a concurrent demotion of the caller waits until this invitation exists.
  select m.role into caller_role
  from public.team_members m
  where m.team_id = team and m.user_id = caller
  for share;
  if caller_role is null or caller_role < 'admin' or (invitee_role = 'owner' and caller_role < 'owner') then
    raise exception 'only team admins invite, and only owners invite owners' using errcode = 'insufficient_privilege';
  end if;
  insert into public.team_invitations (team_id, email, role, token_hash, invited_by, expires_at)
  values (team, lower(invitee_email), invitee_role, extensions.digest(secret, 'sha256'), caller, expires);
  return secret;
end
$$;
revoke execute on function private.create_invitation(uuid, text, public.team_role, interval)
  from public, anon, service_role;
grant execute on function private.create_invitation(uuid, text, public.team_role, interval) to authenticated;

-- The same rule, measured the same way in every time zone. Rows that the old check let through with
-- up to an hour more (sent from a zone with a clock change) keep exactly 30 days.
-- Dropped: replaced below, in this transaction, by the same rule without the time zone.
-- squawk-ignore ban-drop-constraint
alter table public.team_invitations drop constraint team_invitations_lifetime;

update public.team_invitations
set expires_at = created_at + interval '720 hours'
where expires_at - created_at > interval '30 days';

alter table public.team_invitations
  add constraint team_invitations_lifetime
  check (expires_at > created_at and expires_at - created_at <= interval '30 days') not valid;
