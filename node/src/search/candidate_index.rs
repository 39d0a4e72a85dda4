//! The candidathèque index.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use tantivy::query::{Query, RangeQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::{DocSet, TantivyDocument, Term};

use super::analysis::{FR, FR_EXACT, FR_PAIRS};
use super::engine::{
    add_point, any_of_filter, conjunction, filter, term_filter, text_query_with, Engine,
    EngineHandle, Exec, F_ID, F_PT, F_ROME, F_UPDATED_AT,
};
use super::geo_filter::commune_bits;
use super::match_fields::{
    commune_key, CandidateMatchFields, F_AVAILABLE, F_CERT, F_COMMUNE_KEY, F_CONTRACT,
    F_HAS_VEHICLE, F_HOURS, F_LICENCE, F_NETWORK, F_PT_ONLY, F_STATUS, F_TRAVEL,
};
use super::query_build::{LicenceTerms, SearchFields, Strictness};
use super::term_bits::{SegmentBits, TermBitsQuery};
use super::{
    CandidateDoc, CandidateQuery, CandidateSummary, SearchError, SearchOptions, SearchResults,
};
use crate::referentials::certifications::Certifications;

/// Bump when the schema or the analysis changes: the index is then
/// recreated and the caller rebuilds it from the database.
pub const CANDIDATES_SCHEMA_VERSION: &str = "candidates-10";
/// CV characters indexed in the matching field (the same bound as
/// [`crate::matching::text::MAX_CV_CHARS`]).
pub const MATCH_CV_CHARS: usize = crate::matching::text::MAX_CV_CHARS;

/// Sentinel of `available_from` for "available now".
const AVAILABLE_NOW: i64 = i64::MIN;
/// Boost of the job-title field over the text field.
const TITLE_BOOST: f32 = 1.5;
/// The status hidden unless asked for.
const ARCHIVED: &str = "archived";

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    full_name: Field,
    first_name: Field,
    last_name: Field,
    job_titles: Field,
    /// Everything searchable: name, titles, skills, languages, CV.
    text: Field,
    /// Pairs of consecutive words of `text` (multi-word expansions).
    pairs: Field,
    /// Pairs of consecutive words of each job title (the exact-title
    /// boost: term look-ups instead of a phrase's positions).
    title_pairs: Field,
    /// The CV, stored for snippets (searched through `text`).
    cv_text: Field,
    /// Job titles, skills and the CV's first [`MATCH_CV_CHARS`] characters
    /// (no names, no languages): the candidate's side of matching's text
    /// relevance; terms only (no frequencies, no positions).
    match_text: Field,
    rome: Field,
    commune: Field,
    licence: Field,
    has_vehicle: Field,
    available_from: Field,
    available_from_date: Field,
    contract: Field,
    status: Field,
    updated_at: Field,
    certification: Field,
    commune_key: Field,
    travel: Field,
    pt_only: Field,
    hours: Field,
    network: Field,
}

/// The word-pair field: frequencies for scoring, no positions.
pub(crate) fn pairs_options() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(FR_PAIRS)
            .set_index_option(IndexRecordOption::WithFreqs),
    )
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
        first_name: b.add_text_field("first_name", STORED),
        last_name: b.add_text_field("last_name", STORED),
        job_titles: b.add_text_field("job_titles", text_options(FR, true)),
        text: b.add_text_field("text", text_options(FR, false)),
        pairs: b.add_text_field("pairs", pairs_options()),
        title_pairs: b.add_text_field("title_pairs", pairs_options()),
        cv_text: b.add_text_field("cv_text", STORED),
        match_text: b.add_text_field(
            "match_text",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(FR)
                    .set_index_option(IndexRecordOption::Basic),
            ),
        ),
        rome: b.add_text_field(F_ROME, STRING | FAST | STORED),
        commune: b.add_text_field("commune_insee", STRING | STORED),
        licence: b.add_text_field(F_LICENCE, STRING | FAST),
        has_vehicle: b.add_bool_field(F_HAS_VEHICLE, INDEXED | FAST),
        available_from: b.add_i64_field(F_AVAILABLE, FAST),
        available_from_date: b.add_text_field("available_from_date", STORED),
        contract: b.add_text_field(F_CONTRACT, STRING | FAST),
        status: b.add_text_field(F_STATUS, STRING | STORED | FAST),
        updated_at: b.add_i64_field(F_UPDATED_AT, FAST | STORED),
        certification: b.add_text_field(F_CERT, STRING | FAST),
        commune_key: b.add_u64_field(F_COMMUNE_KEY, FAST),
        travel: b.add_i64_field(F_TRAVEL, FAST),
        pt_only: b.add_bool_field(F_PT_ONLY, FAST),
        hours: b.add_i64_field(F_HOURS, FAST),
        network: b.add_bool_field(F_NETWORK, FAST),
    };
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

