//! The machinery shared by both indexes: opening/creating with a schema
//! version, the long-lived writer, the background committer, query
//! execution (filters, geo, facets, pagination, snippets) and free-text
//! scoring.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Schema, Value};
use tantivy::{
    DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use super::analysis::{analysed, register_analyzers};
use super::collect::{pack_point, search_split, Helpers, RankCollector, Ranked};
use super::doc_values::DocValues;
use super::id_table::{IdTables, SegmentIds};
use super::query_build::{Builder, Built, SearchFields, Strictness};
use super::query_lang;
use super::snippet::{leading, Highlighter};
use super::term_bits::SegmentBits;
use super::{CandidateSummary, Hit, SearchError, SearchOptions, SearchResults, SortBy};
use crate::geo::{bounding_box, Point};

/// Name of the file holding the schema version in each index directory.
pub(crate) const VERSION_FILE: &str = "SCHEMA_VERSION";
/// Present while an index created by `open` has not been fully rebuilt yet
/// (so that a crash during the first rebuild is noticed at the next start).
const PENDING_FILE: &str = "REBUILD_PENDING";
/// Maximum number of distinct terms taken from a free text by `text_scores`.
const MAX_FREE_TEXT_TERMS: usize = 256;
/// Document-store block size (tantivy's default is 16 KiB).
const DOCSTORE_BLOCK_BYTES: usize = 4096;
/// Delay before retrying after a failed background commit.
const COMMIT_RETRY: Duration = Duration::from_secs(2);

/// Field names shared by both schemas.
pub(crate) const F_ID: &str = "id";
pub(crate) const F_ROME: &str = "rome";
pub(crate) const F_LAT: &str = "lat";
pub(crate) const F_LON: &str = "lon";
pub(crate) const F_PT: &str = "pt";
pub(crate) const F_UPDATED_AT: &str = "updated_at";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct CommitState {
    /// Writes not committed yet.
    dirty: bool,
    shutdown: bool,
    /// The committer does not commit before this instant.
    next_commit_at: Instant,
}

pub(crate) struct Engine {
    name: &'static str,
    /// Journal position of the last change given to the writer (written
    /// into the payload of the next commit).
    pending_seq: std::sync::atomic::AtomicI64,
    /// Journal position recorded by the last commit (what survives a crash).
    committed_seq: std::sync::atomic::AtomicI64,
    pub(crate) index: Index,
    reader: IndexReader,
    writer: Mutex<Option<IndexWriter>>,
    state: Mutex<CommitState>,
    wake: Condvar,
    interval: Duration,
    id_field: Field,
    /// The ids of the live segments, decoded once per segment.
    ids: IdTables,
    /// Their ROME codes and points, decoded once per segment.
    values: DocValues,
    dir: std::path::PathBuf,
    /// Threads one matching pass or one search may use
    /// ([`SearchOptions::pass_threads`]).
    pub(crate) pass_threads: usize,
    /// [`SearchOptions::split_min_docs`].
    split_min_docs: u32,
    /// Threads that join long searches (`pass_threads - 1` of them,
    /// [`super::collect::search_split`]).
    helpers: Option<Helpers>,
}

/// Owner of an [`Engine`] and of its committer thread; shuts down on drop.
pub(crate) struct EngineHandle {
    pub(crate) engine: Arc<Engine>,
    committer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Opens the index in `dir` if its `SCHEMA_VERSION` is `version` and its
/// schema is `schema`; otherwise wipes `dir` and creates an empty index.
/// Returns whether the index was created.
fn open_or_create(
    dir: &Path,
    schema: &Schema,
    version: &str,
) -> Result<(Index, bool), SearchError> {
    let current = fs::read_to_string(dir.join(VERSION_FILE)).ok();
    if current.as_deref().map(str::trim) == Some(version) && dir.join("meta.json").is_file() {
        match Index::open_in_dir(dir) {
            Ok(index) if index.schema() == *schema => return Ok((index, false)),
            Ok(_) => tracing::warn!(dir = %dir.display(), "search index schema drift; recreating"),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "search index unreadable; recreating")
            }
        }
    } else if dir.exists() {
        tracing::info!(
            dir = %dir.display(),
            found = current.as_deref().map(str::trim).unwrap_or("none"),
            expected = version,
            "search index schema version differs; recreating"
        );
    }
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    fs::write(
        dir.join(PENDING_FILE),
        b"rebuild from the database pending\n",
    )?;
    // Small document-store blocks: a result page reads about twenty random
    // documents, and each read decompresses its whole block.
    let settings = tantivy::IndexSettings {
        docstore_blocksize: DOCSTORE_BLOCK_BYTES,
        ..tantivy::IndexSettings::default()
    };
    let index = Index::builder()
        .schema(schema.clone())
        .settings(settings)
        .create_in_dir(dir)?;
    let tmp = dir.join(format!("{VERSION_FILE}.tmp"));
    fs::write(&tmp, format!("{version}\n"))?;
    fs::rename(&tmp, dir.join(VERSION_FILE))?;
    Ok((index, true))
}

