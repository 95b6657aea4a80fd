-- Vision-'s own features: AI generations, 3D models, Stripe subscriptions, ad campaigns.

-- Personal content that may be shared with a team: the owner always has it; a team's
-- viewers read it, members edit it, admins delete it.
create table public.ai_generations (
  id uuid primary key default extensions.gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade default auth.uid(),
  team_id uuid references public.teams (id) on delete cascade,
  prompt text not null check (char_length(prompt) between 1 and 20000),
  model text not null check (char_length(model) between 1 and 200),
  status public.generation_status not null default 'queued',
  result_ref text check (char_length(result_ref) <= 2048),
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index ai_generations_user_id_idx on public.ai_generations (user_id, created_at desc);
create index ai_generations_team_id_idx on public.ai_generations (team_id, created_at desc);
alter table public.ai_generations enable row level security;

create table public.models_3d (
  id uuid primary key default extensions.gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade default auth.uid(),
  team_id uuid references public.teams (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 200),
  storage_path text not null check (char_length(storage_path) between 1 and 1024),
  format text not null check (format in ('glb', 'gltf', 'usdz', 'obj', 'fbx')),
  size_bytes bigint not null check (size_bytes >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index models_3d_user_id_idx on public.models_3d (user_id);
create index models_3d_team_id_idx on public.models_3d (team_id);
alter table public.models_3d enable row level security;

create trigger ai_generations_touch_updated_at
  before update on public.ai_generations
  for each row execute function private.touch_updated_at();
create trigger models_3d_touch_updated_at
  before update on public.models_3d
  for each row execute function private.touch_updated_at();

-- Billing: written only by the Stripe webhook (service_role); read by the subscriber
-- or, for a team's subscription, by that team's admins.
create table public.subscriptions (
  id uuid primary key default extensions.gen_random_uuid(),
  user_id uuid references auth.users (id) on delete cascade,
  team_id uuid references public.teams (id) on delete cascade,
  stripe_customer_id text not null check (stripe_customer_id ~ '^cus_[A-Za-z0-9]+$'),
  stripe_subscription_id text unique check (stripe_subscription_id ~ '^sub_[A-Za-z0-9]+$'),
  plan text not null check (char_length(plan) between 1 and 100),
  status text not null check (status in
    ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')),
  current_period_end timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint subscriptions_one_subscriber check (num_nonnulls(user_id, team_id) = 1)
);
create index subscriptions_user_id_idx on public.subscriptions (user_id);
create index subscriptions_team_id_idx on public.subscriptions (team_id);
create index subscriptions_stripe_customer_id_idx on public.subscriptions (stripe_customer_id);
alter table public.subscriptions enable row level security;

create trigger subscriptions_touch_updated_at
  before update on public.subscriptions
  for each row execute function private.touch_updated_at();

create table public.ad_campaigns (
  id uuid primary key default extensions.gen_random_uuid(),
  team_id uuid not null references public.teams (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 200),
  budget_cents bigint not null default 0 check (budget_cents >= 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  status public.campaign_status not null default 'draft',
  starts_on date,
  ends_on date,
  created_by uuid references auth.users (id) on delete set null default auth.uid(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint ad_campaigns_ends_after_start check (ends_on is null or starts_on is null or ends_on >= starts_on)
);
create index ad_campaigns_team_id_idx on public.ad_campaigns (team_id);
create index ad_campaigns_created_by_idx on public.ad_campaigns (created_by);
alter table public.ad_campaigns enable row level security;

create trigger ad_campaigns_touch_updated_at
  before update on public.ad_campaigns
  for each row execute function private.touch_updated_at();

-- ai_generations and models_3d: owner, or the team at the right rank.
create policy "ai_generations: owner and team read"
  on public.ai_generations for select to authenticated
  using (user_id = (select auth.uid()) or team_id = any ((select private.team_ids('viewer'))::uuid[]));

create policy "ai_generations: users create their own, in their teams"
  on public.ai_generations for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and (team_id is null or team_id = any ((select private.team_ids('member'))::uuid[]))
  );

create policy "ai_generations: owner and team members update"
  on public.ai_generations for update to authenticated
  using (user_id = (select auth.uid()) or team_id = any ((select private.team_ids('member'))::uuid[]))
  with check (
    (user_id = (select auth.uid()) and (team_id is null or team_id = any ((select private.team_ids('member'))::uuid[])))
    or team_id = any ((select private.team_ids('member'))::uuid[])
  );

create policy "ai_generations: owner and team admins delete"
  on public.ai_generations for delete to authenticated
  using (user_id = (select auth.uid()) or team_id = any ((select private.team_ids('admin'))::uuid[]));

create policy "models_3d: owner and team read"
  on public.models_3d for select to authenticated
  using (user_id = (select auth.uid()) or team_id = any ((select private.team_ids('viewer'))::uuid[]));

create policy "models_3d: users create their own, in their teams"
  on public.models_3d for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and (team_id is null or team_id = any ((select private.team_ids('member'))::uuid[]))
  );

create policy "models_3d: owner and team members update"
  on public.models_3d for update to authenticated
  using (user_id = (select auth.uid()) or team_id = any ((select private.team_ids('member'))::uuid[]))
  with check (
    (user_id = (select auth.uid()) and (team_id is null or team_id = any ((select private.team_ids('member'))::uuid[])))
    or team_id = any ((select private.team_ids('member'))::uuid[])
  );

create policy "models_3d: owner and team admins delete"
  on public.models_3d for delete to authenticated
  using (user_id = (select auth.uid()) or team_id = any ((select private.team_ids('admin'))::uuid[]));

-- subscriptions: read by the subscriber or the team's admins; no client writes at all.
create policy "subscriptions: subscriber and team admins read"
  on public.subscriptions for select to authenticated
  using (user_id = (select auth.uid()) or team_id = any ((select private.team_ids('admin'))::uuid[]));

-- ad_campaigns: team content.
create policy "ad_campaigns: members read"
  on public.ad_campaigns for select to authenticated
  using (team_id = any ((select private.team_ids('viewer'))::uuid[]));

create policy "ad_campaigns: members create"
  on public.ad_campaigns for insert to authenticated
  with check (team_id = any ((select private.team_ids('member'))::uuid[]));

create policy "ad_campaigns: members update"
  on public.ad_campaigns for update to authenticated
  using (team_id = any ((select private.team_ids('member'))::uuid[]))
  with check (team_id = any ((select private.team_ids('member'))::uuid[]));

create policy "ad_campaigns: admins delete"
  on public.ad_campaigns for delete to authenticated
  using (team_id = any ((select private.team_ids('admin'))::uuid[]));

revoke all on public.ai_generations, public.models_3d, public.subscriptions, public.ad_campaigns from anon;
revoke truncate, references, trigger
  on public.ai_generations, public.models_3d, public.subscriptions, public.ad_campaigns from authenticated;
revoke insert, update, delete on public.subscriptions from authenticated;
