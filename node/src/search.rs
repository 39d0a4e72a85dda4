//! Full-text search over the candidathèque and the offers (tantivy 0.22).
//!
//! The indexes are **derived data**: the database is the source of truth.
//! [`SearchIndexes::open`] tells the caller when an index had to be
//! (re)created — missing directory, missing/different `SCHEMA_VERSION` file,
//! unreadable index or schema drift — so that it is rebuilt from the database
//! (`vivier-node reindex`, or at start-up).
//!
//! Layout under the directory given to [`SearchIndexes::open`]:
//!
//! ```text
//! <dir>/candidates/{SCHEMA_VERSION, meta.json, segments...}
//! <dir>/offers/{SCHEMA_VERSION, meta.json, segments...}
//! ```
//!
//! Design (see `DESIGN.md`, "Search traps (tantivy)"):
//!
//! - The search box has a query language of its own ([`query_lang`]:
//!   bounded parser, never a syntax error) turned into tantivy queries by
//!   `query_build`: all words should match but a document missing one of
//!   several still ranks (`soft_and`), acronyms and job titles expand
//!   through the thesaurus ([`Lexicon`]: ROME titles of the same code, the
//!   curated `node/data/synonymes.csv`), typos (one or two edits) and
//!   prefixes rank below exact words.
//! - French analysis (`analysis`, tokenizer `"fr"`, the same for documents
//!   and queries): elision, case and accents folded *before* stemming so
//!   that every spelling meets, codes and acronyms never stemmed, stop
//!   words dropped (positions kept), feminine forms brought to the
//!   masculine, Snowball French stemmer. `"fr_exact"` (names) only folds.
//! - One long-lived `IndexWriter` per index, behind a mutex. Writes
//!   (`upsert` = `delete_term(id)` + `add_document`) only mark the index dirty;
//!   a background committer thread commits at most every ~200 ms and then
//!   reloads the reader (`ReloadPolicy::Manual`), so that a write is visible to
//!   search well within one second. Merges run in tantivy's background threads
//!   with the default merge policy; nothing on the hot path waits for them.
//! - Geography: tantivy has no geo type. A candidate's home is the centre of
//!   its commune, so a radius is a set of communes computed once per query
//!   from the referential (`geo_filter`) and searched as a term set on the
//!   `commune_insee` field: only the matching postings are read. Offers'
//!   workplaces (several per offer) keep a bounding-box pre-filter on `i64`
//!   fast fields. Both keep a packed `u64` fast field (`pt`) on which the
//!   exact haversine distance is computed for the survivors, inside the
//!   collector; totals and facets are exact after the distance filter.
//! - Facets: counts by ROME code over the whole filtered result set, from the
//!   `rome` string fast field.
//! - Result pages: snippets (`snippet`) and, for candidates, what the
//!   result list shows come from the stored fields: no record is loaded
//!   from the database to answer a search.

mod analysis;
pub mod background;
mod candidate_index;
mod collect;
mod doc_values;
mod engine;
mod geo_filter;
pub mod id_table;
mod lexicon;
pub mod match_fields;
mod offer_index;
mod query_build;
pub mod query_lang;
mod snippet;
mod soft_and;
mod term_and;
mod term_bits;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(crate) use analysis::analysed;
pub use analysis::{analyze, fold, fold_gender, register_analyzers, stem, FR, FR_EXACT};
pub use candidate_index::{CandidateIndex, CANDIDATES_SCHEMA_VERSION};
pub(crate) use collect::unpack_point;
pub use lexicon::Lexicon;
pub use match_fields::{
    commune_key, CandidateMatchFields, HomeGrid, OfferMatchFields, Visit, Visits, UNKNOWN_POINT,
};
pub use offer_index::{OfferIndex, OFFERS_SCHEMA_VERSION};
pub use query_lang::QueryError;

use crate::geo::Point;

