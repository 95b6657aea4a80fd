-- Notes older than 90 days go, every night at 03:00 UTC.
select cron.schedule(
  'purge-old-notes',
  '0 3 * * *',
  $$delete from public.notes where created_at < now() - interval '90 days'$$
);
