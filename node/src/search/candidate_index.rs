//! The candidathèque index.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;

use tantivy::query::{Query, RangeQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::TantivyDocument;

use super::analysis::{FR, FR_EXACT};
use super::engine::{
    add_point, any_of_filter, conjunction, filter, term_filter, text_query, Engine, EngineHandle,
    Exec, F_ID, F_LAT, F_LON, F_PT, F_ROME, F_UPDATED_AT,
};
use super::query_build::TextField;
use super::{CandidateDoc, CandidateQuery, SearchError, SearchOptions, SearchResults};

/// Bump when the schema or the analysis changes: the index is then
/// recreated and the caller rebuilds it from the database.
pub const CANDIDATES_SCHEMA_VERSION: &str = "candidates-3";

/// Sentinel of `available_from` for "available now".
const AVAILABLE_NOW: i64 = i64::MIN;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    full_name: Field,
    job_titles: Field,
    skills: Field,
    languages: Field,
    cv_text: Field,
    rome: Field,
    commune: Field,
    licence: Field,
    has_vehicle: Field,
    available_from: Field,
    contract: Field,
    status: Field,
    updated_at: Field,
}

pub(crate) fn text_options(tokenizer: &str, stored: bool) -> TextOptions {
    let options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    if stored {
        options.set_stored()
    } else {
        options
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field(F_ID, STRING | STORED | FAST),
        full_name: b.add_text_field("full_name", text_options(FR_EXACT, false)),
        job_titles: b.add_text_field("job_titles", text_options(FR, false)),
        skills: b.add_text_field("skills", text_options(FR, false)),
        languages: b.add_text_field("languages", text_options(FR, false)),
        cv_text: b.add_text_field("cv_text", text_options(FR, true)),
        rome: b.add_text_field(F_ROME, STRING | FAST),
        commune: b.add_text_field("commune_insee", STRING | STORED),
        licence: b.add_text_field("licence", STRING),
        has_vehicle: b.add_bool_field("has_vehicle", INDEXED | FAST),
        available_from: b.add_i64_field("available_from", FAST),
        contract: b.add_text_field("contract_type", STRING),
        status: b.add_text_field("status", STRING),
        updated_at: b.add_i64_field(F_UPDATED_AT, FAST | STORED),
    };
    b.add_i64_field(F_LAT, FAST);
    b.add_i64_field(F_LON, FAST);
    b.add_u64_field(F_PT, FAST);
    (b.build(), fields)
}

