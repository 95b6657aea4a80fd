-- The exposure contract: the schema grants, explicitly, everything the Data API may reach and nothing
-- more, so it behaves the same whether the project's "default privileges for new entities" are on or
-- off (config.toml [api] auto_expose_new_tables; sql/exposure_off.sql is what "off" does). Grants are
-- per column wherever a client may write only some columns: owner, team, project and attribution
-- columns, ids and timestamps are never client-updatable.
--
-- From here on the defaults deny: what a later migration creates in public is reachable by no API
-- role, and no function postgres creates anywhere is executable by PUBLIC, until that migration
-- grants it.

-- Defaults ---------------------------------------------------------------------------------------------
alter default privileges for role postgres in schema public
  revoke all on tables from anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  revoke all on sequences from anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  revoke all on functions from anon, authenticated, service_role;
-- PostgreSQL gives EXECUTE on every new function to PUBLIC (and so to anon); a per-schema default
-- cannot take that away, only the role-wide one can. The extensions schema keeps its own grants.
alter default privileges for role postgres revoke execute on functions from public;

-- Tables: start from nothing -----------------------------------------------------------------------------
revoke all on public.profiles, public.teams, public.team_members, public.team_invitations, public.projects,
  public.deployments, public.ai_generations, public.models_3d, public.subscriptions, public.ad_campaigns,
  public.api_tokens
  from public, anon, authenticated, service_role;

-- service_role bypasses RLS: these grants are the whole of its limit. No TRUNCATE, no TRIGGER.
grant select, insert, update, delete on public.profiles, public.teams, public.team_members,
  public.team_invitations, public.projects, public.deployments, public.ai_generations, public.models_3d,
  public.subscriptions, public.ad_campaigns, public.api_tokens
  to service_role;

-- authenticated: what RLS then narrows to rows ------------------------------------------------------------
grant select on public.profiles to authenticated;
grant update (display_name, avatar_url) on public.profiles to authenticated;

grant select, delete on public.teams to authenticated;
grant insert (id, name, created_by) on public.teams to authenticated;
grant update (name) on public.teams to authenticated;

grant select, delete on public.team_members to authenticated;
grant update (role) on public.team_members to authenticated;

-- The secret's hash is never readable; invitations are created and accepted only through the RPCs.
grant select (id, team_id, email, role, invited_by, expires_at, accepted_at, created_at)
  on public.team_invitations to authenticated;
grant delete on public.team_invitations to authenticated;

grant select, delete on public.projects to authenticated;
grant insert (id, team_id, name, description, created_by) on public.projects to authenticated;
grant update (name, description) on public.projects to authenticated;

grant select, delete on public.deployments to authenticated;
grant insert (id, project_id, team_id, environment, status, commit_sha, url, created_by, started_at, finished_at)
  on public.deployments to authenticated;
grant update (environment, status, commit_sha, url, started_at, finished_at) on public.deployments to authenticated;

grant select, delete on public.ai_generations to authenticated;
grant insert (id, user_id, team_id, prompt, model, status, result_ref, error) on public.ai_generations to authenticated;
grant update (prompt, model, status, result_ref, error) on public.ai_generations to authenticated;

grant select, delete on public.models_3d to authenticated;
grant insert (id, user_id, team_id, name, storage_path, format, size_bytes) on public.models_3d to authenticated;
grant update (name, storage_path, format, size_bytes) on public.models_3d to authenticated;

grant select on public.subscriptions to authenticated;

grant select, delete on public.ad_campaigns to authenticated;
grant insert (id, team_id, name, budget_cents, currency, status, starts_on, ends_on, created_by)
  on public.ad_campaigns to authenticated;
grant update (name, budget_cents, currency, status, starts_on, ends_on) on public.ad_campaigns to authenticated;

grant select (id, team_id, name, display_prefix, scopes, created_by, created_at, expires_at, revoked_at,
              last_used_at)
  on public.api_tokens to authenticated;

