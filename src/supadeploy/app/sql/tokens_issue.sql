-- Issue a token as the operator (service role): the database generates the secret, stores its
-- SHA-256 and returns the plaintext once. No issuer is recorded.
select private.operator_issue_api_token(%s, %s, %s, %s::interval)
