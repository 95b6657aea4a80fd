-- [api] auto_expose_new_tables = false in supabase/config.toml: what Supabase runs at project
-- creation when "default privileges for new entities" is off (and `supabase start` runs then):
-- new tables, sequences and functions that postgres creates in public are no longer granted to
-- the Data API roles; migrations grant what they expose.
alter default privileges for role postgres in schema public
  revoke select, insert, update, delete on tables from anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  revoke usage, select on sequences from anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  revoke execute on functions from anon, authenticated, service_role;
