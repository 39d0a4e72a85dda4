-- The journal: one row per change that a derived structure must follow
-- (the search indexes today). Rows carry ids, not data: whoever applies an
-- entry reads the current row, so applying twice is harmless. Written in
-- the same transaction as the change; each index records in its commit
-- payload the last sequence it applied and resumes from there.
-- Keep in step with ../postgres/0007_journal.sql.

CREATE TABLE journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX journal_created ON journal(created_at);
