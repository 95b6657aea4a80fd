-- expect: security-definer-exposed@7, security-definer-anon-write@7, function-executable-by-anon@7, security-definer-exposed@25, security-definer-anon-write@25, function-executable-by-anon@25, function-executable-by-anon@44, security-definer-exposed@52, security-definer-anon-write@52, security-definer-exposed@59, security-definer-anon-write@60
alter table public.secrets enable row level security;
alter table public.credits enable row level security;

-- A "sign up" RPC that writes auth.users with its owner's rights: anyone on the internet can call
-- it, RLS or not.
create or replace function public.create_user(email text, password text)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  new_id uuid := extensions.gen_random_uuid();
begin
  insert into auth.users (id, email, encrypted_password)
  values (new_id, email, extensions.crypt(password, extensions.gen_salt('bf')));
  -- a nested quote: it's fine
  raise notice 'created %', 'it''s ' || email;
  return new_id;
end;
$$;

-- Dynamic SQL: what it writes cannot be read from the migration.
CREATE OR REPLACE FUNCTION "public"."set_flag"("tbl" "text", "flag" boolean) RETURNS "void"
    LANGUAGE "plpgsql" SECURITY DEFINER
    SET "search_path" TO ''
    AS $_$
begin
  execute format('update public.%I set flag = $1', tbl) using flag;
end;
$_$;

-- Writes through a helper it calls: the helper runs with the definer's rights too.
create function private.add_credits(target uuid, amount int) returns void
language sql
set search_path = ''
as $$
  update public.credits set balance = balance + amount where user_id = target;
$$;
revoke execute on function private.add_credits(uuid, integer) from public;

-- Made SECURITY DEFINER by a later ALTER; `revoke all ... from public` leaves anon its own grant.
create function public.claim_reward(code text) returns void
language plpgsql set search_path = ''
as $body$
begin
  perform private.add_credits((select auth.uid()), 10);
end
$body$;
revoke all on function public.claim_reward(text) from public;
alter function public.claim_reward(text) security definer;

-- Revoked, made SECURITY DEFINER, then granted to anon on purpose: still an error.
create function public.grant_everything() returns void
language sql set search_path = ''
as $$ delete from public.secrets where true $$;
revoke execute on function public.grant_everything() from public, anon;
alter function public.grant_everything() security definer;
grant execute on function public.grant_everything() to anon;
