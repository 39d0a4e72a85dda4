//! One collector doing the whole job of a search page in a single pass:
//! exact distance filter (haversine on the packed `pt` fast field of the
//! bounding-box survivors), exact total, ROME facet counts over the whole
//! filtered set, and the best `offset + limit` documents by relevance or by
//! distance.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{EnableScoring, Query, Scorer};
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader};

use super::background::on_threads;
use super::engine::{F_PT, F_ROME, F_UPDATED_AT};
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

pub(crate) struct RankCollector {
    pub near: Option<(Point, f64)>,
    pub by_distance: bool,
    /// `offset + limit`.
    pub keep: usize,
    pub scoring: bool,
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
    pt: Option<Column<u64>>,
    updated_at: Option<Column<i64>>,
    rome: Option<StrColumn>,
    rome_counts: Vec<u64>,
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
        let pt = if self.near.is_some() {
            fast.column_opt::<u64>(F_PT)?
        } else {
            None
        };
        let rome = fast.str(F_ROME)?;
        let rome_counts = vec![0; rome.as_ref().map_or(0, |c| c.num_terms())];
        Ok(RankSegmentCollector {
            seg: segment_local_id,
            near: self.near.map(|(centre, r)| Area::around(centre, r)),
            by_distance: self.by_distance,
            keep: self.keep,
            pt,
            updated_at: fast.column_opt::<i64>(F_UPDATED_AT)?,
            rome,
            rome_counts,
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
        let mut distance_km = None;
        if let Some(area) = &self.near {
            let Some(pt) = &self.pt else {
                return;
            };
            // The nearest of the document's points within the radius (no
            // distance computed for a point outside the area's box).
            let nearest = pt
                .values_for_doc(doc)
                .filter_map(|v| area.distance_to(unpack_point(v)))
                .reduce(f64::min);
            let Some(nearest) = nearest else {
                return;
            };
            distance_km = Some(nearest);
        }
        self.total += 1;
        if let Some(rome) = &self.rome {
            for ord in rome.term_ords(doc) {
                if let Some(count) = usize::try_from(ord)
                    .ok()
                    .and_then(|i| self.rome_counts.get_mut(i))
                {
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
            // One ordered walk of the dictionary up to the last counted
            // code: each compressed block is read once (`ord_to_str` per
            // code would decompress a block per call).
            let last = self.rome_counts.iter().rposition(|&n| n > 0);
            if let Some(last) = last {
                match rome.dictionary().stream() {
                    Ok(mut stream) => {
                        while stream.advance() {
                            let ord = stream.term_ord() as usize;
                            if ord > last {
                                break;
                            }
                            let n = self.rome_counts.get(ord).copied().unwrap_or(0);
                            if n > 0 {
                                if let Ok(code) = std::str::from_utf8(stream.key()) {
                                    facets.insert(code.to_string(), n);
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the ROME facet terms"),
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

/// One part of a split search: a segment's documents in `docs`, with the
/// scorer already made for it (the one that gave the segment's estimate)
/// or `None` (a range after the first: a scorer of its own is made).
struct Part<'a> {
    ord: SegmentOrdinal,
    reader: &'a SegmentReader,
    docs: std::ops::Range<DocId>,
    scorer: Option<Box<dyn Scorer>>,
    /// Matches expected in the part (its share of the scorer's size hint).
    expected: u64,
}

/// `searcher.search(query, collector)` on up to `threads` threads.
///
/// - A segment of at least `2 × min_docs` documents and more than a
///   thread's share of the index (a quarter more) is cut into ranges of
///   about a share (up to `threads`) when the query is expected to match
///   at least `min_docs / 4` documents of it per range (its scorer's size
///   hint: the smallest required posting list, the longest alternative);
///   each range after the first has a scorer of its own.
/// - The parts (whole segments and ranges) are then dealt to the threads,
///   the largest expected first to the least loaded, each thread collecting
///   its parts one after the other: an index of several segments uses the
///   cores without making a scorer more than one per segment.
/// - A query expected to match fewer than `min_docs / 4` documents in all
///   pays for no thread, nor does a search while the other searches in
///   flight on the index already hold the threads (`held`,
///   [`super::background::Cores`]).
///
/// The fruits are merged as those of separate segments:
/// [`RankCollector::merge_fruits`] adds the totals and facets and orders the
/// kept entries by key then address, so the answer is the one a single
/// thread finds.
pub(crate) fn search_split(
    searcher: &Searcher,
    query: &dyn Query,
    collector: &RankCollector,
    (threads, min_docs): (usize, u32),
    held: &std::sync::atomic::AtomicUsize,
) -> tantivy::Result<RankFruit> {
    let scoring = if collector.requires_scoring() {
        EnableScoring::enabled_from_searcher(searcher)
    } else {
        EnableScoring::disabled_from_searcher(searcher)
    };
    let weight = query.weight(scoring)?;
    let readers = searcher.segment_readers();
    let mut held = super::background::Cores::hold(held, threads);
    let threads = held.granted();
    let min_matches = (min_docs / 4).max(1);
    // Each thread's share of the documents: a segment larger than a share
    // and a quarter is cut into ranges of about a share (a scorer more per
    // range), the others are dealt whole. Eight segments of 125,000 on two
    // threads are dealt four and four; one of 807,000 beside two of 100,000
    // is cut in two; a lone segment of 100,000 in two.
    let total_docs: u64 = readers.iter().map(|r| u64::from(r.max_doc())).sum();
    let share = total_docs
        .div_ceil(u64::try_from(threads).unwrap_or(u64::MAX))
        .max(1);
    let mut parts: Vec<Part<'_>> = Vec::new();
    for (ord, reader) in readers.iter().enumerate() {
        let ord = SegmentOrdinal::try_from(ord).unwrap_or(SegmentOrdinal::MAX);
        let max_doc = reader.max_doc();
        let scorer = weight.scorer(reader, 1.0)?;
        let hint = scorer.size_hint();
        let n = if max_doc >= min_docs.saturating_mul(2) && u64::from(max_doc) > share + share / 4 {
            let by_share = u32::try_from(u64::from(max_doc).div_ceil(share)).unwrap_or(u32::MAX);
            u32::try_from(threads)
                .unwrap_or(u32::MAX)
                .min(by_share)
                .min(hint / min_matches)
                .max(1)
        } else {
            1
        };
        let per = max_doc.div_ceil(n);
        let mut first = Some(scorer);
        for k in 0..n {
            parts.push(Part {
                ord,
                reader,
                docs: (k * per).min(max_doc)..((k + 1) * per).min(max_doc),
                scorer: first.take(),
                expected: u64::from(hint / n),
            });
        }
    }
    let expected_total: u64 = parts.iter().map(|p| p.expected).sum();
    let scored = collector.requires_scoring();
    let collect = |part: Part<'_>| -> tantivy::Result<SegmentFruit> {
        let mut child = collector.for_segment(part.ord, part.reader)?;
        let mut scorer = match part.scorer {
            Some(s) => s,
            None => weight.scorer(part.reader, 1.0)?,
        };
        let alive = part.reader.alive_bitset();
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
    };
    if threads < 2 || parts.len() < 2 || expected_total < u64::from(min_matches) * 2 {
        // One thread: the others are left to the searches beside this one.
        held.keep(1);
        let mut fruits = Vec::with_capacity(parts.len());
        for part in parts {
            fruits.push(collect(part)?);
        }
        return collector.merge_fruits(fruits);
    }
    // Deal the parts: the largest expected first, each to the least loaded
    // thread; a thread collects its parts in turn.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(parts[i].expected));
    let workers = threads.min(parts.len());
    let mut load = vec![0u64; workers];
    let mut owner = vec![0usize; parts.len()];
    for i in order {
        let w = (0..workers).min_by_key(|&w| (load[w], w)).unwrap_or(0);
        load[w] += parts[i].expected.max(1);
        owner[i] = w;
    }
    let mut dealt: Vec<Vec<Part<'_>>> = (0..workers).map(|_| Vec::new()).collect();
    for (part, w) in parts.into_iter().zip(owner) {
        dealt[w].push(part);
    }
    let mut fruits = Vec::new();
    for done in on_threads(dealt, |mine: Vec<Part<'_>>| {
        mine.into_iter().map(collect).collect::<Vec<_>>()
    }) {
        for fruit in done {
            fruits.push(fruit?);
        }
    }
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
