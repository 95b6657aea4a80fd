-- Who made a row comes from the session, emails come from Supabase Auth, and rows stay where they
-- were created.
--
-- Attribution (created_by, user_id) is set from auth.uid(): a client may leave it out or send its
-- own id, nothing else, and never change it (the column grants in 20261126000400 leave it out of
-- UPDATE). profiles.email is a copy of auth.users.email kept in step by a trigger; clients cannot
-- edit it, so teammates see the address the account really has.
--
-- Owner, team and project columns cannot be changed by a client's UPDATE either (same grants). The
-- one move a client may make is explicit: the owner of an AI generation or 3D model shares it with a
-- team they are a member (or more) of, or takes it back, through share_ai_generation /
-- share_model_3d. Projects, deployments and campaigns never move between teams.

-- Attribution on insert ------------------------------------------------------------------------------
alter policy "projects: admins create" on public.projects
  with check (
    team_id = any ((select private.team_ids('admin'))::uuid[])
    and created_by = (select auth.uid())
  );

alter policy "deployments: members create" on public.deployments
  with check (
    team_id = any ((select private.team_ids('member'))::uuid[])
    and created_by = (select auth.uid())
  );

alter policy "ad_campaigns: members create" on public.ad_campaigns
  with check (
    team_id = any ((select private.team_ids('member'))::uuid[])
    and created_by = (select auth.uid())
  );

-- Emails come from auth.users ------------------------------------------------------------------------
update public.profiles p
set email = u.email
from auth.users u
where u.id = p.id and p.email is distinct from u.email;

create function private.copy_email_to_profile() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.profiles p set email = new.email where p.id = new.id;
  return null;
end
$$;
revoke execute on function private.copy_email_to_profile() from public, anon, authenticated, service_role;

create trigger on_auth_user_email_changed
  after update of email on auth.users
  for each row
  when (old.email is distinct from new.email)
  execute function private.copy_email_to_profile();

-- The one explicit move: sharing personal content with a team, or taking it back -------------------
create function private.share_personal_content(content text, item uuid, team uuid) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
begin
  if caller is null then
    raise exception 'sign in to share your content' using errcode = 'insufficient_privilege';
  end if;
  -- The destination must be a team where the owner could have created the item; FOR SHARE holds
  -- that membership until the move commits.
  if team is not null then
    perform 1 from public.team_members m
    where m.team_id = team and m.user_id = caller and m.role >= 'member'
    for share;
    if not found then
      raise exception 'share only with a team where you are a member or above'
        using errcode = 'insufficient_privilege';
    end if;
  end if;
  -- Only the owner moves their item: they may always take it out of a team, as they may delete it.
  if content = 'ai_generations' then
    update public.ai_generations g set team_id = team where g.id = item and g.user_id = caller;
  elsif content = 'models_3d' then
    update public.models_3d m set team_id = team where m.id = item and m.user_id = caller;
  else
    raise exception 'nothing to share in %', content using errcode = 'invalid_parameter_value';
  end if;
  if not found then
    raise exception 'no such item of yours' using errcode = 'no_data_found';
  end if;
end
$$;
revoke execute on function private.share_personal_content(text, uuid, uuid) from public, anon, service_role;
grant execute on function private.share_personal_content(text, uuid, uuid) to authenticated;

-- team null takes the item back from its team.
create function public.share_ai_generation(generation uuid, team uuid) returns void
language sql
volatile
set search_path = ''
as $$
  select private.share_personal_content('ai_generations', generation, team)
$$;

create function public.share_model_3d(model uuid, team uuid) returns void
language sql
volatile
set search_path = ''
as $$
  select private.share_personal_content('models_3d', model, team)
$$;

revoke execute on function public.share_ai_generation(uuid, uuid), public.share_model_3d(uuid, uuid)
  from public, anon, service_role;
grant execute on function public.share_ai_generation(uuid, uuid), public.share_model_3d(uuid, uuid)
  to authenticated;
