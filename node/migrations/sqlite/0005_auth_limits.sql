-- Account abuse limits. Keep in step with ../postgres/0005_auth_limits.sql.
--
-- Login failures per account key (SHA-256 of the normalised e-mail, kept
-- for e-mails that match no account too), so that a restart does not reset
-- a lockout.
CREATE TABLE login_failures (
    account_key     TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX login_failures_last ON login_failures(last_failure_at);

-- Tokens get an id (to list and revoke them without the secret); `label`
-- is the token's name. API tokens issued before this migration never
-- expired: they now expire 365 days after it (listed, revocable).
ALTER TABLE auth_tokens ADD COLUMN id TEXT;
UPDATE auth_tokens SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE UNIQUE INDEX auth_tokens_id ON auth_tokens(id);
UPDATE auth_tokens
   SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 365 * 86400000,
       label = COALESCE(label, 'cli')
 WHERE kind = 'api' AND expires_at IS NULL;
