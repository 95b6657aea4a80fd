-- A member's change of address voids the invitations to that address, old or new, in their teams.
--
-- 20261126000600 voids, when a member is removed or demoted, the pending invitations to the address
-- their account has then. A member who changed address first kept the rest: sent an invitation to
-- their address while a member, they moved the account to another address, were removed (voiding
-- nothing at the new one), moved back and accepted it, rejoining at the role it named. Now, while
-- someone is a member of a team, a pending invitation there to an address they leave or take is void
-- (they are in the team already: it can only be a spare), as when they are removed or demoted.

create function private.revoke_invitations_of_changed_address() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.team_invitations i set revoked_at = now()
  where i.accepted_at is null and i.revoked_at is null
    and lower(i.email) in (lower(old.email), lower(new.email))
    and exists (select 1 from public.team_members m where m.team_id = i.team_id and m.user_id = new.id);
  return null;
end
$$;
revoke execute on function private.revoke_invitations_of_changed_address()
  from public, anon, authenticated, service_role;

create trigger on_auth_user_email_changed_revoke_invitations
  after update of email on auth.users
  for each row
  when (old.email is distinct from new.email)
  execute function private.revoke_invitations_of_changed_address();
