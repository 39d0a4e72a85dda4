-- Vivier node schema (PostgreSQL). Integers are 64-bit, timestamps are unix
-- milliseconds, booleans are 0/1, JSON is TEXT. Keep in step with
-- ../sqlite/0001_init.sql: the same queries run on both.

CREATE TABLE node_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'counsellor', 'employer')),
    password_hash  TEXT NOT NULL,
    employer_name  TEXT,
    employer_siret TEXT,
    disabled       BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);

CREATE TABLE auth_tokens (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    label        TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX auth_tokens_user ON auth_tokens(user_id);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    TEXT,
    actor_role  TEXT,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    reason      TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_target ON audit_log(target_kind, target_id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE candidates (
    id                    TEXT PRIMARY KEY,
    external_id           TEXT UNIQUE,
    first_name            TEXT NOT NULL,
    last_name             TEXT NOT NULL,
    commune_insee         TEXT NOT NULL,
    status                TEXT NOT NULL,
    counsellor_id         TEXT,
    profile               TEXT NOT NULL,
    consent_at            BIGINT,
    consent_by            TEXT,
    consent_scope         TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    last_activity_at      BIGINT NOT NULL,
    retention_reminded_at BIGINT,
    anonymised_at         BIGINT
);
CREATE INDEX candidates_status ON candidates(status);
CREATE INDEX candidates_activity ON candidates(last_activity_at);

CREATE TABLE candidate_sensitive (
    candidate_id TEXT PRIMARY KEY REFERENCES candidates(id) ON DELETE CASCADE,
    data         TEXT NOT NULL
);

CREATE TABLE candidate_files (
    id           TEXT PRIMARY KEY,
    candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX candidate_files_candidate ON candidate_files(candidate_id);

-- Returns to work; candidate_id is cleared on erasure, the figure stays.
CREATE TABLE placements (
    id           TEXT PRIMARY KEY,
    candidate_id TEXT,
    outcome      TEXT NOT NULL,
    referral_id  TEXT,
    placed_at    BIGINT NOT NULL,
    recorded_by  TEXT
);

CREATE TABLE offers (
    id                TEXT PRIMARY KEY,
    origin_node       TEXT NOT NULL,
    owner_user_id     TEXT,
    status            TEXT NOT NULL,
    payload           TEXT NOT NULL,
    title             TEXT NOT NULL,
    rome_code         TEXT NOT NULL,
    contract_type     TEXT NOT NULL,
    employer_name     TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    closed_at         BIGINT
);
CREATE INDEX offers_origin ON offers(origin_node, status);

CREATE TABLE referrals (
    id               TEXT PRIMARY KEY,
    offer_id         TEXT NOT NULL,
    offer_origin     TEXT NOT NULL,
    referring_node   TEXT NOT NULL,
    direction        TEXT NOT NULL,
    candidate_id     TEXT,
    profile          TEXT,
    counsellor_name  TEXT NOT NULL,
    counsellor_id    TEXT,
    endorsement      TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    contract_type    TEXT,
    start_date       TEXT,
    consent_given_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX referrals_offer ON referrals(offer_id);
CREATE INDEX referrals_candidate ON referrals(candidate_id);

CREATE TABLE referral_events (
    id            BIGSERIAL PRIMARY KEY,
    referral_id   TEXT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT,
    contract_type TEXT,
    comment       TEXT,
    actor         TEXT NOT NULL,
    actor_node    TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX referral_events_referral ON referral_events(referral_id);

-- Federation.
CREATE TABLE membership (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    serial      BIGINT NOT NULL,
    document    TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE outbox (
    seq         BIGSERIAL PRIMARY KEY,
    destination TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (destination, message_id)
);
CREATE INDEX outbox_destination ON outbox(destination, seq);

CREATE TABLE peers (
    node_id         TEXT PRIMARY KEY,
    acked_seq       BIGINT NOT NULL DEFAULT 0,
    backoff_ms      BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    failures        BIGINT NOT NULL DEFAULT 0,
    last_success_at BIGINT,
    last_contact_at BIGINT,
    last_error      TEXT,
    log_cursor      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    destination TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    error       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    parked_at   BIGINT NOT NULL
);

CREATE TABLE broadcast_log (
    seq        BIGSERIAL PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE inbox (
    origin       TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (origin, message_id)
);

CREATE TABLE txn_results (
    origin   TEXT NOT NULL,
    txn_id   TEXT NOT NULL,
    response TEXT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (origin, txn_id)
);
