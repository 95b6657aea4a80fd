-- An API token updates only rows it may read: `projects:write` with `projects:read`,
-- `deployments:write` with `deployments:read`.
--
-- PostgreSQL applies a table's SELECT policies to an UPDATE only when the UPDATE reads the rows (a
-- WHERE, a RETURNING, a SET that uses a column). A PATCH with no filter and `Prefer: return=minimal`
-- reads nothing, so a token with only `deployments:write` rewrote every deployment of its team.
-- Hosted Supabase preloads safeupdate for the authenticator role, which refuses an UPDATE or DELETE
-- without a WHERE; the rule here does not depend on it (a filter that matches every row passes it).
-- Tokens never delete: anon holds no DELETE grant and no DELETE policy.

alter policy "projects: tokens update" on public.projects
  using (
    team_id = any ((select private.api_token_teams('projects:write'))::uuid[])
    and team_id = any ((select private.api_token_teams('projects:read'))::uuid[])
  )
  with check (team_id = any ((select private.api_token_teams('projects:write'))::uuid[]));

alter policy "deployments: tokens update" on public.deployments
  using (
    team_id = any ((select private.api_token_teams('deployments:write'))::uuid[])
    and team_id = any ((select private.api_token_teams('deployments:read'))::uuid[])
  )
  with check (team_id = any ((select private.api_token_teams('deployments:write'))::uuid[]));
