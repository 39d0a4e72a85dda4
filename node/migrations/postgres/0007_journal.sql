-- The journal: see ../sqlite/0007_journal.sql (keep the two in step).

CREATE TABLE journal (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX journal_created ON journal(created_at);
