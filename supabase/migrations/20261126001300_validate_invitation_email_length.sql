-- Validate, in a transaction of its own, the check 20261126001200 added NOT VALID: the scan reads
-- team_invitations under SHARE UPDATE EXCLUSIVE, which blocks neither reads nor writes. That file voided
-- the pending invitations with longer addresses, so every row from before holds it.
alter table public.team_invitations validate constraint team_invitations_email_length;
