-- Revoke a token as the operator (service role); idempotent.
select private.operator_revoke_api_token(%s)