impl EngineHandle {
    pub(crate) fn open(
        dir: &Path,
        name: &'static str,
        schema: Schema,
        version: &str,
        options: SearchOptions,
    ) -> Result<(EngineHandle, bool), SearchError> {
        let (index, created) = open_or_create(dir, &schema, version)?;
        let needs_rebuild = created || dir.join(PENDING_FILE).exists();
        register_analyzers(index.tokenizers());
        // Created at the indexing priority: tantivy's indexing, merge and
        // segment threads inherit it.
        let writer: IndexWriter =
            super::background::at_priority(options.index_nice, || match options.writer_threads {
                Some(n) => index.writer_with_num_threads(n.max(1), options.writer_heap_bytes),
                None => index.writer(options.writer_heap_bytes),
            })?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let id_field = schema.get_field(F_ID)?;
        let committed = if needs_rebuild {
            0
        } else {
            seq_of_payload(index.load_metas()?.payload.as_deref())
        };
        let engine = Arc::new(Engine {
            name,
            pending_seq: std::sync::atomic::AtomicI64::new(committed),
            committed_seq: std::sync::atomic::AtomicI64::new(committed),
            index,
            reader,
            writer: Mutex::new(Some(writer)),
            state: Mutex::new(CommitState {
                dirty: false,
                shutdown: false,
                next_commit_at: Instant::now(),
            }),
            wake: Condvar::new(),
            interval: options.commit_interval,
            id_field,
            ids: IdTables::default(),
            values: DocValues::default(),
            dir: dir.to_path_buf(),
            pass_threads: options.pass_threads.max(1),
            split_min_docs: options.split_min_docs.max(1),
            helpers: Helpers::new(name, options.pass_threads.max(1) - 1),
        });
        let for_thread = Arc::clone(&engine);
        let committer = std::thread::Builder::new()
            // "commit-candidat" / "commit-offers" (a thread's name is
            // cut at 15 bytes).
            .name(format!("commit-{name}"))
            .spawn(move || {
                // Commits respawn tantivy's indexing threads from here: they
                // inherit this thread's priority, idle included.
                super::background::lower_priority(options.index_nice, options.index_idle);
                run_committer(&for_thread)
            })?;
        Ok((
            EngineHandle {
                engine,
                committer: Mutex::new(Some(committer)),
            },
            needs_rebuild,
        ))
    }

    /// Stops the committer, commits what is pending, waits for the merges and
    /// releases the writer. Idempotent. Later writes fail.
    pub(crate) fn shutdown(&self) {
        let engine = &self.engine;
        lock(&engine.state).shutdown = true;
        engine.wake.notify_all();
        if let Some(handle) = lock(&self.committer).take() {
            if handle.join().is_err() {
                tracing::error!(index = engine.name, "search committer thread panicked");
            }
        }
        let writer = lock(&engine.writer).take();
        if let Some(mut writer) = writer {
            match engine.commit_with_payload(&mut writer) {
                Ok(seq) => {
                    lock(&engine.state).dirty = false;
                    if let Err(e) = engine.reader.reload() {
                        tracing::warn!(index = engine.name, error = %e, "search reader reload failed");
                    }
                    engine.published(seq);
                }
                Err(e) => {
                    tracing::error!(index = engine.name, error = %e, "final search commit failed")
                }
            }
            if let Err(e) = writer.wait_merging_threads() {
                tracing::warn!(index = engine.name, error = %e, "search merge threads failed");
            }
        }
    }
}

