-- Bench data: 100k users, 10k teams, each user in 20 teams (2M memberships, ~200 per team),
-- 3 projects per team and 1M deployments (100 per team). Run as the database owner.
insert into auth.users (id, aud, role, email, raw_user_meta_data, created_at, updated_at)
select ('00000000-0000-0000-0000-' || lpad(to_hex(i), 12, '0'))::uuid, 'authenticated', 'authenticated',
       'user' || i || '@bench.test', '{}', now(), now()
from generate_series(1, 100000) as i;

insert into public.teams (id, name)
select ('10000000-0000-0000-0000-' || lpad(to_hex(t), 12, '0'))::uuid, 'team ' || t
from generate_series(0, 9999) as t;

-- User i is in teams (7i + 491k) mod 10000 for k = 0..19: twenty distinct teams each.
insert into public.team_members (team_id, user_id, role)
select ('10000000-0000-0000-0000-' || lpad(to_hex((7 * i + 491 * k) % 10000), 12, '0'))::uuid,
       ('00000000-0000-0000-0000-' || lpad(to_hex(i), 12, '0'))::uuid,
       (array['viewer', 'member', 'admin', 'member']::public.team_role[])[1 + k % 4]
from generate_series(1, 100000) as i, generate_series(0, 19) as k;

insert into public.projects (id, team_id, name)
select ('20000000-0000-0000-0000-' || lpad(to_hex(t * 3 + p), 12, '0'))::uuid,
       ('10000000-0000-0000-0000-' || lpad(to_hex(t), 12, '0'))::uuid, 'project ' || p
from generate_series(0, 9999) as t, generate_series(0, 2) as p;

insert into public.deployments (project_id, team_id, environment, status, commit_sha, created_at)
select ('20000000-0000-0000-0000-' || lpad(to_hex((d % 10000) * 3 + (d / 10000) % 3), 12, '0'))::uuid,
       ('10000000-0000-0000-0000-' || lpad(to_hex(d % 10000), 12, '0'))::uuid,
       (array['local', 'staging', 'production']::public.deployment_environment[])[1 + d % 3],
       (array['queued', 'running', 'succeeded', 'failed', 'cancelled']::public.deployment_status[])[1 + d % 5],
       substr(md5(d::text), 1, 12),
       now() - (d % 7776000) * interval '1 second'
from generate_series(0, 999999) as d;
