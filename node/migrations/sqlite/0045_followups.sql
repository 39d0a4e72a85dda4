-- Follow-up of a person (src/candidates/followup.rs): dated notes,
-- interviews and calls on a record, with an optional next step that feeds
-- the counsellor's « À faire ». Keep in step with ../postgres/0045_followups.sql.
-- Personal data: deleted with the record (erasure, anonymisation).
-- restricted = 1: visible only to the assigned counsellor and admins.
CREATE TABLE followups (
    id             TEXT PRIMARY KEY,
    candidate_id   TEXT NOT NULL,
    author_id      TEXT,
    author_name    TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('note', 'interview', 'call', 'workshop', 'immersion')),
    happened_on    TEXT NOT NULL,
    body           TEXT NOT NULL,
    restricted     INTEGER NOT NULL DEFAULT 0,
    next_step      TEXT,
    next_step_on   TEXT,
    next_step_done_at INTEGER,
    created_at     INTEGER NOT NULL
);
CREATE INDEX followups_candidate ON followups(candidate_id, happened_on);
CREATE INDEX followups_next_step ON followups(next_step_on) WHERE next_step_on IS NOT NULL AND next_step_done_at IS NULL;
