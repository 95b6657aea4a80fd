-- Projects and deployment tracking (from Nova). Deployments carry team_id so that
-- policies filter on an indexed column instead of joining through projects; a
-- composite foreign key keeps it equal to the project's team.
create table public.projects (
  id uuid primary key default extensions.gen_random_uuid(),
  team_id uuid not null references public.teams (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 100),
  description text check (char_length(description) <= 2000),
  created_by uuid references auth.users (id) on delete set null default auth.uid(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, team_id)
);
create index projects_team_id_idx on public.projects (team_id);
create index projects_created_by_idx on public.projects (created_by);
alter table public.projects enable row level security;

create trigger projects_touch_updated_at
  before update on public.projects
  for each row execute function private.touch_updated_at();

create table public.deployments (
  id uuid primary key default extensions.gen_random_uuid(),
  project_id uuid not null,
  team_id uuid not null,
  environment public.deployment_environment not null,
  status public.deployment_status not null default 'queued',
  commit_sha text check (commit_sha ~ '^[0-9a-f]{7,40}$'),
  url text check (char_length(url) <= 2048),
  created_by uuid references auth.users (id) on delete set null default auth.uid(),
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  foreign key (project_id, team_id) references public.projects (id, team_id) on delete cascade,
  constraint deployments_finished_after_started check (finished_at is null or (started_at is not null and finished_at >= started_at))
);
create index deployments_team_id_created_at_idx on public.deployments (team_id, created_at desc);
create index deployments_project_id_team_id_idx on public.deployments (project_id, team_id);
create index deployments_created_by_idx on public.deployments (created_by);
alter table public.deployments enable row level security;

-- projects: viewers read; admins create, change and delete.
create policy "projects: members read"
  on public.projects for select to authenticated
  using (team_id = any ((select private.team_ids('viewer'))::uuid[]));

create policy "projects: admins create"
  on public.projects for insert to authenticated
  with check (team_id = any ((select private.team_ids('admin'))::uuid[]));

create policy "projects: admins update"
  on public.projects for update to authenticated
  using (team_id = any ((select private.team_ids('admin'))::uuid[]))
  with check (team_id = any ((select private.team_ids('admin'))::uuid[]));

create policy "projects: admins delete"
  on public.projects for delete to authenticated
  using (team_id = any ((select private.team_ids('admin'))::uuid[]));

-- deployments: viewers read; members record and update; admins delete.
create policy "deployments: members read"
  on public.deployments for select to authenticated
  using (team_id = any ((select private.team_ids('viewer'))::uuid[]));

create policy "deployments: members create"
  on public.deployments for insert to authenticated
  with check (team_id = any ((select private.team_ids('member'))::uuid[]));

create policy "deployments: members update"
  on public.deployments for update to authenticated
  using (team_id = any ((select private.team_ids('member'))::uuid[]))
  with check (team_id = any ((select private.team_ids('member'))::uuid[]));

create policy "deployments: admins delete"
  on public.deployments for delete to authenticated
  using (team_id = any ((select private.team_ids('admin'))::uuid[]));

revoke all on public.projects, public.deployments from anon;
revoke truncate, references, trigger on public.projects, public.deployments from authenticated;
