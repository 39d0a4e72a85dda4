-- Referrals: the id of the `referral.submitted` message that carried the
-- profile (so an erasure can drop it from the outbox or the dead letters
-- before delivery), the index the no-answer sweep uses, and at most one
-- pending referral per (offer, candidate) on the referring node.
-- Keep in step with ../sqlite/0004_referrals.sql.

ALTER TABLE referrals ADD COLUMN message_id TEXT;
CREATE INDEX referrals_status_updated ON referrals(status, updated_at);
CREATE UNIQUE INDEX referrals_pending_once ON referrals(offer_id, candidate_id)
    WHERE candidate_id IS NOT NULL AND status IN ('new', 'processing', 'prior_to_hire', 'postponed');
CREATE INDEX placements_referral ON placements(referral_id);
