-- An invitation is good for one membership, once: spares and lapses are void for good.
--
-- Before, accepting one invitation left the others for the same team and address valid, and neither
-- removing nor demoting a member touched them: a removed or demoted member rejoined, at the role of
-- their choice, with a spare ("resend" makes one). An invitation that lapsed because its sender was
-- demoted worked again once they were promoted back. Now an invitation is revoked (revoked_at) when:
-- - another invitation to the same address for the same team is accepted;
-- - the member at that address is removed, leaves, or is demoted;
-- - its sender can no longer send it: they are removed, leave, or are demoted below admin (below
--   owner, for an owner invitation), or their account is deleted.
-- Revocation is permanent; accept_invitation refuses a revoked invitation.

alter table public.team_invitations add column revoked_at timestamptz;

grant select (revoked_at) on public.team_invitations to authenticated;

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
  if not found or invitation.accepted_at is not null or invitation.revoked_at is not null
     or invitation.expires_at <= now() or lower(account.email) is distinct from lower(invitation.email) then
    raise exception 'invitation not found, expired, revoked, already used or for another email'
      using errcode = 'invalid_authorization_specification';
  end if;
  -- Revocation covers a sender who lost the right; this also covers rows revoked by nothing yet.
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
  -- One membership per address: the spares are void.
  update public.team_invitations i set revoked_at = now()
  where i.team_id = invitation.team_id and lower(i.email) = lower(invitation.email)
    and i.accepted_at is null and i.revoked_at is null;
  return invitation.team_id;
end
$$;

-- A membership that ends or shrinks takes the invitations that could restore it, and those its
-- holder could no longer send, with it.
create function private.revoke_invitations_of_changed_member() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  gone boolean := tg_op = 'DELETE' or new.team_id <> old.team_id or new.user_id <> old.user_id;
begin
  if gone or new.role < old.role then
    -- The account's address now; when the account itself is being deleted it is already gone, and
    -- nothing is revoked for it here (an invitation to that address was never this member's).
    update public.team_invitations i set revoked_at = now()
    where i.team_id = old.team_id and i.accepted_at is null and i.revoked_at is null
      and lower(i.email) = (select lower(u.email) from auth.users u where u.id = old.user_id);
  end if;
  if old.role >= 'admin' and (gone or new.role < 'admin') then
    update public.team_invitations i set revoked_at = now()
    where i.team_id = old.team_id and i.invited_by = old.user_id and i.accepted_at is null and i.revoked_at is null;
  elsif old.role = 'owner' and new.role < 'owner' then
    update public.team_invitations i set revoked_at = now()
    where i.team_id = old.team_id and i.invited_by = old.user_id and i.role = 'owner'
      and i.accepted_at is null and i.revoked_at is null;
  end if;
  return null;
end
$$;

create trigger team_members_revoke_invitations
  after update or delete on public.team_members
  for each row execute function private.revoke_invitations_of_changed_member();

-- Deleting the sender's account sets invited_by to null (ON DELETE SET NULL), possibly before their
-- membership rows go: a pending invitation is revoked then, as api_tokens are.
create function private.revoke_invitations_losing_their_sender() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.invited_by is not null and new.invited_by is null and new.accepted_at is null and new.revoked_at is null then
    new.revoked_at := now();
  end if;
  return new;
end
$$;

create trigger team_invitations_revoke_when_sender_goes
  before update of invited_by on public.team_invitations
  for each row execute function private.revoke_invitations_losing_their_sender();

revoke execute on function private.revoke_invitations_of_changed_member(),
  private.revoke_invitations_losing_their_sender()
  from public, anon, authenticated, service_role;

-- Pending invitations that today's rules would already have revoked: their sender lost the right.
update public.team_invitations i set revoked_at = now()
where i.accepted_at is null and i.revoked_at is null
  and not exists (
    select 1 from public.team_members m
    where m.team_id = i.team_id and m.user_id = i.invited_by
      and m.role >= case when i.role = 'owner' then 'owner'::public.team_role else 'admin'::public.team_role end);

-- And spares: pending invitations to the address of someone already in the team.
update public.team_invitations i set revoked_at = now()
from public.team_members m
join auth.users u on u.id = m.user_id
where m.team_id = i.team_id and lower(u.email) = lower(i.email)
  and i.accepted_at is null and i.revoked_at is null;
