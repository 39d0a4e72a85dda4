-- Referrals people can act on: the referring counsellor's contact details
-- travel with a referral, so the employer can arrange an interview.
-- Keep in step with ../sqlite/0050_referral_contacts.sql.

-- A staff member's work phone, shown to employers on the referrals they
-- make (optional; set from « Mon compte »).
ALTER TABLE users ADD COLUMN phone TEXT;

-- The referring counsellor's e-mail and phone as the referral carried
-- them (referral.submitted) or as the counsellor's account had them when
-- the referral was made (local referrals).
ALTER TABLE referrals ADD COLUMN counsellor_email TEXT;
ALTER TABLE referrals ADD COLUMN counsellor_phone TEXT;
