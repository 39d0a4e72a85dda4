-- Members' published aggregate figures (`report.figures`), this node's own
-- included: one row per member and month, the latest publication kept.
-- Keep in step with ../sqlite/0021_network_figures.sql.
CREATE TABLE network_figures (
    origin       TEXT NOT NULL,
    period       TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    body         TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (origin, period)
);
