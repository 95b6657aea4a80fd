-- expect: enum-value-not-alone@2
alter type public.deployment_status add value 'paused';
update public.deployments set status = 'paused' where false;
