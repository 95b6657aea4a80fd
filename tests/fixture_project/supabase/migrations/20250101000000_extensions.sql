-- Extensions as Supabase projects enable them: into the extensions schema, then used
-- unqualified (postgres's search_path includes extensions). pg_cron goes to pg_catalog.
create extension if not exists citext with schema extensions;
create extension if not exists pg_cron with schema pg_catalog;

-- What Supabase's pg_cron guide has projects run (postgres already holds these grants).
grant usage on schema cron to postgres;
grant all privileges on all tables in schema cron to postgres;
