-- The team RLS contract, in pgTAP. Runs under `supabase test db` (Docker) and
-- `invoke db.test` (any database the toolkit can reach), inside one rolled-back transaction.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(37);

-- Structure ---------------------------------------------------------------------
select is(
  (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity),
  0::bigint, 'every table in public has RLS enabled');

select is(
  (select count(*) from pg_policies where schemaname = 'public'
   and not (roles <@ '{authenticated,anon}'::name[] and roles <> '{}')),
  0::bigint, 'every policy names its roles (authenticated, or anon for API tokens)');

select is(
  (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname in ('public', 'graphql_public') and p.prosecdef),
  0::bigint, 'no SECURITY DEFINER function in an exposed schema');

select is(
  (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'private' and p.prosecdef
     and not coalesce(p.proconfig, '{}') @> array['search_path=""']),
  0::bigint, 'every SECURITY DEFINER helper pins search_path to empty');

select policies_are('public', 'deployments',
  array['deployments: members read', 'deployments: members create',
        'deployments: members update', 'deployments: admins delete',
        'deployments: tokens read', 'deployments: tokens record', 'deployments: tokens update']);

select function_privs_are('private', 'team_ids', array['public.team_role'], 'anon', '{}'::text[],
  'anon cannot call the membership helper');

select column_privs_are('public', 'team_invitations', 'token_hash', 'authenticated', '{INSERT}'::text[],
  'authenticated cannot read invitation hashes');

-- A small world, built as the database owner ---------------------------------------
insert into auth.users (id, email, aud, role) values
  ('00000000-0000-0000-0000-0000000000a1', 'owner@t.test', 'authenticated', 'authenticated'),
  ('00000000-0000-0000-0000-0000000000a2', 'admin@t.test', 'authenticated', 'authenticated'),
  ('00000000-0000-0000-0000-0000000000a3', 'member@t.test', 'authenticated', 'authenticated'),
  ('00000000-0000-0000-0000-0000000000a4', 'viewer@t.test', 'authenticated', 'authenticated'),
  ('00000000-0000-0000-0000-0000000000a5', 'outsider@t.test', 'authenticated', 'authenticated');

select is((select count(*) from public.profiles where email like '%@t.test'), 5::bigint,
  'a profile is created for each auth user');

insert into public.teams (id, name, created_by) values
  ('00000000-0000-0000-0000-0000000000b1', 'team one', '00000000-0000-0000-0000-0000000000a1'),
  ('00000000-0000-0000-0000-0000000000b2', 'team two', '00000000-0000-0000-0000-0000000000a5');
insert into public.team_members (team_id, user_id, role) values
  ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a2', 'admin'),
  ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a3', 'member'),
  ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a4', 'viewer');
insert into public.projects (id, team_id, name) values
  ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b1', 'one'),
  ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b2', 'two');
insert into public.deployments (project_id, team_id, environment) values
  ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b1', 'staging'),
  ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b2', 'staging');

select is(
  (select role::text from public.team_members
   where team_id = '00000000-0000-0000-0000-0000000000b1' and user_id = '00000000-0000-0000-0000-0000000000a1'),
  'owner', 'the creator of a team is its owner');

-- As PostgREST would: role and claims set transaction-locally ----------------------
create function pg_temp.act_as(who uuid) returns void language sql as $$
  select set_config('role', case when who is null then 'anon' else 'authenticated' end, true),
         set_config('request.jwt.claims',
           case when who is null then '{"role": "anon"}'
                else json_build_object('sub', who, 'role', 'authenticated')::text end, true);
$$;

-- viewer
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a4');
select is((select count(*) from public.deployments), 1::bigint, 'viewer reads their team''s deployments only');
select is((select count(*) from public.projects), 1::bigint, 'viewer reads their team''s projects only');
select throws_ok($$ insert into public.deployments (project_id, team_id, environment)
  values ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b1', 'local') $$,
  '42501', null, 'viewer cannot record a deployment');
select is_empty($$ update public.projects set name = 'x' returning id $$, 'viewer cannot update projects');

-- member
reset role;
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a3');
select lives_ok($$ insert into public.deployments (project_id, team_id, environment)
  values ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b1', 'local') $$,
  'member records a deployment');
