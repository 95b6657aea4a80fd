-- A team's subscription is billing data: deleting the team no longer deletes it.
--
-- Before, an owner deleting their team cascaded to `subscriptions`, rows no client may delete
-- directly; the Stripe subscription went on while the record of whose it was disappeared. Now a team
-- with a subscription cannot be deleted, by anyone, until billing has ended it: the Stripe webhook
-- (service_role) or the operator deletes the subscription row when Stripe says the subscription is
-- over, then the owner can delete the team.
-- Deleting an account still always works: a team its last member leaves that way is deleted as
-- before unless it has a subscription; then it is kept, with no members, for the operator.

-- A foreign key's ON DELETE action cannot be altered in place. The new key is enforced from here on,
-- for new rows and for deletes of teams alike; 20261126001000 validates the rows already there.
-- Dropped: replaced below, in this transaction, by the same key with ON DELETE RESTRICT.
-- squawk-ignore ban-drop-constraint
alter table public.subscriptions drop constraint subscriptions_team_id_fkey;
alter table public.subscriptions
  add constraint subscriptions_team_id_fkey
  foreign key (team_id) references public.teams (id) on delete restrict not valid;

-- The foreign key holds for everyone; this says why, in one line, before it is reached. Only rows
-- the deleting request may delete get here (RLS filters first): an owner learns it of their own team.
create function private.keep_billed_teams() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.subscriptions s where s.team_id = old.id) then
    raise exception 'this team has a subscription: it can be deleted once billing has ended the subscription'
      using errcode = 'foreign_key_violation';
  end if;
  return old;
end
$$;
revoke execute on function private.keep_billed_teams() from public, anon, authenticated, service_role;

create trigger teams_keep_billed_teams
  before delete on public.teams
  for each row execute function private.keep_billed_teams();

create or replace function private.drop_abandoned_team() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from auth.users u where u.id = old.user_id)
     and not exists (select 1 from public.team_members m where m.team_id = old.team_id)
     and not exists (select 1 from public.subscriptions s where s.team_id = old.team_id) then
    delete from public.teams t where t.id = old.team_id;
  end if;
  return null;
end
$$;