fn stored_all(doc: &TantivyDocument, field: Field) -> Vec<String> {
    doc.get_all(field)
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn stored_first(doc: &TantivyDocument, field: Field) -> Option<String> {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// The number of live documents and, for each term of `field`, how many
/// live documents hold it: from the term dictionary in segments without
/// deletes, by walking the postings past the deleted documents otherwise.
pub(crate) fn live_doc_freqs(
    searcher: &tantivy::Searcher,
    field: Field,
    terms: &[String],
) -> Result<(u64, Vec<u64>), SearchError> {
    let mut out = vec![0u64; terms.len()];
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let alive = segment.alive_bitset();
        for (i, t) in terms.iter().enumerate() {
            let term = Term::from_field_text(field, t);
            let Some(info) = inverted.get_term_info(&term)? else {
                continue;
            };
            match alive {
                None => out[i] += u64::from(info.doc_freq),
                Some(alive) => {
                    let mut postings =
                        inverted.read_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
                    let mut n = 0u64;
                    let mut doc = postings.doc();
                    while doc != tantivy::TERMINATED {
                        if alive.is_alive(doc) {
                            n += 1;
                        }
                        doc = postings.advance();
                    }
                    out[i] += n;
                }
            }
        }
    }
    Ok((searcher.num_docs(), out))
}

/// People having all the words of a search that are enough for it to
/// count only them (a page and a half of 20): below, people missing a word
/// (of two, or one of three to five…) are counted and ranked after them.
pub const ENOUGH_WITH_ALL_WORDS: usize = 30;

/// Whether a search's groups of words could find more with fewer words.
#[derive(Clone, Copy, Debug)]
struct Looser {
    /// [`Strictness::Most`] could find more than [`Strictness::All`].
    loosenable: bool,
    /// [`Strictness::One`] could find more than [`Strictness::Most`].
    relaxable: bool,
}

/// The candidathèque index (see the module documentation of
/// [`crate::search`]).
pub struct CandidateIndex {
    handle: EngineHandle,
    fields: Fields,
    search_fields: SearchFields,
    /// What matching reads of each document, per segment.
    visits: super::id_table::PerSegment<super::match_fields::Visits>,
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
        let search_fields = SearchFields {
            main: fields.text,
            boosts: vec![(fields.job_titles, TITLE_BOOST)],
            title: Some(fields.job_titles),
            title_pairs: Some(fields.title_pairs),
            exact: vec![(fields.full_name, 1.0)],
            rome: Some(fields.rome),
            pairs: Some(fields.pairs),
            licence: Some((fields.certification, LicenceTerms::Held)),
        };
        Ok((
            CandidateIndex {
                handle,
                fields,
                search_fields,
                visits: Default::default(),
            },
            needs_rebuild,
        ))
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.handle.engine
    }

    /// The terms a search for `text` looks up in the job-title field and
    /// in the title word-pair field (tests of the query's shape).
    #[cfg(test)]
    pub(crate) fn title_terms_of(&self, text: &str) -> (Vec<String>, Vec<String>) {
        (
            self.terms_of(text, self.fields.job_titles),
            self.terms_of(text, self.fields.title_pairs),
        )
    }

    /// The terms a search for `text` looks up in the main text field, once
    /// per clause that looks each up (tests of the query's shape).
    #[cfg(test)]
    pub(crate) fn text_terms_of(&self, text: &str) -> Vec<String> {
        self.terms_of(text, self.search_fields.main)
    }

    #[cfg(test)]
    fn terms_of(&self, text: &str, field: tantivy::schema::Field) -> Vec<String> {
        let searcher = self.engine().searcher();
        let built = text_query_with(
            &searcher,
            &self.search_fields,
            Some(text),
            Strictness::Most,
            None,
        )
        .expect("query");
        let mut terms = Vec::new();
        if let Some(b) = built {
            b.query.query_terms(&mut |t, _| {
                if t.field() == field {
                    terms.push(t.value().as_str().unwrap_or_default().to_string());
                }
            });
        }
        terms
    }

    fn to_document(&self, c: &CandidateDoc) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &c.id);
        doc.add_text(f.full_name, &c.full_name);
        doc.add_text(f.first_name, &c.first_name);
        doc.add_text(f.last_name, &c.last_name);
        for t in &c.job_titles {
            doc.add_text(f.job_titles, t);
            doc.add_text(f.title_pairs, t);
        }
        for value in std::iter::once(&c.full_name)
            .chain(&c.job_titles)
            .chain(&c.skills)
            .chain(&c.languages)
            .chain(&c.training_level)
            .chain(std::iter::once(&c.cv_text))
        {
            doc.add_text(f.text, value);
            doc.add_text(f.pairs, value);
        }
        doc.add_text(f.cv_text, &c.cv_text);
        for t in c.job_titles.iter().chain(&c.skills) {
            doc.add_text(f.match_text, t);
        }
        let cv: String = c.cv_text.chars().take(MATCH_CV_CHARS).collect();
        doc.add_text(f.match_text, &cv);
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
        if let Some(d) = &c.available_from {
            doc.add_text(f.available_from_date, d);
        }
        for t in codes(&c.contract_types) {
            doc.add_text(f.contract, t);
        }
        doc.add_text(f.status, status(&c.status));
        doc.add_i64(f.updated_at, c.updated_at);
        // Matching features (see `match_fields`).
        for code in codes(&c.certifications).into_iter().chain(
            codes(&c.driving_licences)
                .iter()
                .map(|l| crate::referentials::certifications::licence_code(l)),
        ) {
            doc.add_text(f.certification, code);
        }
        doc.add_u64(f.commune_key, commune_key(&c.commune_insee));
        doc.add_i64(f.travel, c.max_travel_km.unwrap_or(-1));
        doc.add_bool(f.pt_only, c.public_transport_only);
        doc.add_i64(f.hours, c.weekly_hours.unwrap_or(-1));
        doc.add_bool(f.network, c.network_consent);
        doc
    }

    /// The searcher and fields of matching's index pass
    /// ([`crate::matching::pass`]).
    pub fn match_fields(&self) -> Result<CandidateMatchFields, SearchError> {
        let searcher = self.engine().searcher();
        let visits = self
            .visits
            .for_searcher(&searcher, |r| {
                super::match_fields::Visits::build(r).map(Some)
            })?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        Ok(CandidateMatchFields {
            ids: self.engine().segment_ids(&searcher)?,
            searcher,
            match_text: self.fields.match_text,
            rome: self.fields.rome,
            threads: self.engine().pass_threads,
            split_min_docs: crate::matching::pass::SPLIT_MIN_DOCS,
            visits,
        })
    }

    fn summary(&self, doc: &TantivyDocument) -> CandidateSummary {
        let f = &self.fields;
        CandidateSummary {
            first_name: stored_first(doc, f.first_name).unwrap_or_default(),
            last_name: stored_first(doc, f.last_name).unwrap_or_default(),
            commune_insee: stored_first(doc, f.commune).unwrap_or_default(),
            rome_codes: stored_all(doc, f.rome),
            job_titles: stored_all(doc, f.job_titles),
            status: stored_first(doc, f.status).unwrap_or_default(),
            available_from: stored_first(doc, f.available_from_date),
        }
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
        seq: i64,
    ) -> Result<u64, SearchError> {
        self.engine()
            .rebuild(docs.map(|c| self.to_document(&c)), progress, seq)
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

    /// Searches the candidathèque. Without a `status`, archived candidates
    /// are left out (`status = "all"` includes them).
    pub fn search(&self, q: &CandidateQuery) -> Result<SearchResults, SearchError> {
        Ok(self.search_with(q, Strictness::Most, self.radius(q))?.0)
    }

    /// What a person typing in a search box gets: each group of words
    /// needs
    /// - all of its words when at least [`ENOUGH_WITH_ALL_WORDS`] people
    ///   have them all (whatever the page asked: the pages of one search
    ///   agree): a common pair of words (`agent logistique`) then counts
    ///   and ranks the people who have both, not everyone with one of
    ///   them;
    /// - otherwise most of its words ([`super::query_build::min_match`]: a
    ///   mason whose CV never says BTP is found by `BTP maçonnerie`);
    /// - one of its words only when nobody had most of them (a pasted
    ///   sentence, filler words: `cherche cariste CACES disponible
    ///   rapidement`); the answer then says so ([`SearchResults::relaxed`]).
    pub fn search_relaxing(&self, q: &CandidateQuery) -> Result<SearchResults, SearchError> {
        // Read once for every try.
        let radius = self.radius(q);
        let (mut results, mut built) = self.search_with(q, Strictness::All, radius.clone())?;
        if built.loosenable {
            if results.total >= ENOUGH_WITH_ALL_WORDS {
                return Ok(results);
            }
            (results, built) = self.search_with(q, Strictness::Most, radius.clone())?;
        }
        if results.total > 0 || !built.relaxable {
            return Ok(results);
        }
        let (mut results, _) = self.search_with(q, Strictness::One, radius)?;
        results.relaxed = true;
        Ok(results)
    }

    /// The documents of the search's radius, read once per segment for
    /// its filter and for the word variants that look at them only.
    fn radius(&self, q: &CandidateQuery) -> Option<Arc<SegmentBits>> {
        q.near
            .map(|(center, radius_km)| commune_bits(self.fields.commune, center, radius_km))
    }

    /// The search within `radius` ([`CandidateIndex::radius`]), and
    /// whether its groups of words could find more with fewer of their
    /// words.
    fn search_with(
        &self,
        q: &CandidateQuery,
        strictness: Strictness,
        radius: Option<Arc<SegmentBits>>,
    ) -> Result<(SearchResults, Looser), SearchError> {
        let f = &self.fields;
        let searcher = self.engine().searcher();
        let built = text_query_with(
            &searcher,
            &self.search_fields,
            q.text.as_deref(),
            strictness,
            radius.clone(),
        )?;
        let looser = Looser {
            loosenable: built.as_ref().is_some_and(|b| b.loosenable),
            relaxable: built.as_ref().is_some_and(|b| b.relaxable),
        };
        let mut filters: Vec<Box<dyn Query>> = Vec::new();
        let mut hidden = None;
        if !q.rome_codes.is_empty() {
            filters.push(any_of_filter(f.rome, &codes(&q.rome_codes)));
        }
        if let Some(bits) = radius {
            filters.push(filter(Box::new(TermBitsQuery::of(bits))));
        }
        if let Some(licence) = &q.licence {
            // Holders of the licence: any recorded licence or certification
            // that grants it (`CE` and `PERMIS_B` both meet `B`).
            let code = crate::referentials::certifications::licence_code(licence);
            let mut granting = Certifications::global().granting(&code);
            if granting.is_empty() {
                granting.push(code);
            }
            filters.push(any_of_filter(f.certification, &granting));
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
        match q.status.as_deref().map(status).as_deref() {
            // Left out by the collector (a bit per document, read once per
            // segment), not by a `NOT` clause sought at every match.
            None => hidden = Some(Term::from_field_text(f.status, ARCHIVED)),
            Some("all") => {}
            Some(s) => filters.push(term_filter(f.status, s)),
        }
        if let Some(ids) = &q.ids {
            filters.push(self.engine().ids_filter(ids));
        }
        let query = conjunction(built.as_ref().map(|b| b.query.box_clone()), filters);
        let summarize = |doc: &TantivyDocument| self.summary(doc);
        let results = self.engine().execute(
            &searcher,
            Exec {
                snippet_field: q.highlight.then_some(f.cv_text),
                summarize: q.summaries.then_some(&summarize),
                hidden,
                ..Exec::page(query, built.as_ref(), q.near, q.sort, q.offset, q.limit)
            },
        )?;
        Ok((results, looser))
    }

    /// BM25 scores of candidates against a free text (an offer's title,
    /// description and skills): an OR of the analysed terms (French stop
    /// words removed) over job titles (×2) and the whole text. No query
    /// syntax: any character is accepted. Restricted to `ids` when given;
    /// at most `limit` best candidates.
    pub fn text_scores(
        &self,
        text: &str,
        ids: Option<&[String]>,
        limit: usize,
    ) -> Result<HashMap<String, f32>, SearchError> {
        let f = &self.fields;
        self.engine()
            .text_scores(&[(f.job_titles, 2.0), (f.text, 1.0)], text, ids, limit)
    }

    /// The number of live documents (archived records included) and, for
    /// each term of the searchable text, how many live documents hold it:
    /// the document frequencies of matching's text relevance. Replaced and
    /// deleted versions are not counted (unlike tantivy's own `doc_freq`),
    /// so re-indexing a record — archived, edited — changes nothing for the
    /// terms it neither gains nor loses.
    pub fn text_doc_freqs(&self, terms: &[String]) -> Result<(u64, Vec<u64>), SearchError> {
        let searcher = self.engine().searcher();
        live_doc_freqs(&searcher, self.fields.text, terms)
    }

    /// For each of `ids` in the index, which of `terms` (analysed terms)
    /// occur in its job titles, skills or CV: the same answer as
    /// [`crate::matching::text::candidate_terms`] on the record, read from
    /// the postings instead of analysing the texts again.
    pub fn match_terms_held(
        &self,
        ids: &[String],
        terms: &[String],
    ) -> Result<HashMap<String, Vec<bool>>, SearchError> {
        self.engine().terms_held(self.fields.match_text, ids, terms)
    }

    /// [`CandidateIndex::match_terms_held`] for rows a pass found: their
    /// addresses in the searcher it ran on (the one of
    /// [`CandidateIndex::match_fields`]) and their ids, without looking
    /// the ids up again.
    pub fn match_terms_held_at(
        &self,
        searcher: &tantivy::Searcher,
        docs: &[(tantivy::DocAddress, String)],
        terms: &[String],
    ) -> Result<HashMap<String, Vec<bool>>, SearchError> {
        super::engine::terms_held_at(searcher, self.fields.match_text, docs, terms)
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