/// The journal position stored in a commit payload (0 when absent).
fn seq_of_payload(payload: Option<&str>) -> i64 {
    payload.and_then(|p| p.trim().parse().ok()).unwrap_or(0)
}

/// Decodes the ids ([`super::id_table`]), ROME codes, points and left-out
/// documents ([`super::doc_values`]) of segments new to the searcher, so that no
/// search or ranking pays for it (a merged segment of a million candidates
/// takes ~0.1 s).
fn warm_segments(engine: &Engine) {
    let searcher = engine.searcher();
    if let Err(e) = engine.segment_ids(&searcher) {
        tracing::warn!(index = engine.name, error = %e, "reading the segments' ids failed");
    }
    if let Err(e) = engine.values.warm(&searcher) {
        tracing::warn!(index = engine.name, error = %e, "reading the segments' codes, points and left-out documents failed");
    }
}

fn run_committer(engine: &Engine) {
    warm_segments(engine);
    let mut state = lock(&engine.state);
    loop {
        if state.shutdown {
            return;
        }
        if !state.dirty {
            state = engine
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let now = Instant::now();
        if now < state.next_commit_at {
            let timeout = state.next_commit_at - now;
            state = match engine.wake.wait_timeout(state, timeout) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
            continue;
        }
        drop(state);
        match engine.commit_and_reload() {
            Ok(()) => warm_segments(engine),
            Err(e) => {
                tracing::error!(index = engine.name, error = %e, "background search commit failed");
                lock(&engine.state).next_commit_at = Instant::now() + COMMIT_RETRY;
            }
        }
        state = lock(&engine.state);
    }
}

/// Builds the summary of a hit from its stored fields.
pub(crate) type Summarize<'a> = &'a dyn Fn(&TantivyDocument) -> CandidateSummary;

/// What a search runs.
pub(crate) struct Exec<'a> {
    /// The full query (text AND filters).
    pub query: Box<dyn Query>,
    /// Whether there was text (scores are meaningful).
    pub scoring: bool,
    /// Analysed terms to highlight in snippets (empty without text).
    pub highlight: Option<&'a BTreeSet<String>>,
    pub near: Option<(Point, f64)>,
    pub sort: SortBy,
    pub offset: usize,
    pub limit: usize,
    /// Stored text field to compute snippets from, when highlighting.
    pub snippet_field: Option<Field>,
    /// Builds each hit's summary from its stored fields, when wanted.
    pub summarize: Option<Summarize<'a>>,
    /// Documents holding this term are left out (of the hits, the total
    /// and the facets): a default exclusion, read once per segment
    /// ([`DocValues::holding`]).
    pub hidden: Option<Term>,
}

impl<'a> Exec<'a> {
    /// A page of `query` (with the built text query, if any), without
    /// snippets or summaries.
    pub(crate) fn page(
        query: Box<dyn Query>,
        built: Option<&'a Built>,
        near: Option<(Point, f64)>,
        sort: SortBy,
        offset: usize,
        limit: usize,
    ) -> Exec<'a> {
        Exec {
            query,
            scoring: built.is_some(),
            highlight: built.map(|b| &b.highlight),
            near,
            sort,
            offset,
            limit,
            snippet_field: None,
            summarize: None,
            hidden: None,
        }
    }
}

impl Engine {
    fn closed(&self) -> SearchError {
        SearchError::Tantivy(format!("the {} search index is shut down", self.name))
    }

