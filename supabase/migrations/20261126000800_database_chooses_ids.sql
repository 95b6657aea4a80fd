-- The database chooses every id a client creates.
--
-- A client that chose the id of a new team, project, deployment, campaign, AI generation or 3D model
-- learned whether that id existed anywhere, in any team: a duplicate key (23505), or 0 rows against
-- 1 with ON CONFLICT DO NOTHING. The ids default to gen_random_uuid(); clients no longer hold INSERT
-- on the id column, so a request naming one is refused (42501) whatever the value, and
-- `Prefer: return=representation` (RETURNING) gives back the id the database chose. The database
-- owner (the Nova import) and service_role still insert with ids of their choosing.

revoke insert (id) on public.teams, public.projects, public.deployments, public.ad_campaigns,
  public.ai_generations, public.models_3d
  from authenticated;
revoke insert (id) on public.projects, public.deployments from anon;

-- create_team ran with the caller's rights and chose the id so that it could return it (RETURNING
-- would need the caller to read the team before the trigger makes them its owner). It now inserts
-- with the definer's rights and takes the id from the database; the rules it keeps are the insert
-- policy's: the caller is signed in and becomes the owner.
create function private.create_team(team_name text) returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  new_id uuid;
begin
  -- A request without a user (service_role, or a JWT without `sub`) would make a team nobody owns.
  if caller is null then
    raise exception 'sign in to create a team' using errcode = 'insufficient_privilege';
  end if;
  insert into public.teams (name, created_by) values (team_name, caller) returning id into new_id;
  return new_id;
end
$$;
revoke execute on function private.create_team(text) from public, anon, authenticated, service_role;
grant execute on function private.create_team(text) to authenticated;

create or replace function public.create_team(team_name text) returns uuid
language sql
volatile
set search_path = ''
as $$
  select private.create_team(team_name)
$$;
