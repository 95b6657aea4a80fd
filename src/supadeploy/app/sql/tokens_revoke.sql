-- Revoke a token (idempotent).
select private.revoke_api_token(%s, null)
