-- A Supabase project with "default privileges for new entities" turned off: what the platform changes
-- on top of sql/supabase_compat.sql, for a database created before any user migration.
--
-- Supabase CLI 3.1.0 mirrors the dashboard toggle locally with config.toml
--   [api]
--   auto_expose_new_tables = false
-- ("matching a cloud project with the toggle turned off"): after setting up the database, `supabase
-- start` and `supabase db reset` apply its embedded revoke-api-privileges.sql, which takes the Data API
-- roles out of postgres's default privileges in public. Tables, views, sequences and functions that
-- migrations create in public are then reachable by anon, authenticated and service_role only through
-- explicit GRANTs. Only the defaults change: objects that already exist keep their grants, objects
-- created by other roles (supabase_admin) keep theirs, and PUBLIC keeps PostgreSQL's own default
-- EXECUTE on new functions.
--
-- Idempotent: revoking what is not granted changes nothing.

alter default privileges for role postgres in schema public
  revoke select, insert, update, delete on tables from anon, authenticated, service_role;

alter default privileges for role postgres in schema public
  revoke usage, select on sequences from anon, authenticated, service_role;

alter default privileges for role postgres in schema public
  revoke execute on functions from anon, authenticated, service_role;
