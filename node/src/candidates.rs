//! The candidathèque: consented candidate records, their CV files, RGPD
//! erasure and retention, CSV/JSON Lines import and the search API.
//!
//! Storage (`node/migrations/*/0001_init.sql`): the `candidates` row keeps
//! the columns used for filtering (names, commune, status, counsellor,
//! consent, timestamps) and the rest of the profile as JSON in `profile`;
//! sensitive fields live in `candidate_sensitive` (loaded only for the admin
//! and the assigned counsellor, never sent to other nodes); CV files are
//! stored under `<files_dir>/<candidate id>/<file id>.<ext>` and described in
//! `candidate_files`.
//!
//! Consent: a record without consent is a draft — not indexed, not
//! searchable, not matchable. The search index holds every consented,
//! non-anonymised record whatever its status (archived and placed records
//! stay indexed; the `status` filter selects them).
//!
//! Retention: see [`retention_sweep`]. Erasure: see [`erase`].
//!
//! The folder (dependencies point down: `api` / `crate::ui` / the candidate
//! space / the CLI's import → service → store → model): `model` (the record
//! and its vocabulary, input validation; no I/O), `service` (the operations:
//! each takes the [`crate::actor::Actor`], refuses what it may not do before
//! changing anything, and audits in the change's transaction — a read in its
//! own), `retention` (renewal, review list, sweep), `followup` (the « Suivi »
//! and the « À faire »), `import`, `store` and `followup_store` (all their
//! SQL, rows as `FromRow` structs) and `api` (the HTTP adapter). This file
//! only re-exports, so callers name `crate::candidates::…` as before.

pub(crate) mod api;
pub mod followup;
mod followup_store;
mod import;
mod model;
mod retention;
mod service;
pub(crate) mod store;

pub use api::routes;
pub use import::{import_file, import_into_db, ImportFormat, ImportReport, RejectedRow};
pub use model::*;
pub use retention::{
    renew, retention_due, retention_list, retention_sweep, spawn_retention_sweep, RetentionItem,
    SweepReport,
};
pub use service::*;

/// The OpenAPI paths of `/api/v1/candidates…`.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    api::Doc::openapi()
}