select isnt_empty($$ update public.deployments set status = 'running'
  where team_id = '00000000-0000-0000-0000-0000000000b1' returning id $$, 'member updates team deployments');
select is_empty($$ delete from public.deployments returning id $$, 'member cannot delete deployments');
select throws_ok($$ insert into public.projects (team_id, name)
  values ('00000000-0000-0000-0000-0000000000b1', 'p') $$, '42501', null, 'member cannot create projects');
select throws_ok($$ insert into public.deployments (project_id, team_id, environment)
  values ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b2', 'local') $$,
  '42501', null, 'member cannot write into another team');
select is_empty($$ delete from public.team_members
  where user_id = '00000000-0000-0000-0000-0000000000a4' returning user_id $$, 'member cannot remove others');

-- admin
reset role;
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a2');
select lives_ok($$ insert into public.projects (team_id, name)
  values ('00000000-0000-0000-0000-0000000000b1', 'p2') $$, 'admin creates projects');
select isnt_empty($$ update public.team_members set role = 'member'
  where user_id = '00000000-0000-0000-0000-0000000000a4' returning user_id $$, 'admin changes a member''s role');
select is_empty($$ update public.team_members set role = 'member'
  where user_id = '00000000-0000-0000-0000-0000000000a1' returning user_id $$, 'admin cannot demote the owner');
select is_empty($$ delete from public.teams returning id $$, 'admin cannot delete the team');

-- owner
reset role;
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a1');
select throws_ok($$ delete from public.team_members
  where user_id = '00000000-0000-0000-0000-0000000000a1' $$, '23514', null, 'the last owner cannot leave');
select throws_ok($$ update public.team_members set role = 'admin'
  where user_id = '00000000-0000-0000-0000-0000000000a1' $$, '23514', null, 'the last owner cannot be demoted');
select lives_ok($$ select public.transfer_ownership('00000000-0000-0000-0000-0000000000b1',
  '00000000-0000-0000-0000-0000000000a2') $$, 'owner transfers ownership');

-- outsider and anon
reset role;
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a5');
select is((select count(*) from public.deployments
  where team_id = '00000000-0000-0000-0000-0000000000b1'), 0::bigint, 'outsider sees no deployment of team one');
select is((select count(*) from public.team_members
  where team_id = '00000000-0000-0000-0000-0000000000b1'), 0::bigint, 'outsider sees no member of team one');
select is((select count(*) from public.profiles
  where email = 'owner@t.test'), 0::bigint, 'outsider sees no profile of team one');

reset role;
select pg_temp.act_as(null);
select is((select count(*) from public.deployments), 0::bigint, 'anon without a token reads no deployment');
select throws_ok($$ select count(*) from public.teams $$, '42501', null, 'anon cannot read teams');

-- an API token, presented as PostgREST passes headers, with the anon role
reset role;
select set_config('test.token', private.issue_api_token('00000000-0000-0000-0000-0000000000b1', 'ci',
  array['deployments:read'], interval '1 day', null), true);
select set_config('role', 'anon', true), set_config('request.jwt.claims', '{"role": "anon"}', true),
       set_config('request.headers', json_build_object('x-api-token', current_setting('test.token'))::text, true);
select lives_ok($$ select private.authenticate_api_token() $$, 'a valid token passes the pre-request');
select cmp_ok((select count(*) from public.deployments), '>', 0::bigint, 'a deployments:read token reads deployments');
select is((select count(*) from public.deployments where team_id <> '00000000-0000-0000-0000-0000000000b1'),
  0::bigint, 'a token reads only its own team''s deployments');
select is((select count(*) from public.projects), 0::bigint, 'a token without projects:read reads no project');
select set_config('request.headers', json_build_object('x-api-token',
  left(current_setting('test.token'), 39)
  || case when right(current_setting('test.token'), 1) = 'Z' then 'Y' else 'Z' end)::text, true);
select throws_ok($$ select private.authenticate_api_token() $$, 'PT401', null, 'a bad checksum is a 401');
select set_config('request.headers', '{}', true);

-- service_role bypasses RLS
reset role;
select set_config('role', 'service_role', true);
select cmp_ok((select count(*) from public.deployments), '>=', 2::bigint, 'service_role reads every team');

reset role;
select * from finish();
rollback;