/// A candidate as indexed (built by the caller from the database).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CandidateDoc {
    pub id: String,
    pub full_name: String,
    /// Stored for the result list (not searched apart from `full_name`).
    pub first_name: String,
    pub last_name: String,
    pub job_titles: Vec<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    /// Diploma or level (« DEAS », « Titre pro Agent magasinier »):
    /// searched like the skills, not a matching term.
    pub training_level: Option<String>,
    pub cv_text: String,
    /// ROME codes, e.g. `"N1101"` (normalised to upper case when indexed).
    pub rome_codes: Vec<String>,
    pub commune_insee: String,
    /// Home; `None` = unknown (such candidates never match a `near` filter).
    pub point: Option<Point>,
    /// `"B"`, `"C"`, `"CE"`... (normalised to upper case when indexed).
    pub driving_licences: Vec<String>,
    pub has_vehicle: bool,
    /// Days since 1970-01-01; `None` = available now.
    pub available_from_days: Option<i64>,
    /// `YYYY-MM-DD`, stored for the result list.
    pub available_from: Option<String>,
    /// `"CDI"`, `"CDD"`, `"MIS"`, `"SAI"`, `"ALT"` (upper-cased when indexed).
    pub contract_types: Vec<String>,
    /// `"active"`, `"in_referral"`, `"placed"`, `"archived"` (lower-cased).
    pub status: String,
    pub updated_at: i64,
    /// Own travel limit (km), for matching.
    pub max_travel_km: Option<i64>,
    pub public_transport_only: bool,
    /// Weekly hours wanted, for matching.
    pub weekly_hours: Option<i64>,
    /// Certification codes ([`crate::referentials::Certifications`]).
    pub certifications: Vec<String>,
    /// Consent covers the network (else this node only).
    pub network_consent: bool,
}

/// Result ordering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// BM25 score (best first); ties — and queries without text — by
    /// `updated_at`, most recent first.
    #[default]
    Relevance,
    /// Nearest first (needs `near`; without it, falls back to relevance).
    Distance,
}

/// A search in the candidathèque. All filters are combined with AND.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateQuery {
    /// Text in the search language ([`query_lang`]) over the job titles
    /// (boosted), skills, languages, CV text and names. `None`/blank (or
    /// nothing searchable) = all candidates.
    pub text: Option<String>,
    /// Any of these ROME codes.
    pub rome_codes: Vec<String>,
    /// Centre and radius in km. Candidates with no known point are excluded.
    pub near: Option<(Point, f64)>,
    pub licence: Option<String>,
    /// `available_from <= this` (a candidate available now always passes).
    pub available_before_days: Option<i64>,
    pub contract_type: Option<String>,
    /// `None`: every status but `archived`; `Some("all")`: every status;
    /// otherwise that status only.
    pub status: Option<String>,
    /// Restrict to these ids (used by matching).
    pub ids: Option<Vec<String>>,
    pub sort: SortBy,
    pub offset: usize,
    pub limit: usize,
    /// Compute an HTML snippet of the CV text for each hit.
    pub highlight: bool,
    /// Fill [`Hit::summary`] from the stored fields (what a result list
    /// shows), so that no record has to be loaded from the database.
    pub summaries: bool,
}

impl Default for CandidateQuery {
    fn default() -> Self {
        CandidateQuery {
            text: None,
            rome_codes: Vec::new(),
            near: None,
            licence: None,
            available_before_days: None,
            contract_type: None,
            status: None,
            ids: None,
            sort: SortBy::Relevance,
            offset: 0,
            limit: 20,
            highlight: false,
            summaries: false,
        }
    }
}

/// What a result list shows of a candidate, from the index's stored
/// fields (as of the last index commit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CandidateSummary {
    pub first_name: String,
    pub last_name: String,
    pub commune_insee: String,
    pub rome_codes: Vec<String>,
    pub job_titles: Vec<String>,
    pub status: String,
    pub available_from: Option<String>,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: String,
    /// BM25 score (0 when the query had no text).
    pub score: f32,
    /// Distance to the `near` centre (nearest workplace for offers).
    pub distance_km: Option<f64>,
    /// HTML, escaped, with `<b>` marks around the matched terms.
    pub snippet: Option<String>,
    /// Candidates only, when asked ([`CandidateQuery::summaries`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<CandidateSummary>,
}

