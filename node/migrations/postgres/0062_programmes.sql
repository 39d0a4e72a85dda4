-- Time-boxed programmes (src/programmes.rs): a person enrolled in a
-- programme of the configuration ([[programmes]]) for a period, renewable;
-- the follow-ups are the record's follow-up entries. Personal data: deleted
-- with the record (erasure, anonymisation).
CREATE TABLE programme_enrolments (
    id             TEXT PRIMARY KEY,
    candidate_id   TEXT NOT NULL,
    programme_code TEXT NOT NULL,
    started_on     TEXT NOT NULL,
    ends_on        TEXT NOT NULL,
    renewals_used  BIGINT NOT NULL DEFAULT 0,
    status         TEXT NOT NULL CHECK (status IN ('active', 'completed', 'abandoned')),
    -- at the end: a placement outcome code (cdi, training…) or 'none'
    outcome        TEXT,
    closed_on      TEXT,
    counsellor_id  TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX programme_enrolments_candidate ON programme_enrolments(candidate_id);
CREATE INDEX programme_enrolments_active ON programme_enrolments(status, counsellor_id);