-- anon: only API-token requests, and only through the TO anon token policies. No created_by: a token
-- has no user, so the column keeps its default (null).
grant select on public.projects, public.deployments to anon;
-- supadeploy-ignore anon-write-grant: column-limited; admitted only by the token policies (TO anon)
grant insert (id, team_id, name, description) on public.projects to anon;
-- supadeploy-ignore anon-write-grant: column-limited; admitted only by the token policies (TO anon)
grant update (name, description) on public.projects to anon;
-- supadeploy-ignore anon-write-grant: column-limited; admitted only by the token policies (TO anon)
grant insert (id, project_id, team_id, environment, status, commit_sha, url, started_at, finished_at)
  on public.deployments to anon;
-- supadeploy-ignore anon-write-grant: column-limited; admitted only by the token policies (TO anon)
grant update (environment, status, commit_sha, url, started_at, finished_at) on public.deployments to anon;

-- Functions: start from nothing, then one grant each --------------------------------------------------------
revoke all on function
  public.create_team(text),
  public.create_invitation(uuid, text, public.team_role, interval),
  public.accept_invitation(text),
  public.transfer_ownership(uuid, uuid),
  public.create_api_token(uuid, text, text[], interval),
  public.revoke_api_token(uuid),
  public.share_ai_generation(uuid, uuid),
  public.share_model_3d(uuid, uuid),
  private.touch_updated_at(),
  private.create_profile_for_new_user(),
  private.copy_email_to_profile(),
  private.team_ids(public.team_role),
  private.add_team_creator_as_owner(),
  private.keep_an_owner(),
  private.drop_abandoned_team(),
  private.create_invitation(uuid, text, public.team_role, interval),
  private.accept_invitation(text),
  private.share_personal_content(text, uuid, uuid),
  private.crc32(bytea),
  private.base62(bigint, integer),
  private.api_token_well_formed(text),
  private.new_api_token(),
  private.presented_api_token(),
  private.api_token_teams(text),
  private.authenticate_api_token(),
  private.store_api_token(uuid, text, text[], interval, uuid),
  private.create_api_token(uuid, text, text[], interval),
  private.revoke_api_token(uuid),
  private.operator_issue_api_token(uuid, text, text[], interval),
  private.operator_revoke_api_token(uuid),
  private.revoke_tokens_of_former_admins(),
  private.revoke_tokens_losing_their_issuer()
  from public, anon, authenticated, service_role;

-- The RPCs act for the signed-in user (auth.uid()); nobody else has a use for them.
grant execute on function
  public.create_team(text),
  public.create_invitation(uuid, text, public.team_role, interval),
  public.accept_invitation(text),
  public.transfer_ownership(uuid, uuid),
  public.create_api_token(uuid, text, text[], interval),
  public.revoke_api_token(uuid),
  public.share_ai_generation(uuid, uuid),
  public.share_model_3d(uuid, uuid)
  to authenticated;

-- What the RPCs and the authenticated policies call.
grant execute on function
  private.team_ids(public.team_role),
  private.create_invitation(uuid, text, public.team_role, interval),
  private.accept_invitation(text),
  private.share_personal_content(text, uuid, uuid),
  private.create_api_token(uuid, text, text[], interval),
  private.revoke_api_token(uuid)
  to authenticated;

-- PostgREST's pre-request runs for every request, whatever its role; the token policies are TO anon.
grant execute on function private.authenticate_api_token() to anon, authenticated, service_role;
grant execute on function private.api_token_teams(text) to anon;

-- The operator's token path.
grant execute on function private.operator_issue_api_token(uuid, text, text[], interval),
  private.operator_revoke_api_token(uuid)
  to service_role;

-- private holds no tables; usage lets the roles above reach the functions granted to them.
revoke all on schema private from public;
grant usage on schema private to anon, authenticated, service_role;