/// A page of results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// Exact number of matching documents (after the distance filter).
    pub total: usize,
    /// The requested page (`offset`, `limit`).
    pub hits: Vec<Hit>,
    /// ROME code → number of matching documents, over the whole result set.
    pub facets: BTreeMap<String, u64>,
    /// Nobody had most of the words: these are the documents with at least
    /// one of each group's words, those with the most first
    /// ([`CandidateIndex::search_relaxing`]).
    pub relaxed: bool,
}

/// Search failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The search text is past the query language's limits (too many
    /// words, too deep); shown to the user as a 400 with its message.
    #[error("{0}")]
    Query(#[from] QueryError),
    #[error("search index error: {0}")]
    Tantivy(String),
    #[error("search index I/O error: {0}")]
    Io(String),
    /// Another process (a running node) holds the index's writer.
    #[error("the search index is in use by another process (is the node running?)")]
    Busy,
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        match e {
            tantivy::TantivyError::LockFailure(
                tantivy::directory::error::LockError::LockBusy,
                _,
            ) => SearchError::Busy,
            e => SearchError::Tantivy(e.to_string()),
        }
    }
}

impl From<std::io::Error> for SearchError {
    fn from(e: std::io::Error) -> Self {
        SearchError::Io(e.to_string())
    }
}

/// An offer as indexed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferDoc {
    pub id: String,
    pub origin_node: String,
    pub title: String,
    pub description: String,
    pub rome_code: String,
    pub contract_type: String,
    pub employer_name: String,
    /// All workplaces are indexed; the distance of an offer is that of its
    /// nearest workplace.
    pub workplaces: Vec<Point>,
    pub driving_licence: Option<String>,
    /// `"open"`, `"closed"`.
    pub status: String,
    pub updated_at: i64,
    /// Every workplace in order, unknown points included: what matching
    /// reads from the index.
    pub match_workplaces: Vec<MatchWorkplace>,
    /// Matching's text terms of the offer ([`crate::matching::text::OfferTerms`]):
    /// analysed term and factor (2 title, 1.5 ROME label, 1 description).
    pub match_terms: Vec<(String, f64)>,
    pub vehicle_required: bool,
    pub required_certifications: Vec<String>,
    pub desired_certifications: Vec<String>,
    /// Start date in days since 1970.
    pub start_day: Option<i64>,
    pub published_at: i64,
    pub weekly_hours: Option<i64>,
    /// This node's own offer (else another member's: network consent needed).
    pub is_local: bool,
}

/// One workplace of an offer as matching reads it from the index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MatchWorkplace {
    pub commune_insee: String,
    pub point: Option<Point>,
}

/// A search among offers. All filters are combined with AND.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferQuery {
    /// Text in the search language ([`query_lang`]) over `title`
    /// (boosted), `description` and `employer_name`. `None`/blank = all
    /// offers.
    pub text: Option<String>,
    pub rome_codes: Vec<String>,
    pub near: Option<(Point, f64)>,
    pub contract_type: Option<String>,
    pub status: Option<String>,
    pub origin_node: Option<String>,
    pub offset: usize,
    pub limit: usize,
    pub sort: SortBy,
    /// Compute an HTML snippet of the description for each hit.
    pub highlight: bool,
}

impl Default for OfferQuery {
    fn default() -> Self {
        OfferQuery {
            text: None,
            rome_codes: Vec::new(),
            near: None,
            contract_type: None,
            status: None,
            origin_node: None,
            offset: 0,
            limit: 20,
            sort: SortBy::Relevance,
            highlight: false,
        }
    }
}

