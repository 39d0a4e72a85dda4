-- Returns to work as funders count them (docs/reports.md). Keep in step
-- with ../postgres/0020_reports.sql.
--
-- placements.outcome is the funders' category: cdi, cdd_6_months_or_more,
-- cdd_under_6_months (intérim and seasonal included), apprenticeship,
-- professionalisation, training, business_creation, other.
-- New columns, captured when the placement is recorded:
--   placed_on        YYYY-MM-DD: the contract start, else the recording day (UTC)
--   contract_start / contract_end   YYYY-MM-DD when known
--   duration_months, weekly_hours   when known
--   aid_eligible     1/0 against the [reports] aid rule, NULL when unknown
--   channel          'platform' (a referral or a match) or 'counsellor'
--   side             'home' (this node's candidate: a return to work counted
--                    here) or 'offer' (another node's candidate hired on this
--                    node's offer: a hire through the network, counted at the
--                    candidate's home node)
--   counsellor_id    the candidate's counsellor at the time
--   rsa, age_band, qualification    the candidate's public at the time
--   commune_insee, departement, epci the candidate's territory at the time
--                    (epci: SIREN code; not filled for rows written before
--                    this migration: SQL cannot read the embedded referential)
--   rome_code        the job (the offer's code, else the candidate's first)
--   registered_at    the candidate's registration (unix ms)
ALTER TABLE placements ADD COLUMN placed_on TEXT;
ALTER TABLE placements ADD COLUMN contract_start TEXT;
ALTER TABLE placements ADD COLUMN contract_end TEXT;
ALTER TABLE placements ADD COLUMN duration_months INTEGER;
ALTER TABLE placements ADD COLUMN weekly_hours INTEGER;
ALTER TABLE placements ADD COLUMN aid_eligible INTEGER;
ALTER TABLE placements ADD COLUMN channel TEXT NOT NULL DEFAULT 'counsellor';
ALTER TABLE placements ADD COLUMN side TEXT NOT NULL DEFAULT 'home';
ALTER TABLE placements ADD COLUMN counsellor_id TEXT;
ALTER TABLE placements ADD COLUMN rsa INTEGER;
ALTER TABLE placements ADD COLUMN age_band TEXT;
ALTER TABLE placements ADD COLUMN qualification TEXT;
ALTER TABLE placements ADD COLUMN commune_insee TEXT;
ALTER TABLE placements ADD COLUMN departement TEXT;
ALTER TABLE placements ADD COLUMN epci TEXT;
ALTER TABLE placements ADD COLUMN rome_code TEXT;
ALTER TABLE placements ADD COLUMN registered_at INTEGER;

-- Existing data: intérim and seasonal hires were "other".
UPDATE placements SET outcome = 'cdd_under_6_months'
 WHERE outcome = 'other'
   AND referral_id IN (SELECT id FROM referrals WHERE contract_type IN ('MIS', 'SAI'));
UPDATE placements SET placed_on = date(placed_at / 1000, 'unixepoch');
UPDATE placements SET contract_start = (SELECT r.start_date FROM referrals r WHERE r.id = placements.referral_id)
 WHERE referral_id IS NOT NULL;
UPDATE placements SET placed_on = contract_start WHERE contract_start IS NOT NULL;
UPDATE placements SET channel = 'platform' WHERE referral_id IS NOT NULL;
UPDATE placements SET side = 'offer'
 WHERE referral_id IN (SELECT id FROM referrals WHERE direction = 'inbound');
UPDATE placements SET
    counsellor_id = COALESCE((SELECT c.counsellor_id FROM candidates c WHERE c.id = placements.candidate_id), recorded_by),
    commune_insee = (SELECT c.commune_insee FROM candidates c WHERE c.id = placements.candidate_id),
    registered_at = (SELECT c.created_at FROM candidates c WHERE c.id = placements.candidate_id),
    qualification = (SELECT json_extract(c.profile, '$.training_level') FROM candidates c WHERE c.id = placements.candidate_id),
    rsa = (SELECT json_extract(s.data, '$.rsa_beneficiary') FROM candidate_sensitive s WHERE s.candidate_id = placements.candidate_id)
 WHERE side = 'home';
UPDATE placements SET departement = CASE WHEN substr(commune_insee, 1, 2) = '97'
    THEN substr(commune_insee, 1, 3) ELSE substr(commune_insee, 1, 2) END
 WHERE commune_insee IS NOT NULL;
UPDATE placements SET rome_code = COALESCE(
    (SELECT o.rome_code FROM referrals r JOIN offers o ON o.id = r.offer_id WHERE r.id = placements.referral_id),
    (SELECT json_extract(c.profile, '$.rome_codes[0]') FROM candidates c WHERE c.id = placements.candidate_id));
CREATE INDEX placements_placed_on ON placements(placed_on);
