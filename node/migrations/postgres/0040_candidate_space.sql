-- The candidate space (/moi/, src/space.rs). Keep in step with
-- ../sqlite/0040_candidate_space.sql.
--
-- candidate_accounts: the access of one person to one record of this node
-- (no identity across nodes or records). Erasing the record deletes the
-- account and, through it, its sessions: access ends with the data.
-- password_hash is NULL for a person who logs in with e-mailed links only.
CREATE TABLE candidate_accounts (
    id            TEXT PRIMARY KEY,
    candidate_id  TEXT NOT NULL UNIQUE REFERENCES candidates(id) ON DELETE CASCADE,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    created_at    BIGINT NOT NULL
);

CREATE TABLE candidate_sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES candidate_accounts(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX candidate_sessions_account ON candidate_sessions(account_id);

-- Single-use links: invitations (issued by a counsellor) and passwordless
-- login links (asked for by the person). Only the SHA-256 is kept.
CREATE TABLE candidate_links (
    token_hash   TEXT PRIMARY KEY,
    candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('invitation', 'login')),
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX candidate_links_candidate ON candidate_links(candidate_id, kind);

-- What the person did that their counsellor should see: a correction of
-- the record, an interest in an offer, a request for erasure (with the
-- date by which the counsellor is to confirm it).
CREATE TABLE candidate_notices (
    id           TEXT PRIMARY KEY,
    candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('change', 'cv', 'consent', 'interest', 'erasure_request')),
    offer_id     TEXT,
    details      TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    due_at       BIGINT,
    seen_at      BIGINT
);
CREATE INDEX candidate_notices_candidate ON candidate_notices(candidate_id, kind);
CREATE UNIQUE INDEX candidate_notices_interest ON candidate_notices(candidate_id, offer_id) WHERE kind = 'interest';