/// Upper-cased, trimmed, non-empty, deduplicated codes.
pub(crate) fn codes<'a>(values: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = values
        .into_iter()
        .map(|v| v.trim().to_uppercase())
        .filter(|v| !v.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

pub(crate) fn code(value: &str) -> String {
    value.trim().to_uppercase()
}

pub(crate) fn status(value: &str) -> String {
    value.trim().to_lowercase()
}

/// The candidathèque index (see the module documentation of
/// [`crate::search`]).
pub struct CandidateIndex {
    handle: EngineHandle,
    fields: Fields,
    text_fields: Vec<TextField>,
}

impl CandidateIndex {
    /// Opens or creates the index in `dir` (e.g. `<data>/index/candidates`).
    /// The boolean is `true` when the index was (re)created — or a previous
    /// rebuild did not finish — and must be rebuilt from the database.
    pub fn open(dir: &Path) -> Result<(CandidateIndex, bool), SearchError> {
        Self::open_with(dir, SearchOptions::default())
    }

    /// [`CandidateIndex::open`] with explicit options.
    pub fn open_with(
        dir: &Path,
        options: SearchOptions,
    ) -> Result<(CandidateIndex, bool), SearchError> {
        let (schema, fields) = schema();
        let (handle, needs_rebuild) = EngineHandle::open(
            dir,
            "candidates",
            schema,
            CANDIDATES_SCHEMA_VERSION,
            options,
        )?;
        let text_fields = [
            (fields.job_titles, 2.0, FR),
            (fields.skills, 1.0, FR),
            (fields.cv_text, 1.0, FR),
            (fields.full_name, 1.0, FR_EXACT),
            (fields.languages, 1.0, FR),
        ]
        .into_iter()
        .map(|(field, boost, analyzer)| TextField {
            field,
            boost,
            analyzer,
        })
        .collect();
        Ok((
            CandidateIndex {
                handle,
                fields,
                text_fields,
            },
            needs_rebuild,
        ))
    }

    fn engine(&self) -> &Engine {
        &self.handle.engine
    }

    fn to_document(&self, c: &CandidateDoc) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &c.id);
        doc.add_text(f.full_name, &c.full_name);
        for t in &c.job_titles {
            doc.add_text(f.job_titles, t);
        }
        for s in &c.skills {
            doc.add_text(f.skills, s);
        }
        for l in &c.languages {
            doc.add_text(f.languages, l);
        }
        doc.add_text(f.cv_text, &c.cv_text);
        for r in codes(&c.rome_codes) {
            doc.add_text(f.rome, r);
        }
        doc.add_text(f.commune, c.commune_insee.trim());
        if let Some(p) = c.point {
            add_point(&mut doc, &self.engine().index.schema(), p);
        }
        for l in codes(&c.driving_licences) {
            doc.add_text(f.licence, l);
        }
        doc.add_bool(f.has_vehicle, c.has_vehicle);
        doc.add_i64(
            f.available_from,
            c.available_from_days.unwrap_or(AVAILABLE_NOW),
        );
        for t in codes(&c.contract_types) {
            doc.add_text(f.contract, t);
        }
        doc.add_text(f.status, status(&c.status));
        doc.add_i64(f.updated_at, c.updated_at);
        doc
    }

    /// Adds or replaces the candidate `doc.id`. Visible to search after the
    /// next background commit (≤ ~200 ms) or [`CandidateIndex::commit_now`].
    pub fn upsert(&self, doc: &CandidateDoc) -> Result<(), SearchError> {
        self.engine().upsert(&doc.id, self.to_document(doc))
    }

    /// Removes the candidate `id` (no-op when absent).
    pub fn delete(&self, id: &str) -> Result<(), SearchError> {
        self.engine().delete(id)
    }

    /// Erasure: commits and rewrites the segments holding deleted
    /// candidates, so that no erased text stays on disk.
    pub fn purge_deleted(&self) -> Result<(), SearchError> {
        self.engine().purge_deleted()
    }

    /// Commits pending writes and reloads the reader now.
    pub fn commit_now(&self) -> Result<(), SearchError> {
        self.engine().commit_and_reload()
    }

    /// Replaces the whole index by `docs` (from the database) and commits.
    /// `progress` receives the number of documents indexed so far (every
    /// 1000 and at the end). Returns the number of documents.
    pub fn rebuild(
        &self,
        docs: &mut dyn Iterator<Item = CandidateDoc>,
        progress: &dyn Fn(u64),
    ) -> Result<u64, SearchError> {
        self.engine()
            .rebuild(docs.map(|c| self.to_document(&c)), progress)
    }

    /// Searches the candidathèque.
    pub fn search(&self, q: &CandidateQuery) -> Result<SearchResults, SearchError> {
        let f = &self.fields;
        let searcher = self.engine().searcher();
        let text = text_query(&searcher, &self.text_fields, q.text.as_deref())?;
        let mut filters: Vec<Box<dyn Query>> = Vec::new();
        if !q.rome_codes.is_empty() {
            filters.push(any_of_filter(f.rome, &codes(&q.rome_codes)));
        }
        if let Some((center, radius_km)) = q.near {
            filters.extend(Engine::bbox_filter(center, radius_km));
        }
        if let Some(licence) = &q.licence {
            filters.push(term_filter(f.licence, &code(licence)));
        }
        if let Some(day) = q.available_before_days {
            filters.push(filter(Box::new(RangeQuery::new_i64_bounds(
                "available_from".to_string(),
                Bound::Unbounded,
                Bound::Included(day),
            ))));
        }
        if let Some(contract) = &q.contract_type {
            filters.push(term_filter(f.contract, &code(contract)));
        }
        if let Some(s) = &q.status {
            filters.push(term_filter(f.status, &status(s)));
        }
        if let Some(ids) = &q.ids {
            filters.push(self.engine().ids_filter(ids));
        }
        let query = conjunction(text.as_ref().map(|t| t.box_clone()), filters);
        self.engine().execute(
            &searcher,
            Exec {
                query,
                text: text.as_deref(),
                near: q.near,
                sort: q.sort,
                offset: q.offset,
                limit: q.limit,
                snippet_field: q.highlight.then_some(f.cv_text),
            },
        )
    }

    /// BM25 scores of candidates against a free text (an offer's title,
    /// description and skills): an OR of the analysed terms (French stop
    /// words removed) over job titles (×2), skills and CV text. No query
    /// syntax: any character is accepted. Restricted to `ids` when given;
    /// at most `limit` best candidates.
    pub fn text_scores(
        &self,
        text: &str,
        ids: Option<&[String]>,
        limit: usize,
    ) -> Result<HashMap<String, f32>, SearchError> {
        let f = &self.fields;
        self.engine().text_scores(
            &[(f.job_titles, 2.0), (f.skills, 1.0), (f.cv_text, 1.0)],
            text,
            ids,
            limit,
        )
    }

    /// Whether a document with this id is visible to search.
    pub fn contains(&self, id: &str) -> Result<bool, SearchError> {
        self.engine().contains(id)
    }

    /// Number of documents visible to search.
    pub fn num_docs(&self) -> u64 {
        self.engine().num_docs()
    }

    /// Stops the committer, commits, waits for merges. Idempotent; also done
    /// on drop. Writes fail afterwards.
    pub fn shutdown(&self) {
        self.handle.shutdown();
    }
}