    /// Runs `f` with the writer, then marks the index dirty so that the
    /// committer picks the change up.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut IndexWriter) -> tantivy::Result<T>,
    ) -> Result<T, SearchError> {
        let out = {
            let mut guard = lock(&self.writer);
            let writer = guard.as_mut().ok_or_else(|| self.closed())?;
            f(writer)?
        };
        self.mark_dirty();
        Ok(out)
    }

    fn mark_dirty(&self) {
        let mut state = lock(&self.state);
        if !state.dirty {
            state.dirty = true;
            self.wake.notify_all();
        }
    }

    /// Commits with the journal position of what the writer holds as the
    /// commit's payload (call with the writer lock held); returns that
    /// position, which the caller publishes ([`Engine::published`]) once
    /// the reader is reloaded.
    fn commit_with_payload(&self, writer: &mut IndexWriter) -> tantivy::Result<i64> {
        let seq = self.pending_seq.load(std::sync::atomic::Ordering::SeqCst);
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&seq.to_string());
        prepared.commit()?;
        Ok(seq)
    }

    /// Publishes `seq` as committed once the reader has been reloaded
    /// after its commit: a position said committed is one searches see
    /// (an index check that finds the index caught up then finds every
    /// document). Never moves backwards.
    fn published(&self, seq: i64) {
        self.committed_seq
            .fetch_max(seq, std::sync::atomic::Ordering::SeqCst);
    }

    /// The journal position the index has applied (given to the writer,
    /// maybe not committed yet).
    pub(crate) fn applied_seq(&self) -> i64 {
        self.pending_seq.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The journal position the last commit recorded.
    pub(crate) fn committed_seq(&self) -> i64 {
        self.committed_seq.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Records that every journal entry up to `seq` has been given to the
    /// writer; the next commit carries it.
    pub(crate) fn mark_applied(&self, seq: i64) -> Result<(), SearchError> {
        // Under the writer lock, so that a commit never records a position
        // whose changes it does not hold.
        let guard = lock(&self.writer);
        if guard.is_none() {
            return Err(self.closed());
        }
        self.pending_seq
            .fetch_max(seq, std::sync::atomic::Ordering::SeqCst);
        drop(guard);
        self.mark_dirty();
        Ok(())
    }

    /// Every document id in the index (from the `id` fast field).
    pub(crate) fn all_ids(&self) -> Result<Vec<String>, SearchError> {
        let searcher = self.searcher();
        let mut out = Vec::with_capacity(usize::try_from(searcher.num_docs()).unwrap_or(0));
        let ids = self.segment_ids(&searcher)?;
        for (reader, ids) in searcher.segment_readers().iter().zip(&ids) {
            let Some(ids) = ids else {
                continue;
            };
            let alive = reader.alive_bitset();
            for doc in 0..reader.max_doc() {
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                if let Some(id) = ids.of(doc) {
                    out.push(id.to_string());
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn id_term(&self, id: &str) -> Term {
        Term::from_field_text(self.id_field, id)
    }

    /// `delete_term(id)` + `add_document`, atomically with respect to commits.
    pub(crate) fn upsert(&self, id: &str, doc: TantivyDocument) -> Result<(), SearchError> {
        let term = self.id_term(id);
        self.write(move |w| {
            w.delete_term(term);
            w.add_document(doc).map(|_| ())
        })
    }

    pub(crate) fn delete(&self, id: &str) -> Result<(), SearchError> {
        let term = self.id_term(id);
        self.write(move |w| {
            w.delete_term(term);
            Ok(())
        })
    }

    /// Commits now and reloads the reader (the committer would do it within
    /// its interval anyway).
    pub(crate) fn commit_and_reload(&self) -> Result<(), SearchError> {
        lock(&self.state).dirty = false;
        let result = {
            let mut guard = lock(&self.writer);
            match guard.as_mut() {
                Some(w) => self.commit_with_payload(w).map(Some),
                None => Ok(None),
            }
        };
        let seq = match result {
            Ok(seq) => seq,
            Err(e) => {
                lock(&self.state).dirty = true;
                return Err(e.into());
            }
        };
        lock(&self.state).next_commit_at = Instant::now() + self.interval;
        self.reader.reload()?;
        if let Some(seq) = seq {
            self.published(seq);
        }
        Ok(())
    }

    /// Erasure: commit, then rewrite every segment holding deleted
    /// documents so that their stored text leaves the disk, and remove the
    /// old segment files. Blocks for the merge (erasures are rare).
    pub(crate) fn purge_deleted(&self) -> Result<(), SearchError> {
        self.commit_and_reload()?;
        let with_deletes: Vec<_> = self
            .index
            .searchable_segment_metas()?
            .into_iter()
            .filter(|m| m.has_deletes())
            .map(|m| m.id())
            .collect();
        if with_deletes.is_empty() {
            return Ok(());
        }
        let merge = {
            let mut guard = lock(&self.writer);
            let w = guard.as_mut().ok_or_else(|| self.closed())?;
            w.merge(&with_deletes)
        };
        merge.wait()?;
        {
            let mut guard = lock(&self.writer);
            if let Some(w) = guard.as_mut() {
                w.garbage_collect_files().wait()?;
            }
        }
        self.reader.reload()?;
        Ok(())
    }

    /// Replaces the whole content of the index by `docs` and commits.
    /// Holds the writer for the whole duration (concurrent writes wait);
    /// searches keep seeing the previous content until the final commit.
    pub(crate) fn rebuild<I>(
        &self,
        docs: I,
        progress: &dyn Fn(u64),
        seq: i64,
    ) -> Result<u64, SearchError>
    where
        I: Iterator<Item = TantivyDocument>,
    {
        const PROGRESS_EVERY: u64 = 1000;
        let count = {
            let mut guard = lock(&self.writer);
            let writer = guard.as_mut().ok_or_else(|| self.closed())?;
            lock(&self.state).dirty = false;
            let outcome = (|| -> tantivy::Result<u64> {
                writer.delete_all_documents()?;
                let mut n = 0u64;
                let mut since_progress = 0u64;
                for doc in docs {
                    writer.add_document(doc)?;
                    n += 1;
                    since_progress += 1;
                    if since_progress == PROGRESS_EVERY {
                        since_progress = 0;
                        progress(n);
                    }
                }
                self.pending_seq
                    .store(seq, std::sync::atomic::Ordering::SeqCst);
                self.commit_with_payload(writer)?;
                Ok(n)
            })();
            match outcome {
                Ok(n) => n,
                Err(e) => {
                    self.pending_seq.store(
                        self.committed_seq.load(std::sync::atomic::Ordering::SeqCst),
                        std::sync::atomic::Ordering::SeqCst,
                    );
                    if let Err(rollback) = writer.rollback() {
                        tracing::error!(index = self.name, error = %rollback, "search rollback failed");
                    }
                    return Err(e.into());
                }
            }
        };
        progress(count);
        lock(&self.state).next_commit_at = Instant::now() + self.interval;
        self.reader.reload()?;
        self.published(seq);
        match fs::remove_file(self.dir.join(PENDING_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(index = self.name, docs = count, "search index rebuilt");
        Ok(count)
    }

    pub(crate) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    pub(crate) fn num_docs(&self) -> u64 {
        self.searcher().num_docs()
    }

    pub(crate) fn contains(&self, id: &str) -> Result<bool, SearchError> {
        let query = TermQuery::new(self.id_term(id), IndexRecordOption::Basic);
        Ok(self.searcher().search(&query, &Count)? > 0)
    }

    /// Per segment of `searcher`, its ids ([`super::id_table`]): ids read
    /// without the document store nor the id column's compressed
    /// dictionary.
    pub(crate) fn segment_ids(
        &self,
        searcher: &Searcher,
    ) -> Result<Vec<Option<SegmentIds>>, SearchError> {
        Ok(self.ids.for_searcher(searcher, F_ID)?)
    }

    fn read_id(ids: &[Option<SegmentIds>], addr: tantivy::DocAddress) -> Option<String> {
        ids.get(addr.segment_ord as usize)?
            .as_ref()?
            .of(addr.doc_id)
            .map(str::to_string)
    }

    fn stored_str(doc: &TantivyDocument, field: Field) -> String {
        doc.get_all(field)
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs a search: exact total and facets after the distance filter,
    /// the requested page, snippets and summaries from the stored fields
    /// (one document-store read per hit on the page, only when asked).
    pub(crate) fn execute(
        &self,
        searcher: &Searcher,
        exec: Exec<'_>,
    ) -> Result<SearchResults, SearchError> {
        let mut values = self.values.for_searcher(searcher, exec.near.is_some())?;
        if let Some(term) = &exec.hidden {
            values.hidden = self.values.holding(searcher, term)?;
        }
        let collector = RankCollector {
            near: exec.near,
            by_distance: exec.sort == SortBy::Distance && exec.near.is_some(),
            keep: exec.offset.saturating_add(exec.limit),
            scoring: exec.scoring,
            values,
        };
        let fruit = search_split(
            searcher,
            &*exec.query,
            &collector,
            (self.pass_threads, self.split_min_docs),
            self.helpers.as_ref(),
        )?;
        let highlighter = exec
            .highlight
            .filter(|t| !t.is_empty())
            .map(Highlighter::new);
        let read_doc = exec.snippet_field.is_some() || exec.summarize.is_some();
        let mut hits = Vec::with_capacity(exec.limit.min(fruit.top.len()));
        // Ids from the stored document when it is read anyway; from the
        // fast column otherwise.
        let ids = if read_doc {
            Vec::new()
        } else {
            self.segment_ids(searcher)?
        };
        for ranked in fruit.top.iter().skip(exec.offset).take(exec.limit) {
            let Ranked {
                addr,
                score,
                distance_km,
            } = *ranked;
            let doc: Option<TantivyDocument> = if read_doc {
                Some(searcher.doc(addr)?)
            } else {
                None
            };
            let id = match (&doc, Self::read_id(&ids, addr)) {
                (Some(d), _) => Self::stored_str(d, self.id_field),
                (None, Some(id)) => id,
                (None, None) => {
                    let d: TantivyDocument = searcher.doc(addr)?;
                    Self::stored_str(&d, self.id_field)
                }
            };
            let snippet = exec.snippet_field.zip(doc.as_ref()).map(|(field, doc)| {
                let text = Self::stored_str(doc, field);
                highlighter
                    .as_ref()
                    .and_then(|h| h.snippet(&text))
                    .unwrap_or_else(|| leading(&text))
            });
            let summary = exec.summarize.zip(doc.as_ref()).map(|(f, doc)| f(doc));
            hits.push(Hit {
                id,
                score: if exec.scoring { score } else { 0.0 },
                distance_km,
                snippet,
                summary,
            });
        }
        Ok(SearchResults {
            total: fruit.total,
            hits,
            facets: fruit.facets,
            relaxed: false,
        })
    }

    /// BM25 scores of the documents against the analysed terms of a free
    /// text, as an OR query over `fields` (with boosts), optionally
    /// restricted to `ids`. No query parser: any character is fine.
    pub(crate) fn text_scores(
        &self,
        fields: &[(Field, f32)],
        text: &str,
        ids: Option<&[String]>,
        limit: usize,
    ) -> Result<HashMap<String, f32>, SearchError> {
        let terms = free_text_terms(text);
        if terms.is_empty() || limit == 0 || ids.is_some_and(|ids| ids.is_empty()) {
            return Ok(HashMap::new());
        }
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for &(field, boost) in fields {
            for term in &terms {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                ));
                let q = if (boost - 1.0).abs() > f32::EPSILON {
                    Box::new(BoostQuery::new(q, boost))
                } else {
                    q
                };
                should.push((Occur::Should, q));
            }
        }
        let text_query: Box<dyn Query> = Box::new(BooleanQuery::new(should));
        let query: Box<dyn Query> = match ids {
            Some(ids) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_query),
                (Occur::Must, self.ids_filter(ids)),
            ])),
            None => text_query,
        };
        let searcher = self.searcher();
        let top = searcher.search(&*query, &TopDocs::with_limit(limit))?;
        let mut out = HashMap::with_capacity(top.len());
        let ids = self.segment_ids(&searcher)?;
        for (score, addr) in top {
            let id = match Self::read_id(&ids, addr) {
                Some(id) => id,
                None => {
                    let doc: TantivyDocument = searcher.doc(addr)?;
                    Self::stored_str(&doc, self.id_field)
                }
            };
            out.insert(id, score);
        }
        Ok(out)
    }

    /// Documents whose id is one of `ids` (constant score 0).
    /// For each of `ids` present in the index, which of `terms` its
    /// `field` holds (one flag per term, in order). One pass over each
    /// term's postings, seeking only the documents asked for.
    pub(crate) fn terms_held(
        &self,
        field: Field,
        ids: &[String],
        terms: &[String],
    ) -> Result<HashMap<String, Vec<bool>>, SearchError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let searcher = self.searcher();
        let docs = searcher.search(&*self.ids_filter(ids), &tantivy::collector::DocSetCollector)?;
        let columns = self.segment_ids(&searcher)?;
        let found: Vec<(tantivy::DocAddress, String)> = docs
            .into_iter()
            .filter_map(|d| Some((d, Self::read_id(&columns, d)?)))
            .collect();
        terms_held_at(&searcher, field, &found, terms)
    }

    pub(crate) fn ids_filter(&self, ids: &[String]) -> Box<dyn Query> {
        filter(Box::new(super::term_bits::TermBitsQuery::new(
            self.id_field,
            ids.iter().map(|id| self.id_term(id)),
        )))
    }

    /// The bounding-box pre-filter of a `near` search (the exact distance is
    /// checked by the collector).
    pub(crate) fn bbox_filter(center: Point, radius_km: f64) -> Vec<Box<dyn Query>> {
        let bbox = bounding_box(center, radius_km);
        vec![
            filter(Box::new(RangeQuery::new_i64_bounds(
                F_LAT.to_string(),
                std::ops::Bound::Included(bbox.min_lat),
                std::ops::Bound::Included(bbox.max_lat),
            ))),
            filter(Box::new(RangeQuery::new_i64_bounds(
                F_LON.to_string(),
                std::ops::Bound::Included(bbox.min_lon),
                std::ops::Bound::Included(bbox.max_lon),
            ))),
        ]
    }
}

/// The query for a search text (`None` when there is nothing searchable
/// in it: blank, operators only, stop words only). A purely negative text
/// (`-cuisinier`) means "everything except". Fails only past the query
/// language's limits (words, nesting).
pub(crate) fn text_query(
    searcher: &Searcher,
    fields: &SearchFields,
    text: Option<&str>,
) -> Result<Option<Built>, SearchError> {
    text_query_with(searcher, fields, text, Strictness::Most, None)
}

/// [`text_query`], its groups of words needing all, most or one of their
/// words ([`Strictness`]), its word variants looking only at the documents
/// of `within` when the search keeps only those ([`Builder::within`]).
pub(crate) fn text_query_with(
    searcher: &Searcher,
    fields: &SearchFields,
    text: Option<&str>,
    strictness: Strictness,
    within: Option<Arc<SegmentBits>>,
) -> Result<Option<Built>, SearchError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let parsed = query_lang::parse(text)?;
    Builder::new(fields, searcher)
        .strictness(strictness)
        .within(within)
        .build(&parsed)
}

