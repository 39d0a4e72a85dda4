-- Federation lifecycle: what a permanent refusal or a member's departure
-- does to the objects it concerns, and the notices users get about it.
-- Keep in step with ../postgres/0030_member_lifecycle.sql.

-- Why a network offer was closed here without its origin saying so
-- (`member_left`: its member was revoked or suspended).
ALTER TABLE offers ADD COLUMN closed_reason TEXT;

-- The code of the permanent refusal that made a referral `undeliverable`.
ALTER TABLE referrals ADD COLUMN delivery_error TEXT;

-- A peer refused one of this node's offer broadcasts for good.
CREATE TABLE offer_delivery_refusals (
    offer_id TEXT NOT NULL,
    node_id  TEXT NOT NULL,
    code     TEXT NOT NULL,
    message  TEXT NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (offer_id, node_id)
);

-- Members that left the active set (revoked or suspended), as this node
-- learnt it from the membership documents, and when their referred
-- profiles were purged here.
CREATE TABLE departed_members (
    node_id           TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    since             INTEGER NOT NULL,
    serial            INTEGER NOT NULL,
    profiles_purged_at INTEGER
);

-- Notices to users about what the node did that concerns them.
CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    message      TEXT NOT NULL,
    link         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    read_at      INTEGER
);
CREATE INDEX notifications_user ON notifications(user_id, read_at, created_at);

-- Hires through referrals on this node's offers: positions filled. When
-- they reach the offer's positions, the offer closes (`position_filled`).
ALTER TABLE offers ADD COLUMN positions_filled INTEGER NOT NULL DEFAULT 0;
