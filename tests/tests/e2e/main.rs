//! End-to-end tests over real node processes, in one test binary (one link
//! of the node instead of one per file). Run one group with
//! `cargo test -p vivier-tests --test e2e demo::`; shared helpers in
//! `support/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod browser;
mod cli;
mod crash;
mod demo;
mod extract_memory;
mod federation;
mod lifecycle;
mod membership;
mod netsearch;
mod node_binary;
mod reports_network;
mod scale_out;
mod trainings;