/// Wraps a filter so that it does not contribute to the score.
pub(crate) fn filter(query: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, 0.0))
}

/// `text AND filters...`; `AllQuery` when there is nothing. (Documents
/// left out by default are skipped by the collector: [`Exec::hidden`].)
pub(crate) fn conjunction(
    text: Option<Box<dyn Query>>,
    filters: Vec<Box<dyn Query>>,
) -> Box<dyn Query> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(filters.len() + 1);
    if let Some(text) = text {
        clauses.push((Occur::Must, text));
    }
    clauses.extend(filters.into_iter().map(|f| (Occur::Must, f)));
    match clauses.len() {
        0 => Box::new(AllQuery),
        1 => clauses
            .pop()
            .map(|(_, q)| q)
            .unwrap_or_else(|| Box::new(AllQuery)),
        _ => Box::new(BooleanQuery::new(clauses)),
    }
}

/// Exact-match filter on a raw (`STRING`) field.
pub(crate) fn term_filter(field: Field, value: &str) -> Box<dyn Query> {
    filter(Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    )))
}

/// Any-of filter on a raw (`STRING`) field.
pub(crate) fn any_of_filter(field: Field, values: &[String]) -> Box<dyn Query> {
    filter(Box::new(super::term_bits::TermBitsQuery::new(
        field,
        values.iter().map(|v| Term::from_field_text(field, v)),
    )))
}

