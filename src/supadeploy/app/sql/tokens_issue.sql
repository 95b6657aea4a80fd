-- Issue a token: the database generates the secret, stores its SHA-256 and returns the plaintext once.
select private.issue_api_token(%s, %s, %s, %s::interval, null)
