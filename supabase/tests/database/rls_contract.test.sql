-- The team RLS contract, in pgTAP. Runs under `supabase test db` (Docker) and
-- `invoke db.test` (any database the toolkit can reach), inside one rolled-back transaction.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(81);

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

select column_privs_are('public', 'team_invitations', 'token_hash', 'authenticated', '{}'::text[],
  'authenticated cannot read invitation hashes, nor write an invitation directly');

-- Grants: explicit, per column where clients write only some columns (the exposure contract) ----------
select is(
  (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace,
     aclexplode(c.relacl) a join pg_roles r on r.oid = a.grantee
   where n.nspname = 'public' and c.relkind = 'r'
     and r.rolname in ('anon', 'authenticated', 'service_role')
     and a.privilege_type in ('TRUNCATE', 'REFERENCES', 'TRIGGER')),
  0::bigint, 'no API role may truncate, reference or trigger on a table');

select is(
  (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace,
     aclexplode(c.relacl) a
   where n.nspname = 'public' and c.relkind = 'r' and a.grantee = 'anon'::regrole
     and a.privilege_type <> 'SELECT'),
  0::bigint, 'anon holds no table-wide write: only column-limited writes for API tokens');

select table_privs_are('public', 'team_members', 'authenticated', array['SELECT', 'DELETE'],
  'authenticated cannot insert team members: membership grows by create_team and invitations');

select column_privs_are('public', 'projects', 'team_id', 'authenticated', array['SELECT', 'INSERT'],
  'a project cannot be moved to another team by a client');

select column_privs_are('public', 'ai_generations', 'user_id', 'authenticated', array['SELECT', 'INSERT'],
  'an AI generation cannot be given to another user by a client');

select column_privs_are('public', 'deployments', 'created_by', 'authenticated', array['SELECT', 'INSERT'],
  'attribution is never client-updatable');

select column_privs_are('public', 'profiles', 'email', 'authenticated', array['SELECT'],
  'profile emails come from auth.users, not from the user');

select column_privs_are('public', 'projects', 'id', 'authenticated', array['SELECT'],
  'the database chooses ids: a client cannot probe which exist');

select is(
  (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname in ('public', 'private')
     and (has_function_privilege('anon', p.oid, 'execute') and p.proname not in ('authenticate_api_token', 'api_token_teams'))),
  0::bigint, 'anon executes only the API-token pre-request and policy helper');

select is(
  (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace,
     aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
   where n.nspname in ('public', 'private') and a.grantee = 0),
  0::bigint, 'no function of the schema is executable by PUBLIC');

select function_privs_are('private', 'operator_issue_api_token', array['uuid', 'text', 'text[]', 'interval'],
  'authenticated', '{}'::text[], 'the operator''s token path is not a client''s');
select function_privs_are('private', 'store_api_token', array['uuid', 'text', 'text[]', 'interval', 'uuid'],
  'service_role', '{}'::text[], 'nobody calls the token store with an issuer of their choosing');

-- The defaults deny: what postgres creates later is reachable by nobody until granted.
set local role postgres;
create function public.tap_later_function() returns int language sql as 'select 1';
create table public.tap_later_table (id int);
reset role;
select function_privs_are('public', 'tap_later_function', '{}'::text[], 'anon', '{}'::text[],
  'a function a later migration creates is not executable by anon');
select function_privs_are('public', 'tap_later_function', '{}'::text[], 'authenticated', '{}'::text[],
  'nor by authenticated');
select table_privs_are('public', 'tap_later_table', 'authenticated', '{}'::text[],
  'a table a later migration creates is not reachable by authenticated');
drop function public.tap_later_function();
drop table public.tap_later_table;

select policies_are('public', 'team_members',
  array['team_members: members read their teams', 'team_members: admins change roles, owners change owners',
        'team_members: admins remove, anyone leaves']);
select policies_are('public', 'team_invitations',
  array['team_invitations: admins read', 'team_invitations: admins withdraw']);

-- A small world, built as the database owner ---------------------------------------
insert into auth.users (id, email, aud, role) values
  ('00000000-0000-0000-0000-0000000000a1', 'owner@t.test', 'authenticated', 'authenticated'),
  ('00000000-0000-0000-0000-0000000000a2', 'admin@t.test', 'authenticated', 'authenticated'),
  ('00000000-0000-0000-0000-0000000000a3', 'member@t.test', 'authenticated', 'authenticated'),
  ('00000000-0000-0000-0000-0000000000a4', 'viewer@t.test', 'authenticated', 'authenticated'),
  ('00000000-0000-0000-0000-0000000000a5', 'outsider@t.test', 'authenticated', 'authenticated');
