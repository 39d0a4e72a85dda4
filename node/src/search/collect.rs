//! One collector doing the whole job of a search page in a single pass:
//! exact distance filter (haversine on the packed `pt` fast field of the
//! bounding-box survivors), exact total, ROME facet counts over the whole
//! filtered set, and the best `offset + limit` documents by relevance or by
//! distance. Documents left out by default (archived candidates) are
//! skipped here, by a bit per document.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{EnableScoring, Query, Scorer};
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader};
use tantivy_common::BitSet;

use super::doc_values::{Codes, Flat, SegmentValues};
use super::engine::F_UPDATED_AT;
use crate::geo::{Area, Point, MAX_LAT_MICRO, MAX_LON_MICRO};

/// Longitude offset bits in a packed point: `(lat + 90°) << 29 | (lon + 180°)`
/// in micro-degrees (360e6 < 2^29, 180e6 < 2^28).
const LON_BITS: u32 = 29;

/// Packs a valid point into a `u64` (latitude and longitude together, so that
/// multi-valued workplaces keep their pairs). `None` for an invalid point.
pub(crate) fn pack_point(p: Point) -> Option<u64> {
    if !p.is_valid() {
        return None;
    }
    let lat = u64::try_from(p.lat_micro + MAX_LAT_MICRO).ok()?;
    let lon = u64::try_from(p.lon_micro + MAX_LON_MICRO).ok()?;
    Some((lat << LON_BITS) | lon)
}

/// Inverse of [`pack_point`].
pub(crate) fn unpack_point(v: u64) -> Point {
    let lon = (v & ((1u64 << LON_BITS) - 1)) as i64 - MAX_LON_MICRO;
    let lat = (v >> LON_BITS) as i64 - MAX_LAT_MICRO;
    Point {
        lat_micro: lat,
        lon_micro: lon,
    }
}

/// A document of the result page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ranked {
    pub addr: DocAddress,
    pub score: Score,
    pub distance_km: Option<f64>,
}

/// The merged result of a collection.
pub(crate) struct RankFruit {
    pub total: usize,
    pub facets: BTreeMap<String, u64>,
    /// Best first, at most `keep`.
    pub top: Vec<Ranked>,
}

#[derive(Clone)]
pub(crate) struct RankCollector {
    pub near: Option<(Point, f64)>,
    pub by_distance: bool,
    /// `offset + limit`.
    pub keep: usize,
    pub scoring: bool,
    /// The searcher's segments' ROME codes (and points, for `near`),
    /// decoded once per segment ([`super::doc_values`]).
    pub values: SegmentValues,
}

/// Heap entry: smaller is better (`k0`, then `k1`, then doc address).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    k0: f64,
    k1: f64,
    seg: SegmentOrdinal,
    doc: DocId,
    score: Score,
    distance_km: Option<f64>,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.k0
            .total_cmp(&other.k0)
            .then(self.k1.total_cmp(&other.k1))
            .then(self.seg.cmp(&other.seg))
            .then(self.doc.cmp(&other.doc))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

pub(crate) struct SegmentFruit {
    total: usize,
    facets: BTreeMap<String, u64>,
    top: Vec<Entry>,
}

pub(crate) struct RankSegmentCollector {
    seg: SegmentOrdinal,
    /// The area of a `near` search.
    near: Option<Area>,
    by_distance: bool,
    keep: usize,
    pt: Option<Arc<Flat<u64>>>,
    updated_at: Option<Column<i64>>,
    rome: Option<Arc<Codes>>,
    rome_counts: Vec<u64>,
    /// Documents left out of the search (archived candidates).
    hidden: Option<Arc<BitSet>>,
    total: usize,
    /// Max-heap: the worst kept entry on top.
    heap: BinaryHeap<Entry>,
}

impl Collector for RankCollector {
    type Fruit = RankFruit;
    type Child = RankSegmentCollector;

