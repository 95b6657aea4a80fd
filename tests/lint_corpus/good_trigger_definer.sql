-- expect:
-- Supabase's documented pattern: a SECURITY DEFINER trigger function on auth.users. Trigger
-- functions cannot be called directly ("trigger functions can only be called as triggers").
create or replace function public.handle_new_user()
returns trigger
language plpgsql
security definer set search_path = ''
as $$
begin
  insert into public.profiles (id, full_name, avatar_url)
  values (new.id, new.raw_user_meta_data->>'full_name', new.raw_user_meta_data->>'avatar_url');
  return new;
end;
$$;
create trigger on_auth_user_created
  after insert on auth.users
  for each row execute procedure public.handle_new_user();

CREATE OR REPLACE FUNCTION "public"."on_ddl"() RETURNS "event_trigger"
    LANGUAGE "plpgsql" SECURITY DEFINER
    SET "search_path" TO ''
    AS $_$
begin
  raise notice 'ddl: %', tg_tag;
end;
$_$;
