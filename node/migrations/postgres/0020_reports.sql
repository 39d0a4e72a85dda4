-- Returns to work as funders count them (docs/reports.md). Keep in step
-- with ../sqlite/0020_reports.sql (the column meanings are described there).
ALTER TABLE placements ADD COLUMN placed_on TEXT;
ALTER TABLE placements ADD COLUMN contract_start TEXT;
ALTER TABLE placements ADD COLUMN contract_end TEXT;
ALTER TABLE placements ADD COLUMN duration_months BIGINT;
ALTER TABLE placements ADD COLUMN weekly_hours BIGINT;
ALTER TABLE placements ADD COLUMN aid_eligible BIGINT;
ALTER TABLE placements ADD COLUMN channel TEXT NOT NULL DEFAULT 'counsellor';
ALTER TABLE placements ADD COLUMN side TEXT NOT NULL DEFAULT 'home';
ALTER TABLE placements ADD COLUMN counsellor_id TEXT;
ALTER TABLE placements ADD COLUMN rsa BIGINT;
ALTER TABLE placements ADD COLUMN age_band TEXT;
ALTER TABLE placements ADD COLUMN qualification TEXT;
ALTER TABLE placements ADD COLUMN commune_insee TEXT;
ALTER TABLE placements ADD COLUMN departement TEXT;
ALTER TABLE placements ADD COLUMN epci TEXT;
ALTER TABLE placements ADD COLUMN rome_code TEXT;
ALTER TABLE placements ADD COLUMN registered_at BIGINT;

-- Existing data: intérim and seasonal hires were "other".
UPDATE placements SET outcome = 'cdd_under_6_months'
 WHERE outcome = 'other'
   AND referral_id IN (SELECT id FROM referrals WHERE contract_type IN ('MIS', 'SAI'));
UPDATE placements SET placed_on = to_char(to_timestamp(placed_at / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD');
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
    qualification = (SELECT c.profile::json->>'training_level' FROM candidates c WHERE c.id = placements.candidate_id),
    rsa = (SELECT CASE s.data::json->>'rsa_beneficiary' WHEN 'true' THEN 1 WHEN 'false' THEN 0 END
             FROM candidate_sensitive s WHERE s.candidate_id = placements.candidate_id)
 WHERE side = 'home';
UPDATE placements SET departement = CASE WHEN substr(commune_insee, 1, 2) = '97'
    THEN substr(commune_insee, 1, 3) ELSE substr(commune_insee, 1, 2) END
 WHERE commune_insee IS NOT NULL;
UPDATE placements SET rome_code = COALESCE(
    (SELECT o.rome_code FROM referrals r JOIN offers o ON o.id = r.offer_id WHERE r.id = placements.referral_id),
    (SELECT c.profile::json->'rome_codes'->>0 FROM candidates c WHERE c.id = placements.candidate_id));
CREATE INDEX placements_placed_on ON placements(placed_on);
