-- Team membership grows only with consent, invitations lapse, and deleting an account always works.
--
-- 1. Nobody is put into a team by someone else: a membership row is created by create_team (the
--    creator becomes owner) or by accepting an invitation, never by a client's INSERT. An admin who
--    could insert any user id could read that user's profile and probe which uuids are accounts.
-- 2. Invitations are created only through create_invitation (no direct INSERT, so no client-chosen
--    hash or expiry), live between 1 hour and 30 days, and are honoured only while whoever sent
--    them may still invite (an admin, or an owner for an owner invitation), and only for the
--    account whose confirmed email they name.
-- 3. The last owner's account can be deleted: the team passes to the highest-ranked, then
--    longest-standing remaining member, or is deleted with everything in it when nobody is left.

-- 1. -----------------------------------------------------------------------------------------------
drop policy "team_members: admins add, owners add owners" on public.team_members;
revoke insert on public.team_members from anon, authenticated;

create or replace function public.create_team(team_name text) returns uuid
language plpgsql
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  new_id uuid := extensions.gen_random_uuid();
begin
  -- A request without a user (service_role, or a JWT without `sub`) would make a team nobody owns.
  if caller is null then
    raise exception 'sign in to create a team' using errcode = 'insufficient_privilege';
  end if;
  insert into public.teams (id, name, created_by) values (new_id, team_name, caller);
  return new_id;
end
$$;

-- 2. -----------------------------------------------------------------------------------------------
drop policy "team_invitations: admins invite, owners invite owners" on public.team_invitations;
revoke insert on public.team_invitations from anon, authenticated;

-- Invitations already sent with a longer life keep at most 30 days from when they were sent.
update public.team_invitations
set expires_at = created_at + interval '30 days'
where expires_at > created_at + interval '30 days';

alter table public.team_invitations
  -- Invitations are a small table, just clamped above: validating at once scans little.
  -- squawk-ignore constraint-missing-not-valid
  add constraint team_invitations_lifetime
  check (expires_at > created_at and expires_at <= created_at + interval '30 days');

-- Inviting needs the right to write an invitation the caller may not insert directly: the rules
-- live in a SECURITY DEFINER function outside the exposed schemas, with the caller from auth.uid().
create function private.create_invitation(
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
begin
  if caller is null then
    raise exception 'sign in to invite someone' using errcode = 'insufficient_privilege';
  end if;
  if valid_for is null or valid_for < interval '1 hour' or valid_for > interval '30 days' then
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
  values (team, lower(invitee_email), invitee_role, extensions.digest(secret, 'sha256'), caller, now() + valid_for);
  return secret;
end
$$;
revoke execute on function private.create_invitation(uuid, text, public.team_role, interval)
  from public, anon, service_role;
grant execute on function private.create_invitation(uuid, text, public.team_role, interval) to authenticated;

create or replace function public.create_invitation(
  team uuid, invitee_email text, invitee_role public.team_role default 'member',
  valid_for interval default interval '7 days'
) returns text
language sql
volatile
set search_path = ''
as $$
  select private.create_invitation(team, invitee_email, invitee_role, valid_for)
$$;

create or replace function private.accept_invitation(secret text) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  invitation public.team_invitations;
  caller uuid := (select auth.uid());
  account record;
  inviter_role public.team_role;
begin
  if caller is null then
    raise exception 'sign in to accept an invitation' using errcode = 'insufficient_privilege';
  end if;
  -- The email is the account's, from Supabase Auth, not a claim the token carries.
  select u.email, u.email_confirmed_at into account from auth.users u where u.id = caller;
  if not found or account.email_confirmed_at is null then
    raise exception 'confirm your email address before accepting an invitation'
      using errcode = 'insufficient_privilege';
  end if;
  select * into invitation from public.team_invitations i
  where i.token_hash = extensions.digest(secret, 'sha256')
  for update;
  if not found or invitation.accepted_at is not null or invitation.expires_at <= now()
     or lower(account.email) is distinct from lower(invitation.email) then
    raise exception 'invitation not found, expired, already used or for another email'
      using errcode = 'invalid_authorization_specification';
  end if;
  -- An invitation is worth what its sender may still do: it lapses when they leave, are demoted
  -- below admin (below owner, for an owner invitation) or delete their account (invited_by null).
  select m.role into inviter_role
  from public.team_members m
  where m.team_id = invitation.team_id and m.user_id = invitation.invited_by
  for share;
  if inviter_role is null or inviter_role < 'admin' or (invitation.role = 'owner' and inviter_role < 'owner') then
    raise exception 'invitation lapsed: whoever sent it can no longer invite to this team'
      using errcode = 'invalid_authorization_specification';
  end if;
  insert into public.team_members (team_id, user_id, role)
  values (invitation.team_id, caller, invitation.role)
  on conflict (team_id, user_id) do nothing;
  update public.team_invitations set accepted_at = now() where id = invitation.id;
  return invitation.team_id;
end
$$;

-- 3. -----------------------------------------------------------------------------------------------
-- The last owner still cannot leave, be removed or be demoted; but when their account is deleted
-- (the cascade from auth.users: the account row is already gone), the team passes on instead.
create or replace function private.keep_an_owner() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  successor uuid;
begin
  if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner' and new.team_id = old.team_id) then
    return case when tg_op = 'DELETE' then old else new end;
  end if;
  -- The team row is locked so that two concurrent demotions cannot both pass the check.
  perform 1 from public.teams t where t.id = old.team_id for update;
  if not found then
    return old;  -- deleting the team itself cascades here: nothing to keep
  end if;
  if exists (
    select 1 from public.team_members m
    where m.team_id = old.team_id and m.role = 'owner' and m.user_id <> old.user_id
  ) then
    return case when tg_op = 'DELETE' then old else new end;
  end if;
  if tg_op = 'DELETE' and not exists (select 1 from auth.users u where u.id = old.user_id) then
    select m.user_id into successor
    from public.team_members m
    where m.team_id = old.team_id and m.user_id <> old.user_id
    order by m.role desc, m.created_at, m.user_id
    limit 1
    for update;
    if found then
      update public.team_members set role = 'owner' where team_id = old.team_id and user_id = successor;
    end if;
    -- With nobody left, private.drop_abandoned_team deletes the team once this row is gone.
    return old;
  end if;
  raise exception 'a team must keep at least one owner: transfer ownership first'
    using errcode = 'check_violation';
end
$$;

create function private.drop_abandoned_team() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from auth.users u where u.id = old.user_id)
     and not exists (select 1 from public.team_members m where m.team_id = old.team_id) then
    delete from public.teams t where t.id = old.team_id;
  end if;
  return null;
end
$$;
revoke execute on function private.drop_abandoned_team() from public, anon, authenticated, service_role;

create trigger team_members_drop_abandoned_team
  after delete on public.team_members
  for each row execute function private.drop_abandoned_team();
