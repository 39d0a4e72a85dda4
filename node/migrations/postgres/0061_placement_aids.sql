-- Aided contracts (src/aids.rs): each placement at the candidate's home node
-- assessed against each configured hiring-aid scheme, and where the aid's
-- file stands. No personal data: the placement row already holds the facts.
CREATE TABLE placement_aids (
    placement_id TEXT NOT NULL,
    scheme_code  TEXT NOT NULL,
    -- 'eligible', 'not_eligible' or 'unknown' (a needed fact is missing)
    eligibility  TEXT NOT NULL CHECK (eligibility IN ('eligible', 'not_eligible', 'unknown')),
    -- JSON array of French reasons (why not, or what is missing)
    reasons      TEXT NOT NULL DEFAULT '[]',
    -- the scheme's amount when assessed (euros)
    amount_eur   BIGINT,
    state        TEXT NOT NULL DEFAULT 'none' CHECK (state IN ('none', 'requested', 'granted', 'paid', 'refused')),
    assessed_at  BIGINT NOT NULL,
    updated_at   BIGINT,
    updated_by   TEXT,
    PRIMARY KEY (placement_id, scheme_code)
);
CREATE INDEX placement_aids_scheme ON placement_aids(scheme_code, state);
