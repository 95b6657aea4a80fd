-- expect: security-definer-exposed@6, function-executable-by-anon@6, security-definer-exposed@23, security-definer-exposed@39, security-definer-exposed@52, function-executable-by-anon@52
alter table public.restaurants enable row level security;
alter table public.restaurant_members enable row level security;

-- Refuses anon before it writes: an RPC past RLS (an error), but not one anon can write through.
create or replace function public.create_restaurant(p_name text)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_id uuid;
begin
  if v_user is null then raise exception 'Not authenticated'; end if;
  insert into public.restaurants (name) values (p_name) returning id into v_id;
  insert into public.restaurant_members (restaurant_id, user_id, role) values (v_id, v_user, 'OWNER');
  return v_id;
end $$;

-- Only signed-in users may call it: still an error (for every signed-in user), no anon write.
create function public.leave_restaurant(p_id uuid) returns void
language plpgsql security definer set search_path = ''
as $$
begin
  delete from public.restaurant_members where restaurant_id = p_id and user_id = (select auth.uid());
end $$;
revoke execute on function public.leave_restaurant(uuid) from public, anon;
grant execute on function public.leave_restaurant(uuid) to authenticated;

-- Only service_role may call it: no caller gets past RLS through it.
create function public.purge(p_id uuid) returns void
language sql security definer set search_path = ''
as $$ delete from public.restaurants where id = p_id $$;
revoke all on function public.purge(uuid) from public, anon, authenticated;

-- Guard by membership: an anon caller has no membership row, so the IF raises.
create function public.rename_restaurant(p_id uuid, p_name text) returns void
language plpgsql security definer set search_path = ''
as $$
begin
  if not exists (select 1 from public.restaurant_members m where m.restaurant_id = p_id and m.user_id = auth.uid()) then
    raise exception 'not a member' using errcode = '42501';
  end if;
  update public.restaurants set name = p_name where id = p_id;
end $$;
revoke execute on function public.rename_restaurant(uuid, text) from public;
grant execute on function public.rename_restaurant(uuid, text) to anon, authenticated;

-- Its only write is limited to the caller's own rows: for anon (auth.uid() is null) it writes nothing.
create function public.clear_my_drafts() returns void
language sql security definer set search_path = ''
as $$ delete from public.restaurant_members where user_id = (select auth.uid()) and role = 'DRAFT' $$;
