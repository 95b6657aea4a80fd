-- expect:
alter type public.deployment_status add value if not exists 'paused';
