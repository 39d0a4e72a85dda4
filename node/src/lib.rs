//! A Vivier node: the candidathèque of one French local employment body,
//! its offers, geolocated matching and the federation with the other members.
//!
//! Module map (see ARCHITECTURE.md at the repository root):
//! - [`config`]: the typed configuration (TOML + `VIVIER_*` env overrides);
//! - [`db`]: the store (sqlx, SQLite by default, PostgreSQL by URL);
//! - [`error`]: the one API error type and its HTTP mapping;
//! - [`server`]: the axum application, state and start-up;
//! - [`auth`], [`audit`]: accounts, tokens, roles and the append-only audit log;
//! - [`candidates`], [`extract`]: the candidathèque and CV text extraction;
//! - [`search`]: the tantivy indexes (derived from the database);
//! - [`referentials`]: French communes and ROME codes;
//! - [`offers`], [`matching`], [`stats`]: offers, explained matching, statistics;
//! - [`federation`]: identity, membership, outbox, inbox, catch-up, referrals;
//! - [`mail`]: outgoing e-mail (durable outbox, SMTP worker, French templates);
//! - [`validation`]: field checks shared by local input and received payloads.

pub mod actor;
pub mod aids;
pub mod audit;
pub mod auth;
pub mod candidates;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod extract;
pub mod federation;
pub mod geo;
pub mod http;
pub mod journal;
pub mod keys;
pub mod lease;
pub mod mail;
pub mod maintenance;
pub mod matching;
pub mod netsearch;
pub mod notifications;
pub mod offers;
pub mod openapi;
pub mod opportunities;
pub mod programmes;
pub mod referentials;
pub mod referentials_api;
pub mod referrals;
pub mod reports;
pub mod search;
pub mod server;
pub mod space;
pub mod stats;
pub mod ui;
pub mod util;
pub mod validation;