insert into auth.users (id, email, aud, role, email_confirmed_at) values
  ('00000000-0000-0000-0000-0000000000a6', 'newbie@t.test', 'authenticated', 'authenticated', now());

select is((select count(*) from public.profiles where email like '%@t.test'), 6::bigint,
  'a profile is created for each auth user');
insert into auth.users (id, email, aud, role, raw_user_meta_data) values
  ('00000000-0000-0000-0000-0000000000a7', 'long@t.test', 'authenticated', 'authenticated',
   json_build_object('display_name', repeat('é', 150))::jsonb);
select is((select display_name from public.profiles where id = '00000000-0000-0000-0000-0000000000a7'),
  repeat('é', 100), 'a sign-up with a long display name works: the profile keeps its first 100 characters');

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

select throws_ok($$ insert into public.api_tokens (team_id, name, token_hash, display_prefix, scopes, expires_at)
  values ('00000000-0000-0000-0000-0000000000b1', 'long', extensions.digest('long', 'sha256'), 'vsn_long',
          array['projects:read'], now() + interval '367 days') $$,
  '23514', null, 'no token lives longer than 366 days, however it is inserted');

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
select throws_ok($$ update public.deployments set team_id = '00000000-0000-0000-0000-0000000000b2',
  project_id = '00000000-0000-0000-0000-0000000000c2' $$, '42501', null, 'member cannot move a deployment');
select throws_ok($$ update public.profiles set email = 'ceo@t.test'
  where id = '00000000-0000-0000-0000-0000000000a3' $$, '42501', null, 'member cannot change their profile email');

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
select throws_ok($$ insert into public.team_members (team_id, user_id, role)
  values ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a5', 'viewer') $$,
  '42501', null, 'admin cannot add someone to the team without their consent');
select throws_ok($$ select public.create_invitation('00000000-0000-0000-0000-0000000000b1', 'x@t.test',
  'member', interval '100 years') $$, '23514', null, 'an invitation lives at most 30 days');
select throws_ok($$ select public.create_invitation('00000000-0000-0000-0000-0000000000b1', 'x@t.test',
  'member', interval '1000 months -29970 days') $$, '23514', 'invitations live between 1 hour and 30 days',
  'an interval that compares as 30 days but adds up to more is refused');
select throws_ok($$ insert into public.projects (id, team_id, name)
  values ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b1', 'p3') $$,
  '42501', null, 'admin cannot choose a project''s id (nor learn another team''s)');
select throws_ok($$ select public.create_invitation('00000000-0000-0000-0000-0000000000b1',
  repeat('a', 248) || '@t.test') $$, '22023', 'an email address has at most 254 characters',
  'an invitation''s address has at most 254 characters');
select set_config('test.invitation', public.create_invitation('00000000-0000-0000-0000-0000000000b1',
  'newbie@t.test'), true), set_config('test.spare', public.create_invitation('00000000-0000-0000-0000-0000000000b1',
  'newbie@t.test'), true);

-- invitee (confirmed email)
reset role;
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a6');
select lives_ok($$ select public.accept_invitation(current_setting('test.invitation')) $$, 'the invitee accepts');
reset role;
select is((select count(*) from public.team_invitations where email = 'newbie@t.test' and revoked_at is not null),
  1::bigint, 'accepting one invitation revokes the spare');
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a2');
select is_empty($$ delete from public.team_invitations where email = 'newbie@t.test' returning id $$,
  'admins withdraw no accepted or revoked invitation: the history stays');

-- owner
reset role;
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a1');
select set_config('test.heir', public.create_invitation('00000000-0000-0000-0000-0000000000b1', 'heir@t.test',
  'owner'), true);
reset role;
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a2');
select is_empty($$ delete from public.team_invitations where role = 'owner' returning id $$,
  'an admin cannot withdraw an owner invitation');
reset role;
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a1');
select isnt_empty($$ delete from public.team_invitations where role = 'owner' returning id $$,
  'an owner withdraws an owner invitation');
select throws_ok($$ delete from public.team_members
  where user_id = '00000000-0000-0000-0000-0000000000a1' $$, '23514', null, 'the last owner cannot leave');
select throws_ok($$ update public.team_members set role = 'admin'
  where user_id = '00000000-0000-0000-0000-0000000000a1' $$, '23514', null, 'the last owner cannot be demoted');
select lives_ok($$ select public.create_api_token('00000000-0000-0000-0000-0000000000b1', 'owner ci',
  array['deployments:read'], interval '1 day') $$, 'owner issues a token');