    fn for_segment(
        &self,
        segment_local_id: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<RankSegmentCollector> {
        let fast = segment.fast_fields();
        let at = segment_local_id as usize;
        let pt = if self.near.is_some() {
            self.values.points.get(at).cloned().flatten()
        } else {
            None
        };
        let rome = self.values.codes.get(at).cloned().flatten();
        let rome_counts = vec![0; rome.as_ref().map_or(0, |c| c.names.len())];
        let hidden = self.values.hidden.get(at).cloned().flatten();
        Ok(RankSegmentCollector {
            seg: segment_local_id,
            near: self.near.map(|(centre, r)| Area::around(centre, r)),
            by_distance: self.by_distance,
            keep: self.keep,
            pt,
            updated_at: fast.column_opt::<i64>(F_UPDATED_AT)?,
            rome,
            rome_counts,
            hidden,
            total: 0,
            heap: BinaryHeap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scoring
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<RankFruit> {
        let mut total = 0;
        let mut facets: BTreeMap<String, u64> = BTreeMap::new();
        let mut top: Vec<Entry> = Vec::new();
        for fruit in fruits {
            total += fruit.total;
            for (code, n) in fruit.facets {
                *facets.entry(code).or_insert(0) += n;
            }
            top.extend(fruit.top);
        }
        top.sort_unstable();
        top.truncate(self.keep);
        Ok(RankFruit {
            total,
            facets,
            top: top
                .into_iter()
                .map(|e| Ranked {
                    addr: DocAddress::new(e.seg, e.doc),
                    score: e.score,
                    distance_km: e.distance_km,
                })
                .collect(),
        })
    }
}

impl SegmentCollector for RankSegmentCollector {
    type Fruit = SegmentFruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.hidden.as_ref().is_some_and(|h| h.contains(doc)) {
            return;
        }
        let mut distance_km = None;
        if let Some(area) = &self.near {
            let Some(pt) = &self.pt else {
                return;
            };
            // The nearest of the document's points within the radius (no
            // distance computed for a point outside the area's box).
            let nearest = pt
                .of(doc)
                .iter()
                .filter_map(|&v| area.distance_to(unpack_point(v)))
                .reduce(f64::min);
            let Some(nearest) = nearest else {
                return;
            };
            distance_km = Some(nearest);
        }
        self.total += 1;
        if let Some(rome) = &self.rome {
            for &ord in rome.ords.of(doc) {
                if let Some(count) = self.rome_counts.get_mut(ord as usize) {
                    *count += 1;
                }
            }
        }
        if self.keep == 0 {
            return;
        }
        let (k0, k1) = match (self.by_distance, distance_km) {
            (true, Some(d)) => (d, -f64::from(score)),
            _ => {
                let k0 = -f64::from(score);
                // A full heap whose worst entry scores better cannot take
                // this document: its update time (the tie-break) is not
                // read. Most documents of a common query end here.
                if self.heap.len() >= self.keep
                    && self
                        .heap
                        .peek()
                        .is_some_and(|worst| k0.total_cmp(&worst.k0) == Ordering::Greater)
                {
                    return;
                }
                let updated = self
                    .updated_at
                    .as_ref()
                    .and_then(|c| c.first(doc))
                    .unwrap_or(0);
                (k0, -(updated as f64))
            }
        };
        let entry = Entry {
            k0,
            k1,
            seg: self.seg,
            doc,
            score,
            distance_km,
        };
        if self.heap.len() < self.keep {
            self.heap.push(entry);
        } else if self.heap.peek().is_some_and(|worst| entry < *worst) {
            self.heap.pop();
            self.heap.push(entry);
        }
    }

    fn harvest(self) -> SegmentFruit {
        let mut facets = BTreeMap::new();
        if let Some(rome) = &self.rome {
            for (code, &n) in rome.names.iter().zip(&self.rome_counts) {
                if n > 0 {
                    facets.insert(code.clone(), n);
                }
            }
        }
        SegmentFruit {
            total: self.total,
            facets,
            top: self.heap.into_vec(),
        }
    }
}

/// Documents per thread below which a segment is searched by one thread
/// (a thread and a scorer cost tens of microseconds; a matching document,
/// tens of nanoseconds).
pub(crate) const SPLIT_MIN_DOCS: u32 = 16_384;

/// Parts per thread a long search is cut into: small enough that a core
/// freed by another search mid-way takes a share of what is left, few
/// enough that the extra scorers (one per range) stay cheap.
const PARTS_PER_THREAD: u64 = 3;

/// One part of a split search: a segment's documents in `docs`, with the
/// scorer already made for it (the one that gave the segment's estimate)
/// or `None` (a range after the first: a scorer of its own is made).
struct Part {
    ord: SegmentOrdinal,
    docs: std::ops::Range<DocId>,
    scorer: Option<Box<dyn Scorer>>,
    /// Matches expected in the part (its share of the scorer's size hint).
    expected: u64,
}

/// Threads that join long searches while they run: see [`search_split`].
pub(crate) struct Helpers {
    pool: rayon_core::ThreadPool,
}

impl Helpers {
    /// `threads` helper threads named `vivier-{name}-search-N`; `None` for
    /// none (one core: a search runs on its caller's thread alone).
    pub(crate) fn new(name: &str, threads: usize) -> Option<Helpers> {
        if threads == 0 {
            return None;
        }
        let name = name.to_string();
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("vivier-{name}-search-{i}"))
            // A part that panics is answered as an error by its search
            // (see `Finish`); the thread goes on.
            .panic_handler(|_| tracing::error!("a search helper thread panicked"))
            .build();
        match pool {
            Ok(pool) => Some(Helpers { pool }),
            Err(e) => {
                tracing::warn!(error = %e, "no search helper threads: searches run on one thread");
                None
            }
        }
    }

    fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }
}

/// A split search's parts, shared by its caller and the helpers.
struct Shared {
    searcher: Searcher,
    weight: Box<dyn tantivy::query::Weight>,
    collector: RankCollector,
    progress: std::sync::Mutex<Progress>,
    settled: std::sync::Condvar,
}

#[derive(Default)]
struct Progress {
    /// Smallest expected first: the largest is popped first.
    todo: Vec<Part>,
    /// Parts taken and not finished.
    running: usize,
    fruits: Vec<SegmentFruit>,
    error: Option<tantivy::TantivyError>,
}

/// Records a taken part's outcome when dropped, a panic included, so that
/// the caller never waits for a part that will not finish.
struct Finish<'a> {
    shared: &'a Shared,
    out: Option<tantivy::Result<SegmentFruit>>,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let mut p = self.shared.progress();
        p.running = p.running.saturating_sub(1);
        match self.out.take() {
            Some(Ok(fruit)) => p.fruits.push(fruit),
            Some(Err(e)) => {
                p.error.get_or_insert(e);
            }
            None => {
                p.error.get_or_insert(tantivy::TantivyError::InternalError(
                    "a search thread panicked".into(),
                ));
            }
        }
        drop(p);
        self.shared.settled.notify_all();
    }
}

