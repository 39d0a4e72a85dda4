-- Outgoing mail and password resets. Keep in step with ../postgres/0008_mail.sql.
--
-- mail_outbox: messages written in the same transaction as the change that
-- causes them, sent by the mail worker (src/mail.rs). Bodies are emptied
-- once the row is sent or failed; `locked_until` is the lease of the
-- process sending it.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    recipient_name  TEXT,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    failed_at       INTEGER
);
CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at);

-- password_resets: one row per reset link issued (src/auth/reset.rs). The
-- link is `<id>.<expires_at>.<HMAC>`; only its SHA-256 is kept. A link
-- works once (`used_at`), until `expires_at`, and only while it is the
-- account's newest.
CREATE TABLE password_resets (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_resets_user ON password_resets(user_id, created_at);
