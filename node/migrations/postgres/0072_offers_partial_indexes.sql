-- The offers' owner and external-id indexes hold only the rows that have
-- one: this node's own offers (an owner) and imported ones (an id at their
-- source). Offers received from the network have neither, so storing one
-- (the inbox's bulk of writes) no longer adds a NULL entry to each of these
-- two indexes. Lookups (`owner_user_id = ?`, `external_id = ?`) imply
-- NOT NULL, so they still use them; uniqueness is unchanged (NULLs were
-- never equal). Keep in step with the other backend's 0072.

DROP INDEX offers_external_id;
CREATE UNIQUE INDEX offers_external_id ON offers(external_id) WHERE external_id IS NOT NULL;
DROP INDEX offers_owner;
CREATE INDEX offers_owner ON offers(owner_user_id) WHERE owner_user_id IS NOT NULL;
