-- Teams (from Nova): teams, members with ranked roles, and hashed invitations.
create table public.teams (
  id uuid primary key default extensions.gen_random_uuid(),
  name text not null check (char_length(name) between 1 and 100),
  created_by uuid references auth.users (id) on delete set null default auth.uid(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index teams_created_by_idx on public.teams (created_by);
alter table public.teams enable row level security;

create table public.team_members (
  team_id uuid not null references public.teams (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role public.team_role not null default 'member',
  created_at timestamptz not null default now(),
  primary key (team_id, user_id)
);
create index team_members_user_id_idx on public.team_members (user_id, team_id) include (role);
alter table public.team_members enable row level security;

create table public.team_invitations (
  id uuid primary key default extensions.gen_random_uuid(),
  team_id uuid not null references public.teams (id) on delete cascade,
  email text not null check (email ~ '^[^@\s]+@[^@\s]+$'),
  role public.team_role not null default 'member',
  token_hash bytea not null unique check (octet_length(token_hash) = 32),
  invited_by uuid references auth.users (id) on delete set null default auth.uid(),
  expires_at timestamptz not null default now() + interval '7 days',
  accepted_at timestamptz,
  created_at timestamptz not null default now()
);
create index team_invitations_team_id_idx on public.team_invitations (team_id);
create index team_invitations_invited_by_idx on public.team_invitations (invited_by);
create index team_invitations_email_idx on public.team_invitations (lower(email));
alter table public.team_invitations enable row level security;

create trigger teams_touch_updated_at
  before update on public.teams
  for each row execute function private.touch_updated_at();

-- Membership helper for policies: the caller's teams where their role is at least
-- min_role. SECURITY DEFINER so it reads team_members without recursing into its
-- policies; policies call it as (select private.team_ids(...)) so it runs once per query.
-- PL/pgSQL rather than SQL: a SECURITY DEFINER SQL function is never inlined and is
-- planned on every call, while PL/pgSQL keeps its plan for the session.
create function private.team_ids(min_role public.team_role default 'viewer') returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return coalesce(
    (select array_agg(m.team_id) from public.team_members m
     where m.user_id = (select auth.uid()) and m.role >= min_role),
    '{}');
end
$$;
revoke execute on function private.team_ids(public.team_role) from public;
grant execute on function private.team_ids(public.team_role) to authenticated, service_role;

-- The creator of a team becomes its owner in the same transaction.
create function private.add_team_creator_as_owner() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.created_by is not null then
    insert into public.team_members (team_id, user_id, role) values (new.id, new.created_by, 'owner');
  end if;
  return new;
end
$$;

create trigger teams_add_creator_as_owner
  after insert on public.teams
  for each row execute function private.add_team_creator_as_owner();

-- A team always keeps an owner: the last owner cannot leave, be removed or be demoted.
-- The team row is locked so that two concurrent demotions cannot both pass the check.
create function private.keep_an_owner() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner' and new.team_id = old.team_id) then
    return case when tg_op = 'DELETE' then old else new end;
  end if;
  -- Deleting the team itself cascades here: nothing to keep.
  perform 1 from public.teams t where t.id = old.team_id for update;
  if not found then
    return old;
  end if;
  if not exists (
    select 1 from public.team_members m
    where m.team_id = old.team_id and m.role = 'owner' and m.user_id <> old.user_id
  ) then
    raise exception 'a team must keep at least one owner: transfer ownership first'
      using errcode = 'check_violation';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;

create trigger team_members_keep_an_owner
  before update or delete on public.team_members
  for each row execute function private.keep_an_owner();

-- teams ---------------------------------------------------------------------
create policy "teams: members read"
  on public.teams for select to authenticated
  using (id = any ((select private.team_ids('viewer'))::uuid[]));

create policy "teams: any user creates a team they own"
  on public.teams for insert to authenticated
  with check (created_by = (select auth.uid()));

create policy "teams: admins rename"
  on public.teams for update to authenticated
  using (id = any ((select private.team_ids('admin'))::uuid[]))
  with check (id = any ((select private.team_ids('admin'))::uuid[]));

create policy "teams: owners delete"
  on public.teams for delete to authenticated
  using (id = any ((select private.team_ids('owner'))::uuid[]));

-- team_members ----------------------------------------------------------------
-- Admins manage members below owner; only owners grant, change or remove the owner role.
-- Anyone may leave (delete their own row), subject to keep_an_owner.
create policy "team_members: members read their teams"
  on public.team_members for select to authenticated
  using (team_id = any ((select private.team_ids('viewer'))::uuid[]));

create policy "team_members: admins add, owners add owners"
  on public.team_members for insert to authenticated
  with check (
    team_id = any ((select private.team_ids('owner'))::uuid[])
    or (role <> 'owner' and team_id = any ((select private.team_ids('admin'))::uuid[]))
  );

create policy "team_members: admins change roles, owners change owners"
  on public.team_members for update to authenticated
  using (
    team_id = any ((select private.team_ids('owner'))::uuid[])
    or (role <> 'owner' and team_id = any ((select private.team_ids('admin'))::uuid[]))
  )
  with check (
    team_id = any ((select private.team_ids('owner'))::uuid[])
    or (role <> 'owner' and team_id = any ((select private.team_ids('admin'))::uuid[]))
  );

create policy "team_members: admins remove, anyone leaves"
  on public.team_members for delete to authenticated
  using (
    user_id = (select auth.uid())
    or team_id = any ((select private.team_ids('owner'))::uuid[])
    or (role <> 'owner' and team_id = any ((select private.team_ids('admin'))::uuid[]))
  );

-- team_invitations --------------------------------------------------------------
create policy "team_invitations: admins read"
  on public.team_invitations for select to authenticated
  using (team_id = any ((select private.team_ids('admin'))::uuid[]));

create policy "team_invitations: admins invite, owners invite owners"
  on public.team_invitations for insert to authenticated
  with check (
    invited_by = (select auth.uid())
    and (
      team_id = any ((select private.team_ids('owner'))::uuid[])
      or (role <> 'owner' and team_id = any ((select private.team_ids('admin'))::uuid[]))
    )
  );

create policy "team_invitations: admins withdraw"
  on public.team_invitations for delete to authenticated
  using (team_id = any ((select private.team_ids('admin'))::uuid[]));

-- The secret's hash is never readable by clients; invitations change only through accept.
revoke all on public.teams, public.team_members, public.team_invitations from anon;
revoke truncate, references, trigger on public.teams, public.team_members, public.team_invitations from authenticated;
revoke select, update on public.team_invitations from authenticated;
grant select (id, team_id, email, role, invited_by, expires_at, accepted_at, created_at)
  on public.team_invitations to authenticated;

-- profiles: a user reads their own profile and their teammates'.
create policy "profiles: own and teammates read"
  on public.profiles for select to authenticated
  using (
    id = (select auth.uid())
    or exists (
      select 1 from public.team_members m
      where m.user_id = profiles.id and m.team_id = any ((select private.team_ids('viewer'))::uuid[])
    )
  );

-- RPCs ------------------------------------------------------------------------
-- Create a team and return its id. No RETURNING on the insert: the creator's
-- membership is added by an AFTER trigger, so the row is not yet readable then.
create function public.create_team(team_name text) returns uuid
language plpgsql
set search_path = ''
as $$
declare
  new_id uuid := extensions.gen_random_uuid();
begin
  insert into public.teams (id, name, created_by) values (new_id, team_name, (select auth.uid()));
  return new_id;
end
$$;

-- Invite someone by email; returns the invitation secret once. Only its SHA-256 is stored.
create function public.create_invitation(
  team uuid, invitee_email text, invitee_role public.team_role default 'member',
  valid_for interval default interval '7 days'
) returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  secret text := 'inv_' || encode(extensions.gen_random_bytes(24), 'hex');
begin
  insert into public.team_invitations (team_id, email, role, token_hash, invited_by, expires_at)
  values (team, lower(invitee_email), invitee_role, extensions.digest(secret, 'sha256'), (select auth.uid()),
          now() + valid_for);
  return secret;
end
$$;

-- Accepting needs rights the invitee does not have yet (reading the invitation,
-- joining the team): the checks live in a SECURITY DEFINER function outside the API.
create function private.accept_invitation(secret text) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  invitation public.team_invitations;
  caller uuid := (select auth.uid());
  caller_email text := lower((select auth.jwt()) ->> 'email');
begin
  if caller is null then
    raise exception 'sign in to accept an invitation' using errcode = 'insufficient_privilege';
  end if;
  select * into invitation from public.team_invitations i
  where i.token_hash = extensions.digest(secret, 'sha256')
  for update;
  if not found or invitation.accepted_at is not null or invitation.expires_at <= now()
     or caller_email is distinct from lower(invitation.email) then
    raise exception 'invitation not found, expired, already used or for another email'
      using errcode = 'invalid_authorization_specification';
  end if;
  insert into public.team_members (team_id, user_id, role)
  values (invitation.team_id, caller, invitation.role)
  on conflict (team_id, user_id) do nothing;
  update public.team_invitations set accepted_at = now() where id = invitation.id;
  return invitation.team_id;
end
$$;
revoke execute on function private.accept_invitation(text) from public;
grant execute on function private.accept_invitation(text) to authenticated;

create function public.accept_invitation(secret text) returns uuid
language sql
set search_path = ''
as $$
  select private.accept_invitation(secret)
$$;

-- Make another member owner and step down to admin, in one transaction.
create function public.transfer_ownership(team uuid, new_owner uuid) returns void
language plpgsql
set search_path = ''
as $$
begin
  if not team = any (private.team_ids('owner')) then
    raise exception 'only an owner can transfer ownership' using errcode = 'insufficient_privilege';
  end if;
  update public.team_members set role = 'owner' where team_id = team and user_id = new_owner;
  if not found then
    raise exception 'the new owner must already be a member of the team' using errcode = 'no_data_found';
  end if;
  update public.team_members set role = 'admin' where team_id = team and user_id = (select auth.uid());
end
$$;

revoke execute on function public.create_team(text), public.create_invitation(uuid, text, public.team_role, interval),
  public.accept_invitation(text), public.transfer_ownership(uuid, uuid) from public, anon;
grant execute on function public.create_team(text), public.create_invitation(uuid, text, public.team_role, interval),
  public.accept_invitation(text), public.transfer_ownership(uuid, uuid) to authenticated, service_role;
