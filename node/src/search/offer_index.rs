//! The offers index (local offers and offers received from the federation).

use std::collections::HashMap;
use std::path::Path;

use tantivy::query::Query;
use tantivy::schema::{Field, Schema, FAST, STORED, STRING};
use tantivy::TantivyDocument;

use super::analysis::{FR, FR_EXACT};
use super::candidate_index::{code, codes, pairs_options, status, text_options};
use super::collect::pack_point;
use super::engine::{
    add_point, any_of_filter, conjunction, term_filter, text_query, Engine, EngineHandle, Exec,
    F_ID, F_LAT, F_LON, F_PT, F_ROME, F_UPDATED_AT,
};
use super::match_fields::{
    commune_key, OfferMatchFields, F_CERT, F_CONTRACT, F_DESIRED_CERT, F_HOURS, F_LOCAL,
    F_OFFER_LICENCE, F_PUBLISHED, F_START, F_STATUS, F_TERMS_DESCRIPTION, F_TERMS_LABEL,
    F_TERMS_TITLE, F_VEHICLE, F_WP_COMMUNE, F_WP_PT, UNKNOWN_POINT,
};
use super::query_build::{LicenceTerms, SearchFields};
use super::{OfferDoc, OfferQuery, SearchError, SearchOptions, SearchResults};

/// Bump when the schema or the analysis changes.
pub const OFFERS_SCHEMA_VERSION: &str = "offers-8";

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    origin: Field,
    title: Field,
    /// Title, description and employer, searched.
    text: Field,
    /// Pairs of consecutive words of `text`.
    pairs: Field,
    /// Stored for snippets (searched through `text`).
    description: Field,
    rome: Field,
    contract: Field,
    employer: Field,
    licence: Field,
    status: Field,
    updated_at: Field,
    wp_pt: Field,
    wp_commune: Field,
    terms_title: Field,
    terms_label: Field,
    terms_description: Field,
    certification: Field,
    desired_certification: Field,
    vehicle: Field,
    start: Field,
    published: Field,
    hours: Field,
    local: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field(F_ID, STRING | STORED | FAST),
        origin: b.add_text_field("origin_node", STRING),
        title: b.add_text_field("title", text_options(FR, false)),
        text: b.add_text_field("text", text_options(FR, false)),
        pairs: b.add_text_field("pairs", pairs_options()),
        description: b.add_text_field("description", STORED),
        rome: b.add_text_field(F_ROME, STRING | FAST),
        contract: b.add_text_field(F_CONTRACT, STRING | FAST),
        employer: b.add_text_field("employer_name", text_options(FR_EXACT, false)),
        licence: b.add_text_field(F_OFFER_LICENCE, STRING | FAST),
        status: b.add_text_field(F_STATUS, STRING | FAST),
        updated_at: b.add_i64_field(F_UPDATED_AT, FAST | STORED),
        wp_pt: b.add_u64_field(F_WP_PT, FAST),
        wp_commune: b.add_u64_field(F_WP_COMMUNE, FAST),
        terms_title: b.add_text_field(F_TERMS_TITLE, STRING),
        terms_label: b.add_text_field(F_TERMS_LABEL, STRING),
        terms_description: b.add_text_field(F_TERMS_DESCRIPTION, STRING),
        certification: b.add_text_field(F_CERT, STRING | FAST),
        desired_certification: b.add_text_field(F_DESIRED_CERT, STRING | FAST),
        vehicle: b.add_bool_field(F_VEHICLE, FAST),
        start: b.add_i64_field(F_START, FAST),
        published: b.add_i64_field(F_PUBLISHED, FAST),
        hours: b.add_i64_field(F_HOURS, FAST),
        local: b.add_bool_field(F_LOCAL, FAST),
    };
    // Multi-valued: one value per workplace.
    b.add_i64_field(F_LAT, FAST);
    b.add_i64_field(F_LON, FAST);
    b.add_u64_field(F_PT, FAST);
    (b.build(), fields)
}