/// Indexes a point: the packed exact point, and the bounding-box fields
/// when the schema has them (offers). Invalid points are skipped (the
/// document then has no location for this point).
pub(crate) fn add_point(doc: &mut TantivyDocument, schema: &Schema, p: Point) -> bool {
    let Ok(pt) = schema.get_field(F_PT) else {
        return false;
    };
    let Some(packed) = pack_point(p) else {
        tracing::warn!(?p, "invalid point not indexed");
        return false;
    };
    if let (Ok(lat), Ok(lon)) = (schema.get_field(F_LAT), schema.get_field(F_LON)) {
        doc.add_i64(lat, p.lat_micro);
        doc.add_i64(lon, p.lon_micro);
    }
    doc.add_u64(pt, packed);
    true
}

/// Distinct analysed terms of a free text (stop words removed, one-letter
/// terms dropped), most frequent first, at most [`MAX_FREE_TEXT_TERMS`].
pub(crate) fn free_text_terms(text: &str) -> Vec<String> {
    let mut freq: HashMap<String, (usize, usize)> = HashMap::new();
    for (pos, a) in analysed(text).into_iter().enumerate() {
        if a.term.chars().count() < 2 {
            continue;
        }
        freq.entry(a.term).or_insert((0, pos)).0 += 1;
    }
    let mut terms: Vec<(String, (usize, usize))> = freq.into_iter().collect();
    terms.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    terms.truncate(MAX_FREE_TEXT_TERMS);
    terms.into_iter().map(|(t, _)| t).collect()
}