/// Tuning knobs; [`SearchOptions::default`] is what the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOptions {
    /// Memory budget of each index writer, in bytes (tantivy needs at least
    /// 15 MB per indexing thread).
    pub writer_heap_bytes: usize,
    /// Indexing threads per writer; `None` = tantivy's choice (one per core,
    /// within the heap budget).
    pub writer_threads: Option<usize>,
    /// Minimum delay between two background commits.
    pub commit_interval: Duration,
    /// Scheduling niceness (0–19) of the indexing work: the writer's
    /// indexing, merge and commit threads and the follower's document
    /// building. Above 0, indexing takes the CPU that requests leave, so a
    /// burst of received offers is accepted first and indexed right after
    /// (the index follows the journal either way).
    pub index_nice: i32,
    /// Also run the offer index's indexing (its writer's indexing and
    /// commit threads, the follower's offer documents; not the merges)
    /// under `SCHED_IDLE` on Linux: only on a core nothing else wants. The
    /// offers are what peers fill in bursts; the candidate index (our own
    /// people's records, their erasures) stays at `index_nice`.
    pub index_idle: bool,
    /// Threads one matching pass or one search may use ([`pass_threads`];
    /// ≥ 1).
    pub pass_threads: usize,
    /// Documents per thread below which a search does not split a segment
    /// across threads (not configurable: tests lower it to exercise the
    /// split on small indexes).
    pub split_min_docs: u32,
}

/// The threads a matching pass may use: `configured`, or one per core (at
/// most 4) when 0.
pub fn pass_threads(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4),
        n => n,
    }
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            writer_heap_bytes: 50_000_000,
            writer_threads: None,
            commit_interval: Duration::from_millis(200),
            index_nice: 10,
            index_idle: true,
            pass_threads: pass_threads(0),
            split_min_docs: collect::SPLIT_MIN_DOCS,
        }
    }
}

/// Both indexes of a node.
pub struct SearchIndexes {
    pub candidates: CandidateIndex,
    pub offers: OfferIndex,
    /// The thread, at the indexing niceness, where the journal follower
    /// builds candidate documents and gives them to their writer.
    pub background: background::Background,
    /// The same for offers, also idle with `index_idle`.
    pub offers_background: background::Background,
}

impl SearchIndexes {
    /// Opens (or creates) `<dir>/candidates` and `<dir>/offers`. The two
    /// booleans say whether the candidates / offers index was (re)created and
    /// must be rebuilt from the database.
    pub fn open(dir: &Path) -> Result<(SearchIndexes, bool, bool), SearchError> {
        Self::open_with(dir, SearchOptions::default())
    }

    /// [`SearchIndexes::open`] with explicit options.
    pub fn open_with(
        dir: &Path,
        options: SearchOptions,
    ) -> Result<(SearchIndexes, bool, bool), SearchError> {
        // Never idle: the candidate index follows counsellors' writes and
        // erasures whatever the load.
        let candidate_options = SearchOptions {
            index_idle: false,
            ..options
        };
        let (candidates, rebuild_candidates) =
            CandidateIndex::open_with(&dir.join("candidates"), candidate_options)?;
        let (offers, rebuild_offers) = OfferIndex::open_with(&dir.join("offers"), options)?;
        Ok((
            SearchIndexes {
                candidates,
                offers,
                background: background::Background::start(
                    "vivier-index",
                    options.index_nice,
                    false,
                )?,
                offers_background: background::Background::start(
                    "vivier-idx-offr",
                    options.index_nice,
                    options.index_idle,
                )?,
            },
            rebuild_candidates,
            rebuild_offers,
        ))
    }

    /// Stops the committers, commits pending writes and waits for merges.
    /// Idempotent; also done on drop.
    pub fn shutdown(&self) {
        self.background.shutdown();
        self.offers_background.shutdown();
        self.candidates.shutdown();
        self.offers.shutdown();
    }
}

/// A candidate index for unit tests elsewhere in the node, in `dir`: small
/// and single-threaded (tests run in parallel on 2 cores).
#[cfg(test)]
pub(crate) fn small_candidate_index(dir: &std::path::Path) -> CandidateIndex {
    let options = SearchOptions {
        writer_heap_bytes: 15_000_000,
        writer_threads: Some(1),
        index_nice: 0,
        index_idle: false,
        ..SearchOptions::default()
    };
    CandidateIndex::open_with(&dir.join("candidates"), options)
        .expect("open")
        .0
}
