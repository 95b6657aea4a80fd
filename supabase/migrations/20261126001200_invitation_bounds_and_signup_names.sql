-- What a second red-team pass found (issue 12): invitations an admin may delete, invitations without
-- bounds, and a sign-up that a long name makes fail.
--
-- 1. Admins deleted any invitation of their team: an owner invitation (which only owners may send), and
--    accepted or revoked ones, the history admins are told to read. Now only a pending invitation (not
--    accepted, not revoked; an expired one too: it is clutter) is withdrawn, an owner invitation only by
--    an owner, the others by admins and owners.
-- 2. Any signed-in account may create a team and send invitations to any address, any number of them,
--    of any length (3,000 characters were accepted). An address has at most 254 characters (RFC 5321's
--    limit on a path, 256 octets with its angle brackets), and a team has at most 500 pending (not
--    accepted, not revoked, not expired) invitations: create_invitation refuses the 255th character and
--    the 501st invitation. The table holds the address limit too (a CHECK added NOT VALID here and
--    validated by 20261126001300).
-- 3. Supabase Auth's sign-up failed (23514, which aborts its insert into auth.users) when the display
--    name in the user's metadata, or their address's local part, had more than the 100 characters that
--    profiles.display_name allows. The profile now gets the first 100 characters; a sign-up always works.

-- 1. Withdrawing invitations -----------------------------------------------------------------------------
-- ALTER, not DROP and CREATE: the table is never without a DELETE policy. The name stays: to withdraw is
-- to take back what is still pending, and only owners send owner invitations.
alter policy "team_invitations: admins withdraw" on public.team_invitations
  using (
    accepted_at is null
    and revoked_at is null
    and (
      team_id = any ((select private.team_ids('owner'))::uuid[])
      or (role <> 'owner' and team_id = any ((select private.team_ids('admin'))::uuid[]))
    )
  );

-- 2. Bounds on invitations --------------------------------------------------------------------------------
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
  pending bigint;
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
  if char_length(invitee_email) > 254 then
    raise exception 'an email address has at most 254 characters' using errcode = 'invalid_parameter_value';
  end if;
  -- FOR SHARE: a concurrent demotion of the caller waits until this invitation exists.
  select m.role into caller_role
  from public.team_members m
  where m.team_id = team and m.user_id = caller
  for share;
  if caller_role is null or caller_role < 'admin' or (invitee_role = 'owner' and caller_role < 'owner') then
    raise exception 'only team admins invite, and only owners invite owners' using errcode = 'insufficient_privilege';
  end if;
  -- Invitations to one team are counted and sent one at a time, so two admins sending the 500th at once
  -- do not make 501. FOR NO KEY UPDATE: foreign key checks (FOR KEY SHARE) on the team do not wait.
  perform 1 from public.teams t where t.id = team for no key update;
  select count(*) into pending
  from public.team_invitations i
  where i.team_id = team and i.accepted_at is null and i.revoked_at is null and i.expires_at > now();
  if pending >= 500 then
    raise exception 'a team has at most 500 pending invitations: withdraw some, or wait until they expire'
      using errcode = 'check_violation';
  end if;
  insert into public.team_invitations (team_id, email, role, token_hash, invited_by, expires_at)
  values (team, lower(invitee_email), invitee_role, extensions.digest(secret, 'sha256'), caller, expires);
  return secret;
end
$$;
revoke execute on function private.create_invitation(uuid, text, public.team_role, interval)
  from public, anon, service_role;
grant execute on function private.create_invitation(uuid, text, public.team_role, interval) to authenticated;

-- Rows from before this file may have longer addresses: create_invitation took any length. None is cut
-- (a shortened address is another address, perhaps someone's) or deleted. A pending one is void: sent
-- today it would be refused, and Supabase Auth holds no address over 255 bytes to accept it. Accepted and
-- revoked invitations are history and stay as they are; the check is on the invitations that still count.
update public.team_invitations
set revoked_at = now()
where char_length(email) > 254 and accepted_at is null and revoked_at is null;

alter table public.team_invitations
  add constraint team_invitations_email_length
  check (char_length(email) <= 254 or accepted_at is not null or revoked_at is not null) not valid;

-- 3. A sign-up always makes its profile ---------------------------------------------------------------------
-- left() counts characters, not bytes, as the check on profiles.display_name does. An empty or blank
-- name is copied as before.
create or replace function private.create_profile_for_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, email, display_name)
  values (
    new.id,
    new.email,
    left(coalesce(new.raw_user_meta_data ->> 'display_name', split_part(new.email, '@', 1)), 100)
  )
  on conflict (id) do nothing;
  return new;
end
$$;
revoke execute on function private.create_profile_for_new_user() from public, anon, authenticated, service_role;