/// For each document of `docs` (an address in `searcher` and the row's
/// id), which of `terms` (analysed terms) occur in `field`: the postings
/// of each term sought in document order, per segment.
pub(crate) fn terms_held_at(
    searcher: &Searcher,
    field: Field,
    docs: &[(tantivy::DocAddress, String)],
    terms: &[String],
) -> Result<HashMap<String, Vec<bool>>, SearchError> {
    let mut out = HashMap::with_capacity(docs.len());
    let mut by_segment: Vec<Vec<(u32, &str)>> = vec![Vec::new(); searcher.segment_readers().len()];
    for (d, id) in docs {
        if let Some(v) = by_segment.get_mut(d.segment_ord as usize) {
            v.push((d.doc_id, id.as_str()));
        }
    }
    for (ord, docs) in by_segment.iter_mut().enumerate() {
        if docs.is_empty() {
            continue;
        }
        docs.sort_unstable();
        docs.dedup_by_key(|d| d.0);
        let mut flags = vec![vec![false; terms.len()]; docs.len()];
        let inverted = searcher.segment_readers()[ord].inverted_index(field)?;
        for (t, term) in terms.iter().enumerate() {
            let term = Term::from_field_text(field, term);
            let Some(mut postings) = inverted.read_postings(&term, IndexRecordOption::Basic)?
            else {
                continue;
            };
            for (i, &(doc, _)) in docs.iter().enumerate() {
                if postings.doc() > doc {
                    continue;
                }
                if postings.seek(doc) == doc {
                    flags[i][t] = true;
                }
            }
        }
        for ((_, id), f) in docs.iter().zip(flags) {
            out.insert((*id).to_string(), f);
        }
    }
    Ok(out)
}
