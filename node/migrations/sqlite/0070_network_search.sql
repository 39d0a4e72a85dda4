-- Network search (src/netsearch.rs, protocol README « Network search »).

-- A secret of this node, never sent: the key of the per-query pseudonyms.
CREATE TABLE node_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Asking side: a search made by one of this node's users.
CREATE TABLE network_searches (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    query         TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    deadline_at   INTEGER NOT NULL,
    late_until    INTEGER NOT NULL,
    members_asked INTEGER NOT NULL
);
CREATE INDEX network_searches_user ON network_searches(user_id, created_at);
CREATE INDEX network_searches_created ON network_searches(created_at);

-- Asking side: one row per member asked; the answer as received.
CREATE TABLE network_search_nodes (
    search_id   TEXT NOT NULL,
    node_id     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'answered', 'failed')),
    error       TEXT,
    answered_at INTEGER,
    answer      TEXT,
    PRIMARY KEY (search_id, node_id)
);

-- Asking side: interests sent to home nodes.
CREATE TABLE network_interests (
    id          TEXT PRIMARY KEY,
    search_id   TEXT NOT NULL,
    node_id     TEXT NOT NULL,
    pseudonym   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    message     TEXT NOT NULL,
    offer_id    TEXT,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'declined', 'accepted')),
    referral_id TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (search_id, node_id, pseudonym)
);

-- Answering side: every query answered (per-node quota, audit).
CREATE TABLE network_queries_answered (
    origin      TEXT NOT NULL,
    query_id    TEXT NOT NULL,
    answered_at INTEGER NOT NULL,
    results     INTEGER NOT NULL,
    PRIMARY KEY (origin, query_id)
);
CREATE INDEX network_queries_answered_at ON network_queries_answered(origin, answered_at);

-- Answering side: which candidate each pseudonym given out stands for.
-- Personal data: deleted with the record.
CREATE TABLE network_pseudonyms (
    origin       TEXT NOT NULL,
    query_id     TEXT NOT NULL,
    pseudonym    TEXT NOT NULL,
    candidate_id TEXT NOT NULL,
    PRIMARY KEY (origin, query_id, pseudonym)
);
CREATE INDEX network_pseudonyms_candidate ON network_pseudonyms(candidate_id);

-- Answering (home) side: interests received for this node's candidates.
CREATE TABLE network_interests_received (
    id            TEXT PRIMARY KEY,
    origin        TEXT NOT NULL,
    interest_id   TEXT NOT NULL,
    query_id      TEXT NOT NULL,
    pseudonym     TEXT NOT NULL,
    candidate_id  TEXT NOT NULL,
    counsellor_id TEXT,
    asker_label   TEXT NOT NULL,
    message       TEXT NOT NULL,
    offer_id      TEXT,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'declined', 'accepted')),
    referral_id   TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (origin, interest_id)
);
CREATE INDEX network_interests_received_candidate ON network_interests_received(candidate_id);

-- A short summary a counsellor approved for network display.
CREATE TABLE candidate_network_summaries (
    candidate_id TEXT PRIMARY KEY,
    summary      TEXT NOT NULL,
    approved_by  TEXT NOT NULL,
    approved_at  INTEGER NOT NULL
);
