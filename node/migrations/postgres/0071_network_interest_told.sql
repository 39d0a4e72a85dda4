-- When the asking member acknowledged the answer (accepted / declined) to an
-- interest it sent; NULL while it has not: the answer is sent again until it
-- is (an asker that was down when the counsellor answered is told later).
ALTER TABLE network_interests_received ADD COLUMN told_at BIGINT;
UPDATE network_interests_received SET told_at = updated_at WHERE status <> 'pending';