select throws_ok($$ select public.create_api_token('00000000-0000-0000-0000-0000000000b1', 'long',
  array['deployments:read'], interval '3000000 months -89999634 days') $$, '23514',
  'tokens live between 1 hour and 366 days', 'an interval that compares as 366 days but reaches the year 5616 is refused');
select lives_ok($$ select public.transfer_ownership('00000000-0000-0000-0000-0000000000b1',
  '00000000-0000-0000-0000-0000000000a2') $$, 'owner transfers ownership');
select is((select count(*) from public.api_tokens where revoked_at is null
  and created_by = '00000000-0000-0000-0000-0000000000a1'), 1::bigint,
  'a token survives its issuer stepping down from owner to admin');
select lives_ok($$ update public.team_members set role = 'member'
  where user_id = '00000000-0000-0000-0000-0000000000a1' $$, 'the former owner steps down to member');
reset role;
select is((select count(*) from public.api_tokens where revoked_at is null
  and created_by = '00000000-0000-0000-0000-0000000000a1'), 0::bigint,
  'no token survives its issuer''s demotion below admin');

-- a JWT without sub: role authenticated, no user
reset role;
select set_config('test.token_id', (select min(id::text) from public.api_tokens), true);
select set_config('role', 'authenticated', true), set_config('request.jwt.claims', '{"role": "authenticated"}', true);
select throws_ok($$ select public.create_api_token('00000000-0000-0000-0000-0000000000b1', 'x',
  array['projects:write'], interval '1 day') $$, '42501', null, 'no token is minted without a user');
select throws_ok($$ select public.revoke_api_token(current_setting('test.token_id')::uuid) $$, '42501', null,
  'nor revoked without a user');
select throws_ok($$ select public.create_team('nobody''s') $$, '42501', null, 'nor a team created');

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
select set_config('test.token', private.operator_issue_api_token('00000000-0000-0000-0000-0000000000b1', 'ci',
  array['deployments:read'], interval '1 day'), true);
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

-- a write scope is issued only with its read scope
reset role;
select throws_ok($$ select private.operator_issue_api_token('00000000-0000-0000-0000-0000000000b1', 'w',
  array['deployments:write'], interval '1 day') $$, '23514', null, 'deployments:write alone is not issued');

-- a write-only token issued before that rule, sending PostgREST's PATCH with no filter (an UPDATE that
-- reads no row)
select set_config('test.token', private.operator_issue_api_token('00000000-0000-0000-0000-0000000000b1', 'w',
  array['deployments:read', 'deployments:write'], interval '1 day'), true);
update public.api_tokens set scopes = array['deployments:write']
where token_hash = extensions.digest(current_setting('test.token'), 'sha256');
select set_config('role', 'anon', true), set_config('request.jwt.claims', '{"role": "anon"}', true),
       set_config('request.headers', json_build_object('x-api-token', current_setting('test.token'))::text, true);
update public.deployments set status = 'cancelled';
reset role;
select set_config('request.headers', '{}', true);
select is((select count(*) from public.deployments where status = 'cancelled'), 0::bigint,
  'a token updates only rows it may read: deployments:write alone rewrites nothing');

-- service_role bypasses RLS
reset role;
select set_config('role', 'service_role', true);
select cmp_ok((select count(*) from public.deployments), '>=', 2::bigint, 'service_role reads every team');

-- deleting an account always works, the last owner's too -----------------------------------------------
reset role;
delete from auth.users where id = '00000000-0000-0000-0000-0000000000a2';
select is(
  (select role::text from public.team_members
   where team_id = '00000000-0000-0000-0000-0000000000b1' and user_id = '00000000-0000-0000-0000-0000000000a1'),
  'owner', 'the sole owner''s team passes to the highest-ranked, longest-standing member');
delete from auth.users where id = '00000000-0000-0000-0000-0000000000a5';
select is((select count(*) from public.teams where id = '00000000-0000-0000-0000-0000000000b2'), 0::bigint,
  'a team left with nobody is deleted with its owner''s account');

-- billing data outlives no team by accident ---------------------------------------------------------------
insert into public.subscriptions (team_id, stripe_customer_id, plan, status)
  values ('00000000-0000-0000-0000-0000000000b1', 'cus_T', 'team', 'active');
select pg_temp.act_as('00000000-0000-0000-0000-0000000000a1');
select throws_ok($$ delete from public.teams where id = '00000000-0000-0000-0000-0000000000b1' $$, '23503',
  'this team has a subscription: it can be deleted once billing has ended the subscription',
  'a team with a subscription is not deleted until billing ends it');

reset role;
select * from finish();
rollback;
