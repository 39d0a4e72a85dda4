-- Account abuse limits. Keep in step with ../sqlite/0005_auth_limits.sql.
--
-- Login failures per account key (SHA-256 of the normalised e-mail, kept
-- for e-mails that match no account too), so that a restart does not reset
-- a lockout.
CREATE TABLE login_failures (
    account_key     TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX login_failures_last ON login_failures(last_failure_at);

-- Tokens get an id (to list and revoke them without the secret); `label`
-- is the token's name. API tokens issued before this migration never
-- expired: they now expire 365 days after it (listed, revocable).
ALTER TABLE auth_tokens ADD COLUMN id TEXT;
UPDATE auth_tokens SET id = md5(random()::text || token_hash) WHERE id IS NULL;
CREATE UNIQUE INDEX auth_tokens_id ON auth_tokens(id);
UPDATE auth_tokens
   SET expires_at = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT + 365 * 86400000::BIGINT,
       label = COALESCE(label, 'cli')
 WHERE kind = 'api' AND expires_at IS NULL;