/// The offers index. Same life cycle as [`super::CandidateIndex`].
pub struct OfferIndex {
    handle: EngineHandle,
    fields: Fields,
    search_fields: SearchFields,
}

impl OfferIndex {
    /// Opens or creates the index in `dir`; `true` = rebuild from the DB.
    pub fn open(dir: &Path) -> Result<(OfferIndex, bool), SearchError> {
        Self::open_with(dir, SearchOptions::default())
    }

    /// [`OfferIndex::open`] with explicit options.
    pub fn open_with(
        dir: &Path,
        options: SearchOptions,
    ) -> Result<(OfferIndex, bool), SearchError> {
        let (schema, fields) = schema();
        let (handle, needs_rebuild) =
            EngineHandle::open(dir, "offers", schema, OFFERS_SCHEMA_VERSION, options)?;
        let search_fields = SearchFields {
            main: fields.text,
            boosts: vec![(fields.title, 2.0)],
            title: Some(fields.title),
            title_pairs: None,
            exact: vec![(fields.employer, 1.0)],
            rome: Some(fields.rome),
            pairs: Some(fields.pairs),
            licence: Some((fields.licence, LicenceTerms::Required)),
        };
        Ok((
            OfferIndex {
                handle,
                fields,
                search_fields,
            },
            needs_rebuild,
        ))
    }

    fn engine(&self) -> &Engine {
        &self.handle.engine
    }