impl Shared {
    /// The progress, also after a panic on another thread (`Finish` keeps
    /// it consistent: a panicking part is recorded as an error).
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Collect the parts left, the largest first, until none is left or
    /// one has failed.
    fn work(&self) {
        loop {
            let part = {
                let mut p = self.progress();
                if p.error.is_some() {
                    return;
                }
                let Some(part) = p.todo.pop() else {
                    return;
                };
                p.running += 1;
                part
            };
            let mut finish = Finish {
                shared: self,
                out: None,
            };
            finish.out = Some(collect_part(
                &self.searcher,
                &*self.weight,
                &self.collector,
                part,
            ));
        }
    }
}

/// One part's documents through a segment collector.
fn collect_part(
    searcher: &Searcher,
    weight: &dyn tantivy::query::Weight,
    collector: &RankCollector,
    part: Part,
) -> tantivy::Result<SegmentFruit> {
    let reader = searcher.segment_reader(part.ord);
    let mut child = collector.for_segment(part.ord, reader)?;
    let mut scorer = match part.scorer {
        Some(s) => s,
        None => weight.scorer(reader, 1.0)?,
    };
    let scored = collector.requires_scoring();
    let alive = reader.alive_bitset();
    let mut doc = scorer.doc();
    if doc < part.docs.start {
        doc = scorer.seek(part.docs.start);
    }
    while doc < part.docs.end {
        if alive.is_none_or(|a| a.is_alive(doc)) {
            child.collect(doc, if scored { scorer.score() } else { 0.0 });
        }
        doc = scorer.advance();
    }
    Ok(child.harvest())
}

