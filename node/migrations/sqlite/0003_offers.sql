-- Offers: which rows are this node's own offers (vs copies received from the
-- network), the id of an imported offer at its source (France Travail) so a
-- re-import updates instead of duplicating, and the indexes the offers API
-- and the statistics use. Keep in step with ../postgres/0003_offers.sql.

ALTER TABLE offers ADD COLUMN is_local INTEGER NOT NULL DEFAULT 0;
ALTER TABLE offers ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX offers_external_id ON offers(external_id);
CREATE INDEX offers_status_updated ON offers(status, updated_at);
CREATE INDEX offers_owner ON offers(owner_user_id);
CREATE INDEX offers_local ON offers(is_local, status);