    fn to_document(&self, o: &OfferDoc) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &o.id);
        doc.add_text(f.origin, o.origin_node.trim());
        doc.add_text(f.title, &o.title);
        for value in [&o.title, &o.description, &o.employer_name] {
            doc.add_text(f.text, value);
            doc.add_text(f.pairs, value);
        }
        doc.add_text(f.description, &o.description);
        let rome = code(&o.rome_code);
        if !rome.is_empty() {
            doc.add_text(f.rome, rome);
        }
        doc.add_text(f.contract, code(&o.contract_type));
        doc.add_text(f.employer, &o.employer_name);
        let schema = self.engine().index.schema();
        for p in &o.workplaces {
            add_point(&mut doc, &schema, *p);
        }
        if let Some(l) = &o.driving_licence {
            doc.add_text(f.licence, code(l));
        }
        doc.add_text(f.status, status(&o.status));
        doc.add_i64(f.updated_at, o.updated_at);
        // Matching features (see `match_fields`), workplaces in order.
        for w in &o.match_workplaces {
            doc.add_u64(
                f.wp_pt,
                w.point.and_then(pack_point).unwrap_or(UNKNOWN_POINT),
            );
            doc.add_u64(f.wp_commune, commune_key(&w.commune_insee));
        }
        for (term, factor) in &o.match_terms {
            let field = if *factor >= 2.0 {
                f.terms_title
            } else if *factor >= 1.5 {
                f.terms_label
            } else {
                f.terms_description
            };
            doc.add_text(field, term);
        }
        for c in codes(&o.required_certifications) {
            doc.add_text(f.certification, c);
        }
        for c in codes(&o.desired_certifications) {
            doc.add_text(f.desired_certification, c);
        }
        doc.add_bool(f.vehicle, o.vehicle_required);
        doc.add_i64(f.start, o.start_day.unwrap_or(i64::MIN));
        doc.add_i64(f.published, o.published_at);
        doc.add_i64(f.hours, o.weekly_hours.unwrap_or(-1));
        doc.add_bool(f.local, o.is_local);
        doc
    }

    /// The searcher and fields of matching's index pass
    /// ([`crate::matching::pass`]).
    pub fn match_fields(&self) -> Result<OfferMatchFields, SearchError> {
        let f = &self.fields;
        let searcher = self.engine().searcher();
        Ok(OfferMatchFields {
            ids: self.engine().segment_ids(&searcher)?,
            searcher,
            terms: [
                (f.terms_title, 2.0),
                (f.terms_label, 1.5),
                (f.terms_description, 1.0),
            ],
            rome: f.rome,
        })
    }

    /// Adds or replaces the offer `doc.id`.
    pub fn upsert(&self, doc: &OfferDoc) -> Result<(), SearchError> {
        self.engine().upsert(&doc.id, self.to_document(doc))
    }

    /// Removes the offer `id` (no-op when absent).
    pub fn delete(&self, id: &str) -> Result<(), SearchError> {
        self.engine().delete(id)
    }

    /// Commits pending writes and reloads the reader now.
    pub fn commit_now(&self) -> Result<(), SearchError> {
        self.engine().commit_and_reload()
    }

    /// Replaces the whole index by `docs` and commits; returns the count.
    pub fn rebuild(
        &self,
        docs: &mut dyn Iterator<Item = OfferDoc>,
        progress: &dyn Fn(u64),
        seq: i64,
    ) -> Result<u64, SearchError> {
        self.engine()
            .rebuild(docs.map(|o| self.to_document(&o)), progress, seq)
    }

    /// Journal position applied (given to the writer).
    pub fn applied_seq(&self) -> i64 {
        self.engine().applied_seq()
    }

    /// Journal position recorded by the last commit.
    pub fn committed_seq(&self) -> i64 {
        self.engine().committed_seq()
    }

    /// Every journal entry up to `seq` has been applied.
    pub fn mark_applied(&self, seq: i64) -> Result<(), SearchError> {
        self.engine().mark_applied(seq)
    }

    /// Every id in the index (consistency checks).
    pub fn all_ids(&self) -> Result<Vec<String>, SearchError> {
        self.engine().all_ids()
    }

    /// Searches the offers. With `near`, the distance of an offer is that of
    /// its nearest workplace; offers without workplace are excluded.
    pub fn search(&self, q: &OfferQuery) -> Result<SearchResults, SearchError> {
        let f = &self.fields;
        let searcher = self.engine().searcher();
        let built = text_query(&searcher, &self.search_fields, q.text.as_deref())?;
        let mut filters: Vec<Box<dyn Query>> = Vec::new();
        if !q.rome_codes.is_empty() {
            filters.push(any_of_filter(f.rome, &codes(&q.rome_codes)));
        }
        if let Some((center, radius_km)) = q.near {
            filters.extend(Engine::bbox_filter(center, radius_km));
        }
        if let Some(contract) = &q.contract_type {
            filters.push(term_filter(f.contract, &code(contract)));
        }
        if let Some(s) = &q.status {
            filters.push(term_filter(f.status, &status(s)));
        }
        if let Some(origin) = &q.origin_node {
            filters.push(term_filter(f.origin, origin.trim()));
        }
        let query = conjunction(built.as_ref().map(|b| b.query.box_clone()), filters);
        self.engine().execute(
            &searcher,
            Exec {
                snippet_field: q.highlight.then_some(f.description),
                ..Exec::page(query, built.as_ref(), q.near, q.sort, q.offset, q.limit)
            },
        )
    }

    /// BM25 scores of offers against a free text (e.g. a candidate's job
    /// titles, skills and CV): OR of the analysed terms over title (×2) and
    /// description. Restricted to `ids` when given.
    pub fn text_scores(
        &self,
        text: &str,
        ids: Option<&[String]>,
        limit: usize,
    ) -> Result<HashMap<String, f32>, SearchError> {
        let f = &self.fields;
        self.engine()
            .text_scores(&[(f.title, 2.0), (f.text, 1.0)], text, ids, limit)
    }

    /// Whether a document with this id is visible to search.
    pub fn contains(&self, id: &str) -> Result<bool, SearchError> {
        self.engine().contains(id)
    }

    /// Number of documents visible to search.
    pub fn num_docs(&self) -> u64 {
        self.engine().num_docs()
    }

    /// Stops the committer, commits, waits for merges. Idempotent.
    pub fn shutdown(&self) {
        self.handle.shutdown();
    }
}
