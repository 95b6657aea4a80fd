-- Nova's DeploymentTarget/DeploymentStatus enums map onto ours; a commit sha that is not 7-40 hex digits,
-- or a url over 2048 characters, becomes null; a finish before the start moves the start to the finish.
select {id} as id, p.project_id, p.team_id,
       (case upper(s.target) when 'PRODUCTION' then 'production' when 'STAGING' then 'staging'
        else 'local' end)::public.deployment_environment as environment,
       (case upper(s.status) when 'QUEUED' then 'queued' when 'BUILDING' then 'running'
        when 'READY' then 'succeeded' when 'CANCELED' then 'cancelled'
        else 'failed' end)::public.deployment_status as status,
       case when char_length(s."commitSha") between 7 and 40 and lower(s."commitSha") !~ '[^0-9a-f]'
            then lower(s."commitSha") end as commit_sha,
       case when char_length(s.url) <= 2048 then s.url end as url,
       u.auth_id as created_by,
       {created} as created_at,
       (case when s."finishedAt" is null then s."startedAt"
        else least(coalesce(s."startedAt", s."createdAt"), s."finishedAt") end) at time zone 'UTC' as started_at,
       {finished} as finished_at
from pg_temp.nova_deployment s
join pg_temp.nova_project_map p on p.nova_id = s."projectId"
left join pg_temp.nova_user_map u on u.nova_id = s."createdById"
where {where}
