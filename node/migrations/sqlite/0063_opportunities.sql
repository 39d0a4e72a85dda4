-- Trainings and immersions (src/opportunities.rs): network opportunities
-- other than job offers, local (is_local = 1) or received through
-- `opportunity.*` messages. `payload` is the protocol's
-- OpportunityPayload JSON; the other columns are copies for lists.
CREATE TABLE opportunities (
    id               TEXT PRIMARY KEY,
    origin_node      TEXT NOT NULL,
    is_local         INTEGER NOT NULL DEFAULT 0,
    owner_user_id    TEXT,
    opportunity_type TEXT NOT NULL CHECK (opportunity_type IN ('training', 'immersion')),
    status           TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    payload          TEXT NOT NULL,
    title            TEXT NOT NULL,
    organisation     TEXT NOT NULL,
    start_date       TEXT NOT NULL,
    end_date         TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    closed_at        BIGINT,
    closed_reason    TEXT
);
CREATE INDEX opportunities_status ON opportunities(status, opportunity_type);
CREATE INDEX opportunities_origin ON opportunities(origin_node, status);

-- The certification codes an opportunity grants, one row per code, so the
-- skills gap finds the trainings granting a missing code without reading
-- every payload.
CREATE TABLE opportunity_certifications (
    opportunity_id TEXT NOT NULL,
    code           TEXT NOT NULL,
    PRIMARY KEY (opportunity_id, code)
);
CREATE INDEX opportunity_certifications_code ON opportunity_certifications(code);

-- A referral targets an offer (the default) or an opportunity: `offer_id`
-- then holds the opportunity's id. `for_offer_id`: the offer a training
-- referral prepares the candidate for (skills gap).
ALTER TABLE referrals ADD COLUMN target TEXT NOT NULL DEFAULT 'offer';
ALTER TABLE referrals ADD COLUMN for_offer_id TEXT;
CREATE INDEX referrals_for_offer ON referrals(for_offer_id);
