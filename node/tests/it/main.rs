//! The node's integration tests, in one binary (one link instead of one
//! per file): each module is the former `tests/<name>.rs`, shared helpers in
//! [`support`]. Run one part with e.g. `cargo test -p vivier-node --test it
//! ui::` or `--test it search_french::judged`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod api_shape;
mod candidate_space;
mod candidates;
mod delivery;
mod demo_mode;
mod extract_fuzz;
mod hostile_auth;
mod hostile_federation;
mod hostile_http;
mod hostile_uploads;
mod mail;
mod matching;
mod netsearch;
mod offers;
mod opportunities;
mod referrals;
mod reports;
mod reports_migration;
mod search_french;
mod search_hostile;
mod search_query_proptest;
mod source_of_truth;
mod ui;
