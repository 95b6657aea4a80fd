-- Validate, in a transaction of their own, the constraints 20261126000500 and 20261126000900 added
-- NOT VALID: each reads its table under SHARE UPDATE EXCLUSIVE, which blocks neither reads nor writes.
-- New rows have been checked since those files; these scans confirm the rows from before.
alter table public.api_tokens validate constraint api_tokens_lifetime;
alter table public.team_invitations validate constraint team_invitations_lifetime;
alter table public.subscriptions validate constraint subscriptions_team_id_fkey;