/// `searcher.search(query, collector)`, a long search shared with the
/// `helpers` threads.
///
/// - A query expected to match fewer than `min_docs / 2` documents in all
///   (its scorers' size hints: the smallest required posting list, the
///   longest alternative) is collected on the caller's thread, segment
///   after segment: a thread hand-off would cost more than it saves.
/// - A longer one is cut into about `PARTS_PER_THREAD` parts per thread
///   (`threads`, the configured `pass_threads`): a segment of at least
///   `2 × min_docs` documents and more than a part's share of the index
///   is cut into ranges of about a share, as long as each range is
///   expected to match at least `min_docs / 4` documents (each range after
///   the first has a scorer of its own); smaller segments are parts whole.
///   The caller's thread collects the parts, the largest first, and the
///   helpers, woken for it, take parts from the same list. A helper busy
///   with another search joins this one when it is done with its part: a
///   core freed while a long search runs takes a share of what is left of
///   it, so a long search beside short ones finishes almost as fast as
///   alone, and two long ones share the cores. The caller waits only for
///   parts already taken, never for a helper that has not started.
///
/// The fruits are merged as those of separate segments:
/// [`RankCollector::merge_fruits`] adds the totals and facets and orders the
/// kept entries by key then address, so the answer is the one a single
/// thread finds, whoever collected which part.
pub(crate) fn search_split(
    searcher: &Searcher,
    query: &dyn Query,
    collector: &RankCollector,
    (threads, min_docs): (usize, u32),
    helpers: Option<&Helpers>,
) -> tantivy::Result<RankFruit> {
    let scoring = if collector.requires_scoring() {
        EnableScoring::enabled_from_searcher(searcher)
    } else {
        EnableScoring::disabled_from_searcher(searcher)
    };
    let weight = query.weight(scoring)?;
    let readers = searcher.segment_readers();
    let min_matches = (min_docs / 4).max(1);
    let mut first: Vec<(SegmentOrdinal, Box<dyn Scorer>, u32)> = Vec::with_capacity(readers.len());
    for (ord, reader) in readers.iter().enumerate() {
        let ord = SegmentOrdinal::try_from(ord).unwrap_or(SegmentOrdinal::MAX);
        let scorer = weight.scorer(reader, 1.0)?;
        let hint = scorer.size_hint();
        first.push((ord, scorer, hint));
    }
    let expected_total: u64 = first.iter().map(|f| u64::from(f.2)).sum();
    let helpers = helpers.filter(|_| threads >= 2 && expected_total >= u64::from(min_matches) * 2);
    let Some(helpers) = helpers else {
        let mut fruits = Vec::with_capacity(first.len());
        for (ord, scorer, hint) in first {
            let part = Part {
                ord,
                docs: 0..searcher.segment_reader(ord).max_doc(),
                scorer: Some(scorer),
                expected: u64::from(hint),
            };
            fruits.push(collect_part(searcher, &*weight, collector, part)?);
        }
        return collector.merge_fruits(fruits);
    };
    let threads = threads.min(helpers.threads() + 1);
    let total_docs: u64 = readers.iter().map(|r| u64::from(r.max_doc())).sum();
    let wanted = u64::try_from(threads)
        .unwrap_or(u64::MAX)
        .saturating_mul(PARTS_PER_THREAD);
    let share = total_docs.div_ceil(wanted).max(1);
    let mut parts: Vec<Part> = Vec::new();
    for (ord, scorer, hint) in first {
        let max_doc = searcher.segment_reader(ord).max_doc();
        let n = if max_doc >= min_docs.saturating_mul(2) && u64::from(max_doc) > share + share / 4 {
            let by_share = u32::try_from(u64::from(max_doc).div_ceil(share)).unwrap_or(u32::MAX);
            by_share.min(hint / min_matches).max(1)
        } else {
            1
        };
        let per = max_doc.div_ceil(n);
        let mut scorer = Some(scorer);
        for k in 0..n {
            parts.push(Part {
                ord,
                docs: (k * per).min(max_doc)..((k + 1) * per).min(max_doc),
                scorer: scorer.take(),
                expected: u64::from(hint / n),
            });
        }
    }
    if parts.len() < 2 {
        let fruits = parts
            .into_iter()
            .map(|part| collect_part(searcher, &*weight, collector, part))
            .collect::<tantivy::Result<Vec<_>>>()?;
        return collector.merge_fruits(fruits);
    }
    parts.sort_by_key(|p| p.expected);
    let helping = (threads - 1).min(parts.len() - 1);
    let shared = std::sync::Arc::new(Shared {
        searcher: searcher.clone(),
        weight,
        collector: collector.clone(),
        progress: std::sync::Mutex::new(Progress {
            todo: parts,
            ..Progress::default()
        }),
        settled: std::sync::Condvar::new(),
    });
    for _ in 0..helping {
        let shared = std::sync::Arc::clone(&shared);
        helpers.pool.spawn(move || shared.work());
    }
    shared.work();
    let mut p = shared
        .settled
        .wait_while(shared.progress(), |p| p.running > 0)
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = p.error.take() {
        return Err(e);
    }
    let fruits = std::mem::take(&mut p.fruits);
    drop(p);
    collector.merge_fruits(fruits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip() {
        for p in [
            Point::new(47_580_000, 1_330_000),
            Point::new(-90_000_000, -180_000_000),
            Point::new(90_000_000, 180_000_000),
            Point::new(-21_115_000, 55_536_000),
            Point::new(48_390_000, -4_490_000),
        ] {
            let packed = pack_point(p).expect("valid point");
            assert_eq!(unpack_point(packed), p);
        }
        assert_eq!(pack_point(Point::new(91_000_000, 0)), None);
    }
}
