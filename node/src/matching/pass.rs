//! One index pass per ranking: every part of the score and every
//! eligibility rule computed from the indexes' fast fields
//! ([`crate::search::match_fields`]) inside a tantivy collector, with a
//! bounded heap per workplace. The database is read afterwards for the
//! top rows only, which are then evaluated in full (explanations) by
//! [`super::evaluate`] — with the same functions ([`super::total_score`],
//! [`super::rank_key_of`], [`super::text::term_weight`]…), so the order
//! found here is the order shown.
//!
//! - **Offer → candidates** ([`candidates_for_offer`]): the collector runs
//!   over the active candidates. When every workplace has a centre, only
//!   the candidates of the home-grid cells meeting the workplaces' boxes
//!   are touched ([`crate::search::HomeGrid`], per segment): the others
//!   live beyond every radius. Per segment it first walks the postings of
//!   the offer's matching terms (`match_text`) into dense arrays of text sums
//!   (fixed point) and matched-term counts, and the postings of the ROME
//!   codes related to the offer's into a dense array of relations (pooled
//!   arrays; only the documents the postings touched are visited and
//!   reset, [`Dense`]); the str columns it needs become tables per term
//!   ordinal (licence satisfied, certifications granted, contract
//!   accepted). A document below the relevance floor is never visited.
//!   The workplaces within whose radius a home lies, and its distances to
//!   them, are computed once per commune ([`Places`]: homes are commune
//!   centres), so one outside every radius costs one column read and a
//!   table look-up; one beyond its own travel limit at every workplace
//!   (most of the 150 km pre-selection) three reads, and is only counted.
//!   The others are scored at each workplace where they are considered
//!   (one pass for a 57-workplace offer) and offered to that workplace's
//!   heap (key, then candidate id).
//!   A segment with many documents to visit is cut by document range
//!   across threads (`[search] pass_threads`, [`run_pass`]): each range is
//!   selected and scored by a sibling collector sharing the segment's
//!   tables, into its own heaps, and the heaps are merged as those of
//!   separate segments — the same rows and counts as one thread.
//! - **Candidate → offers** ([`offers_for_candidate`]): the same over the
//!   open offers, the text side from the candidate's terms found in the
//!   offers' matching-term fields (one field per factor) and the ROME codes
//!   related to the candidate's; each offer is scored at each of its
//!   workplaces and kept at its best one.
//!
//! Who is considered is what the earlier pre-selection meant, without its
//! caps: for a workplace with a known centre, candidates whose home is
//! within [`super::PRESELECT_RADIUS_KM`] (or the default travel limit if
//! larger); for a candidate with a known home, offers with a workplace
//! within their travel limit (or that radius, for near misses).

use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::fastfield::AliveBitSet;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader, Term};

use super::text::{term_weight, text_value};
use super::{
    availability_value, desired_value, distance_value, hours_value, rank_key_of, reference_day,
    rome_value, total_score, travel_limit_of, PartValues, VEHICLE_NEEDED_KM,
};
use crate::config::MatchingWeights;
use crate::geo::{haversine_prepared, Area, Point, Prepared};
use crate::referentials::{Certifications, Referentials, RomeRelation};
use crate::search::background::on_threads;
use crate::search::id_table::SegmentIds;
use crate::search::match_fields::{
    FAR_TRAVEL_KM, F_AVAILABLE, F_CERT, F_CONTRACT, F_DESIRED_CERT, F_HOURS, F_LOCAL,
    F_OFFER_LICENCE, F_PUBLISHED, F_START, F_STATUS, F_VEHICLE, F_WP_COMMUNE, F_WP_PT,
    UNKNOWN_POINT,
};
use crate::search::{CandidateMatchFields, OfferMatchFields, SearchError, Visits};
use crate::util::bits;

const F_PT: &str = "pt";

/// Ordering key of a listed pair ([`super::rank_key_of`]).
pub type Key = (bool, i64, i64);

/// One row found by a pass, best first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PassHit {
    pub key: Key,
    pub id: String,
    /// For candidate → offers: the workplace used.
    pub workplace: usize,
    /// The document in the searcher the pass ran on
    /// ([`CandidateMatchFields::searcher`]): what else the index holds of
    /// the row is read from there without looking the id up again.
    pub doc: tantivy::DocAddress,
}

impl PassHit {
    /// Score as ranked (0.1 points).
    pub fn score(&self) -> f64 {
        -(self.key.1 as f64) / 10.0
    }
    /// No hard constraint failed.
    pub fn eligible(&self) -> bool {
        !self.key.0
    }
}

/// What one heap (a workplace, or the candidate's offers) found.
#[derive(Debug, Clone, Default)]
pub struct PassResult {
    /// Relevant listable pairs scored.
    pub considered: usize,
    /// Of those, failing a hard constraint.
    pub excluded: usize,
    /// Best first, at most the limit.
    pub top: Vec<PassHit>,
}

/// A row kept by a segment's heap. The id is held as its term ordinal in
/// the segment's id column: ordinals follow the ids' byte order, so ties on
/// the key break exactly as by id, and the id string is resolved once per
/// kept row, at harvest (from the segment's decoded ids,
/// [`crate::search::id_table`]), instead of each time a row enters a heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SegHit {
    key: Key,
    ord: u64,
    workplace: usize,
    doc: DocId,
}

/// A bounded heap: the worst kept row on top; ties on the key broken by id.
struct Heap {
    limit: usize,
    heap: BinaryHeap<SegHit>,
}

impl Heap {
    fn new(limit: usize) -> Heap {
        Heap {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    /// Offers a row; its id ordinal is read only when the row may enter.
    fn offer(&mut self, key: Key, workplace: usize, doc: DocId, ord: impl FnOnce() -> Option<u64>) {
        if self.limit == 0 {
            return;
        }
        if self.heap.len() >= self.limit {
            match self.heap.peek() {
                Some(worst) if key > worst.key => return,
                _ => {}
            }
        }
        let Some(ord) = ord() else {
            return;
        };
        let hit = SegHit {
            key,
            ord,
            workplace,
            doc,
        };
        if self.heap.len() < self.limit {
            self.heap.push(hit);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if hit < *worst {
                *worst = hit;
            }
        }
    }

    fn into_sorted(self) -> Vec<SegHit> {
        self.heap.into_sorted_vec()
    }
}

fn merge(results: Vec<PassResult>, limit: usize) -> PassResult {
    let mut out = PassResult::default();
    for r in results {
        out.considered += r.considered;
        out.excluded += r.excluded;
        out.top.extend(r.top);
    }
    out.top.sort();
    out.top.truncate(limit);
    out
}

/// For each term of a str column's dictionary (in ordinal order), `f(term)`.
/// The first bit of an offer's desired certifications in
/// [`Tables::cert_bits`] (its required ones are below; either list holds at
/// most [`crate::referentials::certifications::MAX_CERTIFICATIONS`]).
const DESIRED_BIT: u32 = 32;

/// The `n` lowest bits set (`n` ≤ [`DESIRED_BIT`]).
fn low_bits(n: usize) -> u64 {
    (1u64 << n.min(DESIRED_BIT as usize)) - 1
}

fn ord_table<T>(col: Option<&StrColumn>, f: impl Fn(&str) -> T) -> tantivy::Result<Vec<T>> {
    let Some(col) = col else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(col.num_terms());
    let mut stream = col.dictionary().stream()?;
    while stream.advance() {
        out.push(f(std::str::from_utf8(stream.key()).unwrap_or("")));
    }
    Ok(out)
}

fn ords(col: Option<&StrColumn>, doc: DocId) -> impl Iterator<Item = usize> + '_ {
    col.into_iter()
        .flat_map(move |c| c.term_ords(doc))
        .map(|o| o as usize)
}

/// Walks the postings of `terms` in `field`, adding each term's weight to
/// the documents holding it (text sums and matched-term counts, dense per
/// segment).
fn accumulate(
    segment: &SegmentReader,
    field: Field,
    terms: &[(String, i64)],
    within: Option<&[u64]>,
    dense: &mut Dense,
) -> tantivy::Result<()> {
    let inverted = segment.inverted_index(field)?;
    for (term, weight) in terms {
        let term = Term::from_field_text(field, term);
        for_each_posting(&inverted, &term, within, |d| {
            if let (Some(s), Some(c)) = (dense.sums.get_mut(d), dense.counts.get_mut(d)) {
                *s += weight;
                *c = c.saturating_add(1);
                dense.touch(d);
            }
        })?;
    }
    Ok(())
}

/// Calls `f` with each document of `term`'s postings (deleted ones
/// included), in order, skipping those whose bit is not set in `within`
/// when given. The postings are read a decoded block at a time.
fn for_each_posting(
    inverted: &tantivy::InvertedIndexReader,
    term: &Term,
    within: Option<&[u64]>,
    mut f: impl FnMut(usize),
) -> tantivy::Result<()> {
    let Some(mut block) = inverted.read_block_postings(term, IndexRecordOption::Basic)? else {
        return Ok(());
    };
    loop {
        let docs = block.docs();
        if docs.is_empty() {
            return Ok(());
        }
        for &doc in docs {
            let d = doc as usize;
            if within.is_none_or(|w| bits::get(w, d)) {
                f(d);
            }
        }
        block.advance();
    }
}

/// A segment's dense arrays: per document, the text sum, the number of
/// matched terms and the best ROME relation, with a bitset of the
/// documents any posting touched. The arrays are taken from a small pool
/// and given back with only the touched entries reset
/// ([`Dense::give_back`]): at 1M candidates, zeroing ~11 MB per ranking and
/// scanning a million entries for the few thousand touched cost more than
/// the pass itself.
#[derive(Default)]
struct Dense {
    sums: Vec<i64>,
    counts: Vec<u16>,
    rome_rel: Vec<RomeRelation>,
    /// Bit `d`: document `d` was touched by a posting.
    touched: Vec<u64>,
}

/// Dense arrays kept between rankings (at most [`DENSE_POOL_MAX`]; rankings
/// running at once beyond that allocate their own).
static DENSE_POOL: std::sync::Mutex<Vec<Dense>> = std::sync::Mutex::new(Vec::new());
const DENSE_POOL_MAX: usize = 4;

impl Dense {
    /// Clean arrays for `max` documents (every entry zero, no bit set).
    fn take(max: usize) -> Dense {
        let pooled = DENSE_POOL.lock().ok().and_then(|mut p| p.pop());
        let mut d = pooled.unwrap_or_default();
        // Entries kept from an earlier use are clean; new ones are zeroed.
        d.sums.resize(max, 0);
        d.counts.resize(max, 0);
        d.rome_rel.resize(max, RomeRelation::None);
        d.touched.resize(max.div_ceil(64), 0);
        d
    }

    fn touch(&mut self, d: usize) {
        bits::set(&mut self.touched, d);
    }

    /// The touched documents of a range of bitset words, in order.
    fn touched_in(&self, words: std::ops::Range<usize>) -> impl Iterator<Item = usize> + '_ {
        let end = words.end.min(self.touched.len());
        let start = words.start.min(end);
        bits::ones(self.touched.get(start..end).unwrap_or(&[])).map(move |d| d + start * 64)
    }

    /// Resets the touched entries and returns the arrays to the pool.
    fn give_back(mut self) {
        for d in bits::ones(&self.touched) {
            if let Some(s) = self.sums.get_mut(d) {
                *s = 0;
            }
            if let Some(c) = self.counts.get_mut(d) {
                *c = 0;
            }
            if let Some(r) = self.rome_rel.get_mut(d) {
                *r = RomeRelation::None;
            }
        }
        self.touched.fill(0);
        if let Ok(mut pool) = DENSE_POOL.lock() {
            if pool.len() < DENSE_POOL_MAX {
                pool.push(self);
            }
        }
    }
}

/// What both collectors read per segment: text sums and matched-term
/// counts (dense), the per-ordinal rule tables of the str columns, and the
/// segment's ids.
struct Tables {
    /// Text sums, matched-term counts and the best ROME relation (from the
    /// related codes' postings), per document; `None` only once dropped.
    dense: Option<Dense>,
    licence: Option<StrColumn>,
    licence_ok: Vec<bool>,
    cert: Option<StrColumn>,
    /// Per ordinal: bit `j` set when it grants (or is satisfied by)
    /// certification `j` (an offer's required ones from bit 0, its
    /// desired ones from bit [`DESIRED_BIT`]).
    cert_bits: Vec<u64>,
    contract: Option<StrColumn>,
    contract_ok: Vec<bool>,
    /// Bit `o`: `contract_ok[o]`, for the ordinals below 16
    /// ([`crate::search::Visit::contract_bits`]).
    contract_mask: u16,
    /// Per status ordinal: one of the statuses the pass lists.
    status: Option<StrColumn>,
    status_ok: Vec<bool>,
    /// The segment's ids (decoded once per segment).
    ids: Option<SegmentIds>,
    /// The segment's ordinal in the searcher.
    segment_ord: SegmentOrdinal,
}

/// The rules evaluated once per term of a segment's dictionaries.
struct Rules<R, L, C, K> {
    rome: R,
    licence: L,
    cert: C,
    contract: K,
}

impl Tables {
    /// `within`: when given, only the documents of its set bits are
    /// touched (the others are as if no posting held them).
    #[allow(clippy::too_many_arguments)]
    fn new<R, L, C, K>(
        segment: &SegmentReader,
        within: Option<&[u64]>,
        text: &[(Field, Vec<(String, i64)>)],
        rome_field: Field,
        related: &[String],
        licence_field: &str,
        statuses: &[&str],
        rules: Rules<R, L, C, K>,
    ) -> tantivy::Result<Tables>
    where
        R: Fn(&str) -> RomeRelation,
        L: Fn(&str) -> bool,
        C: Fn(&str) -> u64,
        K: Fn(&str) -> bool,
    {
        let mut dense = Dense::take(segment.max_doc() as usize);
        for (field, terms) in text {
            accumulate(segment, *field, terms, within, &mut dense)?;
        }
        // The best relation of each document, from the postings of the
        // related codes (a document holds its codes as terms).
        let inverted = segment.inverted_index(rome_field)?;
        for code in related {
            let relation = (rules.rome)(code);
            let term = Term::from_field_text(rome_field, code);
            for_each_posting(&inverted, &term, within, |d| {
                if let Some(r) = dense.rome_rel.get_mut(d) {
                    if relation.strength() > r.strength() {
                        *r = relation;
                    }
                    dense.touch(d);
                }
            })?;
        }
        let fast = segment.fast_fields();
        let licence = fast.str(licence_field)?;
        let cert = fast.str(F_CERT)?;
        let contract = fast.str(F_CONTRACT)?;
        let status = fast.str(F_STATUS)?;
        let contract_ok = ord_table(contract.as_ref(), rules.contract)?;
        Ok(Tables {
            dense: Some(dense),
            licence_ok: ord_table(licence.as_ref(), rules.licence)?,
            licence,
            cert_bits: ord_table(cert.as_ref(), rules.cert)?,
            cert,
            contract_mask: contract_ok
                .iter()
                .take(16)
                .enumerate()
                .filter(|(_, ok)| **ok)
                .fold(0, |mask, (o, _)| mask | (1 << o)),
            contract_ok,
            contract,
            status_ok: ord_table(status.as_ref(), |t| statuses.contains(&t))?,
            status,
            ids: None,
            segment_ord: 0,
        })
    }

    /// The segment's ids, to read the kept rows' ids.
    fn with_ids(mut self, segment_ord: SegmentOrdinal, ids: Option<SegmentIds>) -> Tables {
        self.segment_ord = segment_ord;
        self.ids = ids;
        self
    }

    /// The best ROME relation and the text sum of a document above the
    /// relevance floor (a relation, or `min_matched` terms); `None` below.
    fn relevant(&self, doc: DocId, min_matched: usize) -> Option<(RomeRelation, i64)> {
        let d = doc as usize;
        let dense = self.dense.as_ref()?;
        let relation = dense.rome_rel.get(d).copied().unwrap_or(RomeRelation::None);
        let matched = usize::from(dense.counts.get(d).copied().unwrap_or(0));
        if relation == RomeRelation::None && matched < min_matched {
            return None;
        }
        Some((relation, dense.sums.get(d).copied().unwrap_or(0)))
    }

    /// The documents of a segment the pass visits, in order: alive, above
    /// the relevance floor (a related ROME code, or `min_matched` terms),
    /// and of a listed status unless the collector checks it itself
    /// (`check_status` false: later, after cheaper rejections) — the
    /// documents touched by the offer's terms and codes, so a pass costs
    /// what they find, not the segment's size.
    /// Only the documents of `words`, a range of the touched bitset's
    /// words ([`Tables::touched_ranges`]), are looked at.
    fn pass_docs(
        &self,
        alive: Option<&AliveBitSet>,
        min_matched: usize,
        check_status: bool,
        words: std::ops::Range<usize>,
    ) -> Vec<DocId> {
        let Some(dense) = self.dense.as_ref() else {
            return Vec::new();
        };
        let min = u16::try_from(min_matched).unwrap_or(u16::MAX);
        let mut docs = Vec::new();
        for d in dense.touched_in(words) {
            let relation = dense.rome_rel.get(d).copied().unwrap_or(RomeRelation::None);
            if relation == RomeRelation::None && dense.counts.get(d).copied().unwrap_or(0) < min {
                continue;
            }
            let Ok(doc) = DocId::try_from(d) else {
                break;
            };
            if alive.is_some_and(|a| !a.is_alive(doc)) {
                continue;
            }
            if !check_status || self.listed(doc) {
                docs.push(doc);
            }
        }
        docs
    }

    /// The number of touched documents.
    fn touched_count(&self) -> usize {
        self.dense.as_ref().map_or(0, |d| {
            d.touched.iter().map(|w| w.count_ones() as usize).sum()
        })
    }

    /// The touched bitset's words cut into at most `parts` consecutive
    /// ranges holding about as many of the `total` touched documents
    /// ([`Tables::touched_count`]) each (the whole bitset for one part).
    fn touched_ranges(&self, parts: usize, total: usize) -> Vec<std::ops::Range<usize>> {
        let words = self.dense.as_ref().map_or(&[][..], |d| &d.touched[..]);
        let parts = parts.max(1);
        let mut out = Vec::with_capacity(parts);
        let (mut start, mut seen) = (0, 0);
        for (i, w) in words.iter().enumerate() {
            seen += w.count_ones() as usize;
            if out.len() + 1 < parts && seen * parts >= total * (out.len() + 1) {
                out.push(start..i + 1);
                start = i + 1;
            }
        }
        out.push(start..words.len());
        out
    }

    /// Of a status the pass lists.
    fn listed(&self, doc: DocId) -> bool {
        ords(self.status.as_ref(), doc).any(|o| self.status_ok.get(o).copied().unwrap_or(false))
    }

    fn has_licence(&self, doc: DocId) -> bool {
        ords(self.licence.as_ref(), doc).next().is_some()
    }

    fn licence_ok(&self, doc: DocId) -> bool {
        ords(self.licence.as_ref(), doc).any(|o| self.licence_ok.get(o).copied().unwrap_or(false))
    }

    /// The union of the certification bits of a document's values.
    fn cert_union(&self, doc: DocId) -> u64 {
        ords(self.cert.as_ref(), doc)
            .filter_map(|o| self.cert_bits.get(o).copied())
            .fold(0, |a, b| a | b)
    }

    /// Whether every certification value of a document has a bit set.
    fn certs_all(&self, doc: DocId) -> bool {
        ords(self.cert.as_ref(), doc).all(|o| self.cert_bits.get(o).copied().unwrap_or(0) != 0)
    }

    /// Whether a contract value is accepted (`none_accepts`: a document
    /// without any value accepts every contract).
    fn contract_ok(&self, doc: DocId, none_accepts: bool) -> bool {
        let mut values = ords(self.contract.as_ref(), doc).peekable();
        (none_accepts && values.peek().is_none())
            || values.any(|o| self.contract_ok.get(o).copied().unwrap_or(false))
    }

    /// [`Tables::contract_ok`] from a document's contract ordinals as
    /// bits when its [`crate::search::Visit`] holds them (`bits`), from the
    /// column otherwise.
    fn contract_accepts(&self, bits: Option<u16>, doc: DocId, none_accepts: bool) -> bool {
        match bits {
            Some(bits) => (none_accepts && bits == 0) || bits & self.contract_mask != 0,
            None => self.contract_ok(doc, none_accepts),
        }
    }

    fn id(&self, doc: DocId) -> Option<String> {
        self.ids.as_ref()?.of(doc).map(str::to_string)
    }

    fn id_ord(&self, doc: DocId) -> Option<u64> {
        self.ids.as_ref()?.column.term_ords(doc).next()
    }

    /// The kept rows of a segment's heaps with their ids (a row whose id
    /// cannot be read is dropped, as before).
    fn resolve(&self, heaps: Vec<Vec<SegHit>>) -> Vec<Vec<PassHit>> {
        let table = self.ids.as_ref().map(|i| &i.table);
        heaps
            .into_iter()
            .map(|hits| {
                hits.into_iter()
                    .filter_map(|h| {
                        Some(PassHit {
                            key: h.key,
                            id: table?.get(h.ord)?.to_string(),
                            workplace: h.workplace,
                            doc: tantivy::DocAddress::new(self.segment_ord, h.doc),
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

impl Drop for Tables {
    fn drop(&mut self) {
        if let Some(dense) = self.dense.take() {
            dense.give_back();
        }
    }
}

fn point_of(v: u64) -> Option<Point> {
    (v != UNKNOWN_POINT).then(|| crate::search::unpack_point(v))
}

// ---------------------------------------------------------------------------
// Offer → candidates
// ---------------------------------------------------------------------------

/// One workplace of the offer being matched.
#[derive(Debug, Clone)]
pub struct WorkplaceSpec {
    /// Index in the offer's `workplaces`.
    pub index: usize,
    pub point: Option<Point>,
    pub commune_key: u64,
}

/// The offer side of an offer → candidates pass.
#[derive(Debug, Clone)]
pub struct OfferSpec {
    pub weights: MatchingWeights,
    pub rome_code: String,
    /// ROME codes related to the offer's (the query's ROME clauses).
    pub related: Vec<String>,
    /// The offer's matching terms with their weights (`factor × idf`,
    /// [`term_weight`]).
    pub terms: Vec<(String, i64)>,
    pub driving_licence: Option<String>,
    pub required_certifications: Vec<String>,
    pub desired_certifications: Vec<String>,
    pub vehicle_required: bool,
    /// [`reference_day`] of the offer.
    pub reference_day: i64,
    pub weekly_hours: Option<i64>,
    pub contract_type: String,
    /// Another member's offer.
    pub network: bool,
    pub workplaces: Vec<WorkplaceSpec>,
    /// Pre-selection radius around a workplace with a known centre.
    pub radius_km: f64,
    pub limit: usize,
    pub near_misses: bool,
    /// A network search's question ([`candidates_fitting`]): every
    /// candidate who fits, instead of a ranking per workplace.
    pub fit: Option<FitSpec>,
}

/// What makes a candidate fit a network search at a place
/// ([`candidates_fitting`]), besides being eligible there.
#[derive(Debug, Clone)]
pub struct FitSpec {
    /// Per workplace of the spec (same order): the radius asked (km).
    pub radii_km: Vec<f64>,
    /// Contract types offered (empty: any); a candidate without a
    /// preference accepts every one.
    pub contract_types: Vec<String>,
}

/// A candidate who fits at one place or more, as the full evaluation
/// would find it ([`super::evaluate`]): eligible there, with a ROME
/// relation, within the radius asked (the distance rounded to 0.1 km as
/// shown), accepting one of the contract types.
#[derive(Debug, Clone, PartialEq)]
pub struct FitHit {
    pub id: String,
    /// Best score over the places it fits.
    pub score: f64,
    /// Distance to the nearest place it fits (km, rounded to 0.1).
    pub distance_km: f64,
    /// That place (index in the spec's workplaces; the first of equals).
    pub place: usize,
    /// Bit `i`: fits at the spec's workplace `i` (at most 64 workplaces).
    pub places: u64,
}

/// Per segment, in fit mode.
#[derive(Clone)]
struct FitState {
    radii_km: Vec<f64>,
    /// Per contract ordinal: one of the types offered.
    contract_ok: Vec<bool>,
    any_contract: bool,
    hits: Vec<FitHit>,
}

/// One workplace (with a known centre) where the homes of a commune are
/// considered: its position in the spec and the distance as ranked
/// (0 in the workplace's own commune).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    wp: u32,
    distance_km: f64,
}

/// Dense slot of a commune key holding a 5-character INSEE code
/// (département `00`–`99`, `2A`, `2B`, then three digits); `None` for any
/// other key, whose documents are placed one by one.
fn insee_slot(key: u64) -> Option<usize> {
    if key >> 48 != 0 || key & 0xff != 5 {
        return None;
    }
    let bytes = (key >> 8).to_be_bytes();
    let code = bytes.get(3..8)?;
    let digit = |b: u8| b.is_ascii_digit().then(|| usize::from(b - b'0'));
    let dept = match (code[0], code[1]) {
        (b'2', b'A') => 100,
        (b'2', b'B') => 101,
        (a, b) => digit(a)? * 10 + digit(b)?,
    };
    let rest = code[2..]
        .iter()
        .try_fold(0usize, |acc, &b| Some(acc * 10 + digit(b)?))?;
    Some(dept * 1000 + rest)
}

/// Number of [`insee_slot`]s.
const INSEE_SLOTS: usize = 102_000;

/// Where the homes of each commune are considered, for one ranking,
/// computed on the first home of the commune the pass meets. A home is
/// its commune's centre (the referential's point for the code, set when
/// the candidate is indexed), so every home of a commune is within the
/// same workplaces' radius at the same distances: the bounding boxes and
/// haversines of an offer's workplaces are computed once per commune
/// instead of once per candidate (the difference at 1M candidates, or for
/// a 57-workplace offer).
#[derive(Default)]
struct Places {
    /// Bit per slot: the commune was met (its places computed).
    met: Vec<u64>,
    /// Bit per slot: met, and within the radius of a workplace. The two
    /// bitsets (12.5 KB each) stay in the nearest cache, so a home outside
    /// every radius (most of the touched documents at 1M) is rejected
    /// without reading the larger tables below, whose random reads were
    /// most of the pass's time.
    near: Vec<u64>,
    /// Per slot within a radius: `k + 1`, `ranges[k]` its places.
    state: Vec<u32>,
    /// Start and end in `at`.
    ranges: Vec<(u32, u32)>,
    at: Vec<Place>,
}

/// Whether bit `i` of `words` is set.
impl Places {
    /// A slot per INSEE code, none met yet (the default is empty: a lease's placeholder).
    fn sized() -> Places {
        Places {
            met: vec![0; INSEE_SLOTS.div_ceil(64)],
            near: vec![0; INSEE_SLOTS.div_ceil(64)],
            state: vec![0; INSEE_SLOTS],
            ranges: Vec::new(),
            at: Vec::new(),
        }
    }

    /// The places of a commune met before (empty: outside every radius).
    fn get(&self, slot: usize) -> Option<&[Place]> {
        if !bits::get(&self.met, slot) {
            return None;
        }
        if !bits::get(&self.near, slot) {
            return Some(&[]);
        }
        let k = self.state.get(slot).copied().filter(|k| *k != 0)?;
        let (start, end) = self.ranges.get(k as usize - 1).copied()?;
        self.at.get(start as usize..end as usize)
    }

    fn insert(&mut self, slot: usize, places: &[Place]) {
        if slot >= self.state.len() {
            return;
        }
        if places.is_empty() {
            bits::set(&mut self.met, slot);
            return;
        }
        let (Ok(start), Ok(k)) = (
            u32::try_from(self.at.len()),
            u32::try_from(self.ranges.len()),
        ) else {
            return;
        };
        self.at.extend_from_slice(places);
        let end = u32::try_from(self.at.len()).unwrap_or(u32::MAX);
        if let Some(s) = self.state.get_mut(slot) {
            self.ranges.push((start, end));
            *s = k + 1;
            bits::set(&mut self.met, slot);
            bits::set(&mut self.near, slot);
        }
    }
}

/// A segment's use of the ranking's [`Places`], given back to the
/// collector when the segment is dropped (segments are collected one
/// after the other; one collected alongside starts its own).
struct PlacesLease {
    places: Places,
    home: Arc<std::sync::Mutex<Option<Places>>>,
}

impl PlacesLease {
    fn take(home: &Arc<std::sync::Mutex<Option<Places>>>) -> PlacesLease {
        let places = home.lock().ok().and_then(|mut p| p.take());
        PlacesLease {
            places: places.unwrap_or_else(Places::sized),
            home: home.clone(),
        }
    }
}

impl Drop for PlacesLease {
    fn drop(&mut self) {
        if let Ok(mut home) = self.home.lock() {
            *home = Some(std::mem::take(&mut self.places));
        }
    }
}

/// The workplaces with a known centre where a home is considered (within
/// the radius; the box first), in the spec's order, into `out`.
fn place_home(
    spec: &OfferSpec,
    boxes: &[Option<Area>],
    home: Option<Point>,
    commune: Option<u64>,
    out: &mut Vec<Place>,
) {
    out.clear();
    let Some(h) = home else {
        return;
    };
    let mut prepared: Option<Prepared> = None;
    for (i, (wp, area)) in spec.workplaces.iter().zip(boxes).enumerate() {
        let Some(area) = area else {
            continue;
        };
        if let Some(d) = area.distance_within(h, &mut prepared) {
            out.push(Place {
                wp: u32::try_from(i).unwrap_or(u32::MAX),
                distance_km: if commune == Some(wp.commune_key) {
                    0.0
                } else {
                    d
                },
            });
        }
    }
}

struct CandidateCollector {
    spec: Arc<OfferSpec>,
    /// How far from a workplace the far travellers' homes are looked for:
    /// the spec's radius or the default limit, or the largest travel limit
    /// of the index's candidates if larger (one willing to travel 200 km is
    /// eligible at 161 km) ([`near_and_reach`]).
    reach_km: f64,
    /// How far homes of the others are looked for: the radius, the
    /// default limit or [`FAR_TRAVEL_KM`], whichever is largest, capped by
    /// the reach (a candidate's own limit of at most [`FAR_TRAVEL_KM`] is
    /// within it).
    near_km: f64,
    match_text: Field,
    rome: Field,
    ids: Vec<Option<SegmentIds>>,
    places: Arc<std::sync::Mutex<Option<Places>>>,
    visits: Vec<Arc<Visits>>,
}

impl CandidateCollector {
    fn new(fields: &CandidateMatchFields, spec: OfferSpec) -> CandidateCollector {
        let largest_limit = fields
            .visits
            .iter()
            .map(|v| v.max_travel)
            .max()
            .unwrap_or(-1);
        let (near_km, reach_km) = near_and_reach(
            spec.radius_km,
            spec.weights.default_max_travel_km,
            largest_limit,
        );
        CandidateCollector {
            reach_km,
            near_km,
            spec: Arc::new(spec),
            match_text: fields.match_text,
            rome: fields.rome,
            ids: fields.ids.clone(),
            places: Arc::new(std::sync::Mutex::new(None)),
            visits: fields.visits.clone(),
        }
    }
}

/// How far from a workplace homes are looked for: (`near_km` for every
/// candidate, `reach_km` for the far travellers, whose own limit exceeds
/// [`FAR_TRAVEL_KM`]). A pair is considered within the radius or within the
/// candidate's own limit (the default one when none is recorded), so
/// `near_km` covers the radius, the default and [`FAR_TRAVEL_KM`], and
/// `reach_km` the largest limit of the index.
fn near_and_reach(radius_km: f64, default_limit_km: f64, largest_limit_km: i32) -> (f64, f64) {
    let radius_km = radius_km.max(default_limit_km);
    let reach_km = radius_km.max(f64::from(largest_limit_km));
    (
        radius_km.max(f64::from(FAR_TRAVEL_KM)).min(reach_km),
        reach_km,
    )
}

/// The documents of a segment (as bits) whose home may be considered: the
/// homes within the near `boxes` of the workplaces (all with a centre),
/// and the far travellers' homes within the `far_boxes`. With the other
/// documents of the same grid cells, which the distance then rejects.
fn homes_within(
    visits: &Visits,
    boxes: &[Option<Area>],
    far_boxes: Option<&[Option<Area>]>,
    max_doc: DocId,
) -> Vec<u64> {
    let mut words = vec![0u64; (max_doc as usize).div_ceil(64)];
    for area in boxes.iter().flatten() {
        visits.homes.mark(&area.bbox, &mut words);
    }
    for area in far_boxes.unwrap_or(&[]).iter().flatten() {
        visits.far_homes.mark(&area.bbox, &mut words);
    }
    words
}

struct CandidateSegment {
    spec: Arc<OfferSpec>,
    /// Shared by the siblings collecting other ranges of the segment.
    tables: Arc<Tables>,
    pt: Option<Column<u64>>,
    /// What the pass reads of each document (commune, travel limit,
    /// public transport only, status, vehicle, network consent,
    /// availability, hours, contracts: [`Visits`]).
    visits: Arc<Visits>,
    /// The availability and hours columns, read for a document whose
    /// [`Visit`] could not hold them ([`Visit::WIDE`]).
    available: Option<Column<i64>>,
    hours: Option<Column<i64>>,
    /// Per workplace with a known centre: its box and prepared centre
    /// ([`CandidateCollector::near_km`] around it).
    boxes: Vec<Option<Area>>,
    /// The same as far as the reach, for the far travellers (own limit
    /// beyond [`FAR_TRAVEL_KM`]), when the reach is beyond the near boxes.
    far_boxes: Option<Arc<Vec<Option<Area>>>>,
    /// Workplaces whose centre is not known: every candidate is
    /// considered there, without a distance.
    unknown_wps: Vec<usize>,
    places: PlacesLease,
    /// The places of a home without a commune slot (reused).
    scratch: Vec<Place>,
    heaps: Vec<Heap>,
    counts_per_wp: Vec<(usize, usize)>,
    fit: Option<FitState>,
}

impl Collector for CandidateCollector {
    type Fruit = Vec<PassResult>;
    type Child = CandidateSegment;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<CandidateSegment> {
        let spec = self.spec.clone();
        let refs = Referentials::global();
        let certs = Certifications::global();
        let visits = self.visits.get(ord as usize).cloned().unwrap_or_default();
        let areas = |km: f64| -> Vec<Option<Area>> {
            spec.workplaces
                .iter()
                .map(|wp| wp.point.map(|p| Area::around(p, km)))
                .collect()
        };
        let boxes = areas(self.near_km);
        let far_boxes = (self.reach_km > self.near_km).then(|| Arc::new(areas(self.reach_km)));
        // When every workplace has a centre, a candidate is considered
        // only if their home is within the radius of one: only the
        // documents of the grid cells meeting the workplaces' boxes are
        // touched (most of a country's candidates are never visited).
        // Like the places per commune, this holds the homes of a commune
        // at one point (its centre, from the referential the index was
        // built with).
        let within = boxes.iter().all(Option::is_some).then(|| {
            homes_within(
                &visits,
                &boxes,
                far_boxes.as_deref().map(Vec::as_slice),
                segment.max_doc(),
            )
        });
        let tables = Tables::new(
            segment,
            within.as_deref(),
            &[(self.match_text, spec.terms.clone())],
            self.rome,
            &spec.related,
            // The licence is checked on the certifications column, which
            // holds the licences as their `PERMIS_*` codes too: one
            // recorded as a certification counts.
            F_CERT,
            LISTABLE_STATUSES,
            Rules {
                rome: |t: &str| refs.rome_relation(t, &spec.rome_code),
                licence: |t: &str| {
                    spec.driving_licence.as_deref().is_some_and(|req| {
                        Certifications::meets_licence(&certs.held(&[t.to_string()], &[]), req)
                    })
                },
                cert: |t: &str| {
                    let held = certs.held(&[t.to_string()], &[]);
                    let bits = |codes: &[String], from: u32| {
                        codes
                            .iter()
                            .take(DESIRED_BIT as usize)
                            .enumerate()
                            .filter(|(_, r)| Certifications::satisfied(&held, r))
                            .fold(0u64, |acc, (j, _)| acc | (1 << (from + j as u32)))
                    };
                    bits(&spec.required_certifications, 0)
                        | bits(&spec.desired_certifications, DESIRED_BIT)
                },
                contract: |t: &str| t == spec.contract_type,
            },
        )?
        .with_ids(ord, self.ids.get(ord as usize).cloned().flatten());
        let fast = segment.fast_fields();
        let n = spec.workplaces.len();
        let fit = match &spec.fit {
            Some(f) => Some(FitState {
                radii_km: f.radii_km.clone(),
                contract_ok: ord_table(tables.contract.as_ref(), |t| {
                    f.contract_types.iter().any(|c| c == t)
                })?,
                any_contract: f.contract_types.is_empty(),
                hits: Vec::new(),
            }),
            None => None,
        };
        Ok(CandidateSegment {
            fit,
            tables: Arc::new(tables),
            pt: fast.column_opt::<u64>(F_PT)?,
            visits,
            available: fast.column_opt::<i64>(F_AVAILABLE)?,
            hours: fast.column_opt::<i64>(F_HOURS)?,
            boxes,
            far_boxes,
            unknown_wps: spec
                .workplaces
                .iter()
                .enumerate()
                .filter(|(_, wp)| wp.point.is_none())
                .map(|(i, _)| i)
                .collect(),
            places: PlacesLease::take(&self.places),
            scratch: Vec::new(),
            heaps: (0..n).map(|_| Heap::new(spec.limit)).collect(),
            counts_per_wp: vec![(0, 0); n],
            spec,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<PassResult>>) -> tantivy::Result<Vec<PassResult>> {
        let n = self.spec.workplaces.len();
        let mut per_wp: Vec<Vec<PassResult>> = (0..n).map(|_| Vec::new()).collect();
        for fruit in fruits {
            for (i, r) in fruit.into_iter().enumerate() {
                if let Some(v) = per_wp.get_mut(i) {
                    v.push(r);
                }
            }
        }
        Ok(per_wp
            .into_iter()
            .map(|v| merge(v, self.spec.limit))
            .collect())
    }
}

impl SegmentCollector for CandidateSegment {
    type Fruit = Vec<PassResult>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let CandidateSegment {
            spec,
            tables,
            pt,
            visits,
            available,
            hours,
            boxes,
            far_boxes,
            unknown_wps,
            places,
            scratch,
            heaps,
            counts_per_wp,
            fit: fit_state,
        } = self;
        let spec = &**spec;
        let w = &spec.weights;
        let Some((relation, sum)) = tables.relevant(doc, w.min_matched_terms) else {
            return;
        };
        // Pre-selection first (the cheapest rejection): the workplaces
        // with a known centre within whose radius the home is (from its
        // commune's places), and every workplace whose centre is unknown.
        let visit = visits.get(doc);
        let commune = visit.commune();
        let home_of = || {
            pt.as_ref()
                .and_then(|c| c.first(doc))
                .map(crate::search::unpack_point)
        };
        let far = far_boxes.as_deref().filter(|_| visit.far_traveller());
        let near: &[Place] = match (far, commune.and_then(insee_slot)) {
            // A far traveller's places, as far as the reach: computed for
            // them alone (a commune's cached places are the near ones).
            (Some(far), _) => {
                place_home(spec, far, home_of(), commune, scratch);
                scratch
            }
            (None, Some(slot)) => {
                if places.places.get(slot).is_none() {
                    place_home(spec, boxes, home_of(), commune, scratch);
                    places.places.insert(slot, scratch);
                }
                places.places.get(slot).unwrap_or(&[])
            }
            (None, None) => {
                place_home(spec, boxes, home_of(), commune, scratch);
                scratch
            }
        };
        if near.is_empty() && unknown_wps.is_empty() {
            return;
        }
        if !tables
            .status_ok
            .get(usize::from(visit.status))
            .copied()
            .unwrap_or(false)
        {
            return;
        }
        let limit = travel_limit_of(w, visit.travel(), visit.pt_only());
        // A place beyond both the spec's radius and the candidate's own
        // limit is not considered (the reach covers the largest limit).
        let considered = |p: &&Place| p.distance_km <= spec.radius_km || p.distance_km <= limit;
        // Beyond the candidate's own limit at every place: without near
        // misses (the fit mode keeps eligible pairs only) such pairs are
        // only counted, so nothing else of the candidate is read.
        if !spec.near_misses
            && unknown_wps.is_empty()
            && near
                .iter()
                .filter(considered)
                .all(|p| p.distance_km > limit)
        {
            for p in near.iter().filter(considered) {
                if let Some(counts) = counts_per_wp.get_mut(p.wp as usize) {
                    counts.0 += 1;
                    counts.1 += 1;
                }
            }
            return;
        }
        let text = text_value(sum, w.text_saturation);
        let has_vehicle = visit.has_vehicle();
        // Workplace-independent constraints and parts.
        let mut failed = false;
        if spec.driving_licence.is_some() && !tables.licence_ok(doc) {
            failed = true;
        }
        let granted =
            if spec.required_certifications.is_empty() && spec.desired_certifications.is_empty() {
                0
            } else {
                tables.cert_union(doc)
            };
        let required = spec.required_certifications.len();
        if required > 0 {
            let all = low_bits(required);
            if granted & all != all || required > DESIRED_BIT as usize {
                failed = true;
            }
        }
        let desired = spec.desired_certifications.len();
        let certifications = desired_value(
            ((granted >> DESIRED_BIT) & low_bits(desired)).count_ones() as usize,
            desired,
        );
        if spec.vehicle_required && !has_vehicle {
            failed = true;
        }
        let (available, weekly_hours) = visit.day_and_hours().unwrap_or_else(|| {
            (
                available
                    .as_ref()
                    .and_then(|c| c.first(doc))
                    .filter(|d| *d != i64::MIN),
                hours
                    .as_ref()
                    .and_then(|c| c.first(doc))
                    .filter(|h| *h >= 0),
            )
        });
        let grace = w.availability_grace_days.max(0);
        let (availability, late) = availability_value(available, spec.reference_day, grace);
        if late > grace {
            failed = true;
        }
        if spec.network && !visit.network() {
            failed = true;
        }
        let hours = hours_value(weekly_hours, spec.weekly_hours);
        // No preference accepts every contract type.
        let contract = if tables.contract_accepts(visit.contract_bits(), doc, true) {
            1.0
        } else {
            0.0
        };
        let base = PartValues {
            rome: rome_value(relation),
            text,
            distance: 0.0,
            availability,
            hours,
            contract,
            vehicle: 0.0,
            certifications,
        };
        // Fit mode: the contract filter, then the best fit over places.
        let fit_contract = fit_state.as_ref().is_some_and(|f| {
            f.any_contract || {
                let mut values = ords(tables.contract.as_ref(), doc).peekable();
                values.peek().is_none()
                    || values.any(|o| f.contract_ok.get(o).copied().unwrap_or(false))
            }
        }) && relation != RomeRelation::None;
        let mut fit: Option<FitHit> = None;
        let at_places = near
            .iter()
            .filter(considered)
            .map(|p| (p.wp as usize, Some(p.distance_km)));
        let at_unknown = unknown_wps.iter().map(|&i| (i, None));
        for (i, distance_km) in at_places.chain(at_unknown) {
            let Some(wp) = spec.workplaces.get(i) else {
                continue;
            };
            let mut values = base;
            let mut wp_failed = failed;
            if let Some(d) = distance_km {
                values.distance = distance_value(d, limit);
                if d > limit {
                    wp_failed = true;
                }
            }
            // An ineligible pair is only counted unless near misses are
            // listed (the fit mode keeps eligible pairs only): no score.
            if wp_failed && !spec.near_misses {
                let counts = &mut counts_per_wp[i];
                counts.0 += 1;
                counts.1 += 1;
                continue;
            }
            let needs_vehicle = spec.vehicle_required
                || spec.driving_licence.is_some()
                || distance_km.is_some_and(|d| d > VEHICLE_NEEDED_KM);
            values.vehicle = if !needs_vehicle || has_vehicle {
                1.0
            } else {
                0.0
            };
            let score = total_score(&values, w);
            let eligible = !wp_failed;
            if fit_contract && eligible {
                let radius = fit_state
                    .as_ref()
                    .and_then(|f| f.radii_km.get(i).copied())
                    .unwrap_or(0.0);
                if let Some(d) = distance_km.map(super::round1).filter(|d| *d <= radius) {
                    let f = fit.get_or_insert(FitHit {
                        id: String::new(),
                        score,
                        distance_km: d,
                        place: i,
                        places: 0,
                    });
                    f.places |= 1u64 << (i % 64);
                    f.score = f.score.max(score);
                    if d < f.distance_km {
                        f.distance_km = d;
                        f.place = i;
                    }
                }
            }
            let counts = &mut counts_per_wp[i];
            counts.0 += 1;
            if !eligible {
                counts.1 += 1;
                if !spec.near_misses {
                    continue;
                }
            }
            let key = rank_key_of(eligible, score, distance_km);
            heaps[i].offer(key, wp.index, doc, || tables.id_ord(doc));
        }
        if let (Some(mut hit), Some(state)) = (fit, fit_state.as_mut()) {
            if let Some(id) = tables.id(doc) {
                hit.id = id;
                state.hits.push(hit);
            }
        }
    }

    fn harvest(self) -> Vec<PassResult> {
        let kept = self.heaps.into_iter().map(Heap::into_sorted).collect();
        self.tables
            .resolve(kept)
            .into_iter()
            .zip(self.counts_per_wp)
            .map(|(top, (considered, excluded))| PassResult {
                considered,
                excluded,
                top,
            })
            .collect()
    }
}

/// Offer → candidates: one pass over the candidate index, one result per
/// workplace of `spec.workplaces` (in that order).
pub fn candidates_for_offer(
    fields: &CandidateMatchFields,
    spec: OfferSpec,
) -> Result<Vec<PassResult>, SearchError> {
    if spec.terms.is_empty() && spec.related.is_empty() {
        return Ok(vec![PassResult::default(); spec.workplaces.len()]);
    }
    if spec.workplaces.is_empty() {
        return Ok(Vec::new());
    }
    let collector = CandidateCollector::new(fields, spec);
    Ok(run_pass(
        &fields.searcher,
        &collector,
        (fields.threads, fields.split_min_docs),
    )?)
}

/// The fit-mode collector: the offer → candidates pass, harvesting the
/// candidates who fit ([`OfferSpec::fit`]) instead of the heaps.
struct FitCollector(CandidateCollector);

struct FitSegment(CandidateSegment);

impl Collector for FitCollector {
    type Fruit = Vec<FitHit>;
    type Child = FitSegment;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<FitSegment> {
        self.0.for_segment(ord, segment).map(FitSegment)
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<FitHit>>) -> tantivy::Result<Vec<FitHit>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for FitSegment {
    type Fruit = Vec<FitHit>;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.0.collect(doc, score);
    }

    fn harvest(self) -> Vec<FitHit> {
        self.0.fit.map(|f| f.hits).unwrap_or_default()
    }
}

/// Offer → candidates for a network search: one pass over the candidate
/// index returning every candidate who fits (`spec.fit`, required) with
/// their best score, nearest place and the places they fit — no row is
/// loaded nor explained, and the heaps are not used (`spec.limit` 0).
pub fn candidates_fitting(
    fields: &CandidateMatchFields,
    spec: OfferSpec,
) -> Result<Vec<FitHit>, SearchError> {
    if spec.terms.is_empty() && spec.related.is_empty() {
        return Ok(Vec::new());
    }
    if spec.workplaces.is_empty() || spec.fit.is_none() {
        return Ok(Vec::new());
    }
    let collector = FitCollector(CandidateCollector::new(
        fields,
        OfferSpec { limit: 0, ..spec },
    ));
    Ok(run_pass(
        &fields.searcher,
        &collector,
        (fields.threads, fields.split_min_docs),
    )?)
}

/// The candidate statuses matching lists (see [`super::listable`]): people
/// already referred to one offer may be referred to others.
const LISTABLE_STATUSES: &[&str] = &["active", "in_referral"];

/// A segment collector of a pass: its tables say which documents it visits.
trait PassSegment: SegmentCollector {
    fn tables(&self) -> &Tables;
    fn min_matched(&self) -> usize;
    /// A collector of another range of the same segment's documents (the
    /// same tables; its own heaps, counts and places), for a pass split
    /// across threads; `None`: this collector is not split.
    fn sibling(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
    /// The collector reads the status itself, after its cheaper
    /// rejections ([`Tables::listed`]), instead of [`Tables::pass_docs`].
    fn status_in_collect(&self) -> bool {
        false
    }
}

/// Documents per thread below which a segment's pass is not split (a
/// thread costs tens of microseconds; a document, tens of nanoseconds).
pub const SPLIT_MIN_DOCS: usize = 8_192;

/// Runs a pass collector over every segment of `searcher`, visiting only
/// the documents of [`Tables::pass_docs`] (alive, of a listed status, above
/// the relevance floor) — not every document of a listed status, as a
/// status query would: at 1M candidates most of them share no term and no
/// code with the offer.
///
/// A segment with many such documents is split into up to `threads`
/// ranges of documents, each collected by a sibling
/// ([`PassSegment::sibling`]) on its own thread; the fruits are merged as
/// those of separate segments, in document order, so the result is the
/// one a single thread finds (heaps keep the best rows by key then id).
fn run_pass<C>(
    searcher: &Searcher,
    collector: &C,
    (threads, split_min_docs): (usize, usize),
) -> tantivy::Result<C::Fruit>
where
    C: Collector,
    C::Child: PassSegment + Send,
{
    let segments = searcher.segment_readers();
    let mut fruits = Vec::with_capacity(segments.len());
    for (ord, segment) in segments.iter().enumerate() {
        let ord = SegmentOrdinal::try_from(ord).unwrap_or(SegmentOrdinal::MAX);
        let child = collector.for_segment(ord, segment)?;
        let alive = segment.alive_bitset();
        let (min_matched, check_status) = (child.min_matched(), !child.status_in_collect());
        let touched = child.tables().touched_count();
        let parts = threads.min(touched / split_min_docs.max(1)).max(1);
        let siblings: Vec<C::Child> = (1..parts).map_while(|_| child.sibling()).collect();
        // Each thread selects and collects the documents of its range.
        let ranges = if siblings.is_empty() {
            std::iter::once(0..usize::MAX).collect()
        } else {
            child.tables().touched_ranges(siblings.len() + 1, touched)
        };
        let work = std::iter::once(child).chain(siblings).zip(ranges);
        fruits.extend(on_threads(work.collect(), |(mut c, words)| {
            let docs = c
                .tables()
                .pass_docs(alive, min_matched, check_status, words);
            for doc in docs {
                c.collect(doc, 0.0);
            }
            c.harvest()
        }));
    }
    collector.merge_fruits(fruits)
}

impl PassSegment for CandidateSegment {
    fn tables(&self) -> &Tables {
        &self.tables
    }
    fn min_matched(&self) -> usize {
        self.spec.weights.min_matched_terms
    }
    fn status_in_collect(&self) -> bool {
        true
    }
    fn sibling(&self) -> Option<CandidateSegment> {
        Some(CandidateSegment {
            spec: self.spec.clone(),
            tables: self.tables.clone(),
            pt: self.pt.clone(),
            visits: self.visits.clone(),
            available: self.available.clone(),
            hours: self.hours.clone(),
            boxes: self.boxes.clone(),
            far_boxes: self.far_boxes.clone(),
            unknown_wps: self.unknown_wps.clone(),
            places: PlacesLease::take(&self.places.home),
            scratch: Vec::new(),
            heaps: (0..self.heaps.len())
                .map(|_| Heap::new(self.spec.limit))
                .collect(),
            counts_per_wp: vec![(0, 0); self.counts_per_wp.len()],
            // Siblings are made before any document is collected: no hits yet.
            fit: self.fit.clone(),
        })
    }
}

impl PassSegment for FitSegment {
    fn tables(&self) -> &Tables {
        &self.0.tables
    }
    fn min_matched(&self) -> usize {
        self.0.spec.weights.min_matched_terms
    }
    fn status_in_collect(&self) -> bool {
        true
    }
    fn sibling(&self) -> Option<FitSegment> {
        self.0.sibling().map(FitSegment)
    }
}

impl PassSegment for OfferSegment {
    fn tables(&self) -> &Tables {
        &self.tables
    }
    fn min_matched(&self) -> usize {
        self.spec.weights.min_matched_terms
    }
}

// ---------------------------------------------------------------------------
// Candidate → offers
// ---------------------------------------------------------------------------

/// The candidate side of a candidate → offers pass.
#[derive(Debug, Clone)]
pub struct CandidateSpec {
    pub weights: MatchingWeights,
    pub rome_codes: Vec<String>,
    /// Offer ROME codes related to the candidate's (the query's ROME
    /// clauses).
    pub related: Vec<String>,
    /// The candidate's terms found in the offers' matching terms, with
    /// their idf from the whole candidate index.
    pub terms: Vec<(String, f64)>,
    pub home: Option<Point>,
    pub commune_key: u64,
    pub max_travel_km: Option<i64>,
    pub public_transport_only: bool,
    pub has_vehicle: bool,
    pub available_day: Option<i64>,
    pub weekly_hours: Option<i64>,
    /// Accepted contract types (empty = any).
    pub contract_types: Vec<String>,
    pub network_consent: bool,
    /// Certifications held, implications included
    /// ([`Certifications::held`]).
    pub held: BTreeSet<String>,
    pub driving_licences: Vec<String>,
    /// Today in days.
    pub today: i64,
    /// Only offers with a workplace within this radius of home (when home
    /// is known).
    pub radius_km: f64,
    pub limit: usize,
    pub near_misses: bool,
}

struct OfferCollector {
    spec: Arc<CandidateSpec>,
    terms: [(Field, f64); 3],
    rome: Field,
    ids: Vec<Option<SegmentIds>>,
}

struct OfferSegment {
    spec: Arc<CandidateSpec>,
    tables: Tables,
    wp_pt: Option<Column<u64>>,
    wp_commune: Option<Column<u64>>,
    vehicle: Option<Column<bool>>,
    start: Option<Column<i64>>,
    published: Option<Column<i64>>,
    hours: Option<Column<i64>>,
    local: Option<Column<bool>>,
    /// The offers' desired certifications, and per ordinal whether the
    /// candidate holds it.
    desired: Option<StrColumn>,
    desired_held: Vec<bool>,
    heap: Heap,
    considered: usize,
    excluded: usize,
    points: Vec<u64>,
    communes: Vec<u64>,
    /// The candidate's home, when known.
    home: Option<Area>,
}

impl Collector for OfferCollector {
    type Fruit = PassResult;
    type Child = OfferSegment;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<OfferSegment> {
        let spec = self.spec.clone();
        let text: Vec<(Field, Vec<(String, i64)>)> = self
            .terms
            .iter()
            .map(|&(field, factor)| {
                let weighted = spec
                    .terms
                    .iter()
                    .map(|(t, idf)| (t.clone(), term_weight(factor, *idf)))
                    .collect();
                (field, weighted)
            })
            .collect();
        let refs = Referentials::global();
        let tables = Tables::new(
            segment,
            None,
            &text,
            self.rome,
            &spec.related,
            F_OFFER_LICENCE,
            &["open"],
            Rules {
                rome: |t: &str| super::best_relation(refs, &spec.rome_codes, t),
                // `held` holds the licences as their `PERMIS_*` codes.
                licence: |t: &str| Certifications::meets_licence(&spec.held, t),
                cert: |t: &str| u64::from(Certifications::satisfied(&spec.held, t)),
                contract: |t: &str| {
                    spec.contract_types.is_empty() || spec.contract_types.iter().any(|c| c == t)
                },
            },
        )?
        .with_ids(ord, self.ids.get(ord as usize).cloned().flatten());
        let fast = segment.fast_fields();
        let desired = fast.str(F_DESIRED_CERT)?;
        Ok(OfferSegment {
            home: spec.home.map(|p| Area::around(p, spec.radius_km)),
            tables,
            wp_pt: fast.column_opt::<u64>(F_WP_PT)?,
            wp_commune: fast.column_opt::<u64>(F_WP_COMMUNE)?,
            vehicle: fast.column_opt::<bool>(F_VEHICLE)?,
            start: fast.column_opt::<i64>(F_START)?,
            desired_held: ord_table(desired.as_ref(), |t| {
                Certifications::satisfied(&spec.held, t)
            })?,
            desired,
            published: fast.column_opt::<i64>(F_PUBLISHED)?,
            hours: fast.column_opt::<i64>(F_HOURS)?,
            local: fast.column_opt::<bool>(F_LOCAL)?,
            heap: Heap::new(spec.limit),
            considered: 0,
            excluded: 0,
            points: Vec::new(),
            communes: Vec::new(),
            spec,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<PassResult>) -> tantivy::Result<PassResult> {
        Ok(merge(fruits, self.spec.limit))
    }
}

impl SegmentCollector for OfferSegment {
    type Fruit = PassResult;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let spec = &*self.spec;
        let w = &spec.weights;
        let Some((relation, sum)) = self.tables.relevant(doc, w.min_matched_terms) else {
            return;
        };
        self.points.clear();
        self.communes.clear();
        if let Some(c) = &self.wp_pt {
            self.points.extend(c.values_for_doc(doc));
        }
        if let Some(c) = &self.wp_commune {
            self.communes.extend(c.values_for_doc(doc));
        }
        // Pre-selection: a workplace within the radius of a known home.
        if let Some(home) = self.home {
            let near = self
                .points
                .iter()
                .filter_map(|&v| point_of(v))
                .any(|p| home.distance_to(p).is_some());
            if !near {
                return;
            }
        }
        let limit = travel_limit_of(w, spec.max_travel_km, spec.public_transport_only);
        let mut failed = false;
        let requires_licence = self.tables.has_licence(doc);
        if requires_licence && !self.tables.licence_ok(doc) {
            failed = true;
        }
        if !self.tables.certs_all(doc) {
            failed = true;
        }
        let vehicle_required = self
            .vehicle
            .as_ref()
            .and_then(|c| c.first(doc))
            .unwrap_or(false);
        if vehicle_required && !spec.has_vehicle {
            failed = true;
        }
        let start = self
            .start
            .as_ref()
            .and_then(|c| c.first(doc))
            .filter(|d| *d != i64::MIN);
        let published = self
            .published
            .as_ref()
            .and_then(|c| c.first(doc))
            .unwrap_or(0);
        let grace = w.availability_grace_days.max(0);
        let (availability, late) = availability_value(
            spec.available_day,
            reference_day(start, published, spec.today),
            grace,
        );
        if late > grace {
            failed = true;
        }
        let local = self
            .local
            .as_ref()
            .and_then(|c| c.first(doc))
            .unwrap_or(true);
        if !local && !spec.network_consent {
            failed = true;
        }
        let hours = hours_value(
            spec.weekly_hours,
            self.hours
                .as_ref()
                .and_then(|c| c.first(doc))
                .filter(|h| *h >= 0),
        );
        let contract = if self.tables.contract_ok(doc, false) {
            1.0
        } else {
            0.0
        };
        let (mut desired, mut held) = (0, 0);
        for o in ords(self.desired.as_ref(), doc) {
            desired += 1;
            held += usize::from(self.desired_held.get(o).copied().unwrap_or(false));
        }
        let base = PartValues {
            rome: rome_value(relation),
            text: text_value(sum, w.text_saturation),
            distance: 0.0,
            availability,
            hours,
            contract,
            vehicle: 0.0,
            certifications: desired_value(held, desired),
        };
        let mut best: Option<(Key, usize)> = None;
        // An eligible workplace ranks before any ineligible one, so without
        // near misses the ineligible ones are only noted, not scored.
        let mut ineligible_seen = false;
        for (i, (&pt, &commune)) in self.points.iter().zip(&self.communes).enumerate() {
            let distance_km = if commune == spec.commune_key {
                Some(0.0)
            } else {
                match (self.home, point_of(pt)) {
                    (Some(h), Some(p)) => Some(haversine_prepared(&h.centre, &p.prepared())),
                    _ => None,
                }
            };
            let mut values = base;
            let mut wp_failed = failed;
            if let Some(d) = distance_km {
                values.distance = distance_value(d, limit);
                if d > limit {
                    wp_failed = true;
                }
            }
            if wp_failed && !spec.near_misses {
                ineligible_seen = true;
                continue;
            }
            let needs_vehicle = vehicle_required
                || requires_licence
                || distance_km.is_some_and(|d| d > VEHICLE_NEEDED_KM);
            values.vehicle = if !needs_vehicle || spec.has_vehicle {
                1.0
            } else {
                0.0
            };
            let key = rank_key_of(!wp_failed, total_score(&values, w), distance_km);
            if best.is_none_or(|b| (key, i) < b) {
                best = Some((key, i));
            }
        }
        let Some((key, workplace)) = best else {
            if ineligible_seen {
                self.considered += 1;
                self.excluded += 1;
            }
            return;
        };
        self.considered += 1;
        if key.0 {
            self.excluded += 1;
            if !spec.near_misses {
                return;
            }
        }
        let tables = &self.tables;
        self.heap.offer(key, workplace, doc, || tables.id_ord(doc));
    }

    fn harvest(self) -> PassResult {
        PassResult {
            considered: self.considered,
            excluded: self.excluded,
            top: self
                .tables
                .resolve(vec![self.heap.into_sorted()])
                .into_iter()
                .flatten()
                .collect(),
        }
    }
}

/// Candidate → offers: one pass over the offer index (open offers).
pub fn offers_for_candidate(
    fields: &OfferMatchFields,
    spec: CandidateSpec,
) -> Result<PassResult, SearchError> {
    if spec.terms.is_empty() && spec.related.is_empty() {
        return Ok(PassResult::default());
    }
    let collector = OfferCollector {
        spec: Arc::new(spec),
        terms: fields.terms,
        rome: fields.rome,
        ids: fields.ids.clone(),
    };
    Ok(run_pass(&fields.searcher, &collector, (1, SPLIT_MIN_DOCS))?)
}

/// Which of `terms` occur in any of the offer index's matching-term fields.
pub fn offer_terms_present(
    fields: &OfferMatchFields,
    terms: impl IntoIterator<Item = String>,
) -> Result<Vec<String>, SearchError> {
    let mut out = Vec::new();
    let mut inverted = Vec::new();
    for segment in fields.searcher.segment_readers() {
        for (field, _) in fields.terms {
            inverted.push((field, segment.inverted_index(field)?));
        }
    }
    for t in terms {
        let mut found = false;
        for (field, inv) in &inverted {
            if inv
                .get_term_info(&Term::from_field_text(*field, &t))?
                .is_some()
            {
                found = true;
                break;
            }
        }
        if found {
            out.push(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::haversine_km;
    use crate::search::commune_key;

    /// One candidate ready to travel far is looked for as far as their
    /// limit; the others only within the radius: a Parisian ready to
    /// travel 500 km is visited for a Lyon workplace (392 km), one ready
    /// to travel 100 km is not; a radius larger than every limit reaches
    /// everyone.
    #[test]
    fn far_travellers_alone_widen_the_homes_visited() {
        use crate::search::{HomeGrid, Visit};
        let at = |lat: f64, lon: f64| Point {
            lat_micro: (lat * 1e6) as i64,
            lon_micro: (lon * 1e6) as i64,
        };
        let (paris, lyon) = (at(48.8566, 2.3522), at(45.7640, 4.8357));
        // (home, own limit): 0 and 1 in Paris, 2 in Lyon, 3 in Paris
        // without a limit.
        let docs = [(paris, 100), (paris, 500), (lyon, -1), (paris, -1)];
        let rows: Vec<Visit> = docs
            .iter()
            .map(|(_, t)| Visit {
                travel: *t,
                ..Visit::default()
            })
            .collect();
        let homes = || docs.iter().enumerate().map(|(d, (p, _))| (d as DocId, *p));
        let visits = Visits {
            far_homes: HomeGrid::new(homes().filter(|(d, _)| docs[*d as usize].1 > FAR_TRAVEL_KM)),
            homes: HomeGrid::new(homes()),
            max_travel: 500,
            rows,
        };
        let wp = [WorkplaceSpec {
            index: 0,
            point: Some(lyon),
            commune_key: 0,
        }];
        // (radius, default limit, largest limit in the index)
        let marked = |radius: f64, default: f64, largest: i32| {
            let (near, reach) = near_and_reach(radius, default, largest);
            let areas = |km: f64| -> Vec<Option<Area>> {
                wp.iter()
                    .map(|w| w.point.map(|p| Area::around(p, km)))
                    .collect()
            };
            let far = (reach > near).then(|| areas(reach));
            let words = homes_within(&visits, &areas(near), far.as_deref(), docs.len() as DocId);
            (0..docs.len())
                .filter(|d| bits::get(&words, *d))
                .collect::<Vec<_>>()
        };
        assert_eq!(marked(150.0, 30.0, 500), [1, 2]);
        assert_eq!(marked(150.0, 30.0, 100), [2]);
        assert_eq!(marked(600.0, 30.0, 500), [0, 1, 2, 3]);
        assert_eq!(marked(50.0, 30.0, 50), [2]);
        // Without a recorded limit, the default one (here 450 km) counts.
        assert_eq!(marked(50.0, 450.0, 100), [0, 1, 2, 3]);
        assert_eq!(near_and_reach(50.0, 30.0, 100), (100.0, 100.0));
        assert_eq!(near_and_reach(150.0, 30.0, 500), (150.0, 500.0));
        assert_eq!(near_and_reach(50.0, 200.0, 500), (200.0, 500.0));
    }

    #[test]
    fn insee_slots_are_dense_and_distinct() {
        let refs = Referentials::global();
        let mut seen = std::collections::HashSet::new();
        for c in refs.communes() {
            let slot = insee_slot(commune_key(&c.insee))
                .unwrap_or_else(|| panic!("no slot for {}", c.insee));
            assert!(slot < INSEE_SLOTS, "{} → {slot}", c.insee);
            assert!(seen.insert(slot), "{} shares slot {slot}", c.insee);
        }
        assert_eq!(insee_slot(commune_key("2A004")), Some(100_004));
        assert_eq!(insee_slot(commune_key("2B033")), Some(101_033));
        assert_eq!(insee_slot(commune_key("97411")), Some(97_411));
        for other in ["", "4101", "410181", "2C004", "2a004", "41O18", "évian"] {
            assert_eq!(insee_slot(commune_key(other)), None, "{other:?}");
        }
        // Hashed keys (codes longer than 7 bytes) never take a slot.
        assert_eq!(insee_slot(commune_key("a-very-long-code")), None);
    }

    fn spec_at(workplaces: &[(&str, Option<Point>)], radius_km: f64) -> OfferSpec {
        OfferSpec {
            weights: MatchingWeights::default(),
            rome_code: "J1501".into(),
            related: Vec::new(),
            terms: Vec::new(),
            driving_licence: None,
            required_certifications: Vec::new(),
            desired_certifications: Vec::new(),
            vehicle_required: false,
            reference_day: 0,
            weekly_hours: None,
            contract_type: "CDI".into(),
            network: false,
            workplaces: workplaces
                .iter()
                .enumerate()
                .map(|(index, (insee, point))| WorkplaceSpec {
                    index,
                    point: *point,
                    commune_key: commune_key(insee),
                })
                .collect(),
            radius_km,
            limit: 20,
            near_misses: false,
            fit: None,
        }
    }

    /// The places kept per commune are what each home of the commune
    /// finds on its own: the same workplaces, bit-identical distances (0
    /// in the workplace's commune), whatever home came first.
    #[test]
    fn places_per_commune_agree_with_each_home() {
        let refs = Referentials::global();
        let point = |insee: &str| refs.commune(insee).and_then(|c| c.point);
        let spec = spec_at(
            &[
                ("41018", point("41018")),
                ("45234", point("45234")),
                ("99999", None),
                ("37261", point("37261")),
            ],
            80.0,
        );
        let boxes: Vec<_> = spec
            .workplaces
            .iter()
            .map(|wp| wp.point.map(|p| Area::around(p, spec.radius_km)))
            .collect();
        let mut places = Places::sized();
        let mut scratch = Vec::new();
        let mut near_some = 0;
        for c in refs.communes() {
            let key = commune_key(&c.insee);
            let slot = insee_slot(key).expect("slot");
            place_home(&spec, &boxes, c.point, Some(key), &mut scratch);
            places.insert(slot, &scratch);
            let mut expected = Vec::new();
            if let Some(h) = c.point {
                for (i, wp) in spec.workplaces.iter().enumerate() {
                    let Some(p) = wp.point else { continue };
                    let d = haversine_km(h, p);
                    if d <= spec.radius_km {
                        let shown = if wp.commune_key == key { 0.0 } else { d };
                        expected.push(Place {
                            wp: i as u32,
                            distance_km: shown,
                        });
                    }
                }
            }
            near_some += usize::from(!expected.is_empty());
            assert_eq!(places.get(slot), Some(expected.as_slice()), "{}", c.insee);
        }
        assert!(near_some > 100, "{near_some} communes near the workplaces");
        let blois = places
            .get(insee_slot(commune_key("41018")).expect("slot"))
            .expect("placed");
        assert_eq!(
            blois.first(),
            Some(&Place {
                wp: 0,
                distance_km: 0.0
            }),
            "Blois is at 0 km from its own workplace"
        );
    }

    /// A pass split by document range across threads finds what one
    /// thread finds: the same considered and excluded counts per
    /// Contracts accepted from a document's visit entry (ordinals as bits)
    /// or from the column (an ordinal beyond 15): the same answer.
    #[test]
    fn contracts_from_bits_answer_as_the_column() {
        use crate::search::{small_candidate_index, CandidateDoc};
        let dir = tempfile::tempdir().expect("tempdir");
        let index = small_candidate_index(dir.path());
        let types: Vec<String> = (0..20).map(|i| format!("K{i:02}")).collect();
        for i in 0..80usize {
            let doc = CandidateDoc {
                id: format!("c{i:02}"),
                full_name: format!("Candidat {i}"),
                status: "active".into(),
                contract_types: (0..i % 4)
                    .map(|k| types[(i * 7 + k * 3) % types.len()].clone())
                    .collect(),
                ..CandidateDoc::default()
            };
            index.upsert(&doc).expect("upsert");
        }
        index.commit_now().expect("commit");
        let fields = index.match_fields().expect("fields");
        let (mut from_bits, mut from_column, mut accepted) = (0, 0, 0);
        for (ord, segment) in fields.searcher.segment_readers().iter().enumerate() {
            let tables = Tables::new(
                segment,
                None,
                &[],
                fields.rome,
                &[],
                F_CERT,
                LISTABLE_STATUSES,
                Rules {
                    rome: |_: &str| RomeRelation::None,
                    licence: |_: &str| false,
                    cert: |_: &str| 0,
                    contract: |t: &str| ["K03", "K15", "K17"].contains(&t),
                },
            )
            .expect("tables");
            let visits = &fields.visits[ord];
            for doc in 0..segment.max_doc() {
                let bits = visits.get(doc).contract_bits();
                match bits {
                    Some(_) => from_bits += 1,
                    None => from_column += 1,
                }
                for none_accepts in [true, false] {
                    let want = tables.contract_ok(doc, none_accepts);
                    assert_eq!(
                        tables.contract_accepts(bits, doc, none_accepts),
                        want,
                        "doc {doc}, {bits:?}, none accepts: {none_accepts}"
                    );
                    accepted += usize::from(want && !none_accepts);
                }
            }
        }
        assert!(from_bits > 10 && from_column > 10 && accepted > 5);
    }

    /// workplace, the same rows in the same order (with and without near
    /// misses), and in fit mode the same candidates in document order.
    #[test]
    fn a_split_pass_finds_what_one_thread_finds() {
        use crate::search::{analyze, small_candidate_index, CandidateDoc, FR};
        let refs = Referentials::global();
        let dir = tempfile::tempdir().expect("tempdir");
        let index = small_candidate_index(dir.path());
        let communes: Vec<_> = refs
            .communes()
            .iter()
            // Homes near the radius's edge (18, 36, 86, 28, 61) and far
            // beyond it (13, 67) too.
            .filter(|c| {
                [
                    "13", "18", "28", "36", "37", "41", "45", "61", "67", "72", "86",
                ]
                .contains(&c.insee.get(..2).unwrap_or(""))
            })
            .filter(|c| c.point.is_some())
            .step_by(9)
            .collect();
        let mut seed: u64 = 0x5eed;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let pick = |words: &[&'static str], i: u64| words[i as usize % words.len()].to_string();
        let codes = ["N1101", "N1105", "N1103", "K1302", "F1703"];
        let titles = [
            "Cariste",
            "Manutentionnaire",
            "Préparateur de commandes",
            "Aide à domicile",
        ];
        let words = [
            "chariot",
            "entrepôt",
            "stocks",
            "manutention",
            "caces",
            "soins",
            "béton",
        ];
        let statuses = ["active", "active", "active", "in_referral", "placed"];
        for i in 0..1_500 {
            let commune = communes[next(communes.len() as u64) as usize];
            let doc = CandidateDoc {
                id: format!("c{i:04}"),
                full_name: format!("Candidat {i}"),
                status: pick(&statuses, next(5)),
                job_titles: vec![pick(&titles, next(4))],
                cv_text: (0..3)
                    .map(|_| pick(&words, next(7)))
                    .collect::<Vec<_>>()
                    .join(" "),
                rome_codes: vec![pick(&codes, next(5))],
                commune_insee: commune.insee.clone(),
                point: commune.point,
                driving_licences: if next(2) == 0 {
                    vec!["B".into()]
                } else {
                    Vec::new()
                },
                has_vehicle: next(3) != 0,
                available_from_days: (next(4) == 0).then(|| next(200) as i64),
                contract_types: if next(3) == 0 {
                    vec!["CDI".into()]
                } else {
                    Vec::new()
                },
                max_travel_km: (next(3) != 0).then(|| 5 + next(60) as i64),
                public_transport_only: next(6) == 0,
                certifications: if next(4) == 0 {
                    vec!["CACES_R489_3".into()]
                } else {
                    Vec::new()
                },
                network_consent: next(2) == 0,
                ..CandidateDoc::default()
            };
            index.upsert(&doc).expect("upsert");
            if i == 749 {
                // Two segments: the rows' addresses name their segment.
                index.commit_now().expect("commit");
            }
        }
        index.commit_now().expect("commit");
        let point = |insee: &str| refs.commune(insee).and_then(|c| c.point);
        let mut spec = spec_at(
            &[
                ("41018", point("41018")),
                ("45234", point("45234")),
                ("99999", None),
                ("37261", point("37261")),
            ],
            150.0,
        );
        spec.rome_code = "N1101".into();
        spec.related = refs.rome_codes_related_to(&["N1101".to_string()]);
        spec.terms = analyze(FR, "cariste chariot entrepôt stocks caces")
            .into_iter()
            .map(|t| (t, 40))
            .collect();
        spec.driving_licence = Some("B".into());
        spec.reference_day = 100;
        spec.limit = 15;
        let fields = |threads: usize| {
            let mut f = index.match_fields().expect("fields");
            f.threads = threads;
            f.split_min_docs = 1;
            f
        };
        let docs: usize = fields(1)
            .searcher
            .segment_readers()
            .iter()
            .map(|s| s.num_docs() as usize)
            .sum();
        assert_eq!(docs, 1_500);
        for near_misses in [false, true] {
            let spec = OfferSpec {
                near_misses,
                ..spec.clone()
            };
            let one = candidates_for_offer(&fields(1), spec.clone()).expect("one thread");
            assert!(
                one.iter().any(|r| r.considered > 50 && r.top.len() == 15),
                "{one:?}"
            );
            // The rows' documents are theirs: the terms each holds, read at
            // its address in the pass's searcher, are those found by id.
            let f = fields(1);
            let rows = candidates_for_offer(&f, spec.clone()).expect("rows");
            let docs: Vec<(tantivy::DocAddress, String)> = rows
                .iter()
                .flat_map(|r| r.top.iter().map(|h| (h.doc, h.id.clone())))
                .collect();
            let ids: Vec<String> = docs.iter().map(|(_, id)| id.clone()).collect();
            let words: Vec<String> = spec.terms.iter().map(|(t, _)| t.clone()).collect();
            let at = index
                .match_terms_held_at(&f.searcher, &docs, &words)
                .expect("held at");
            let by_id = index.match_terms_held(&ids, &words).expect("held by id");
            assert!(at.values().any(|h| h.iter().any(|x| *x)), "{at:?}");
            assert!(at.values().any(|h| h.iter().any(|x| !*x)), "{at:?}");
            assert_eq!(at, by_id);
            // Every workplace with a centre: only the documents of the
            // grid cells meeting their boxes are visited; the rows of a
            // pass visiting every document (an unknown centre turns the
            // grid off) at the same workplaces.
            let centred = OfferSpec {
                workplaces: spec
                    .workplaces
                    .iter()
                    .filter(|w| w.point.is_some())
                    .cloned()
                    .collect(),
                ..spec.clone()
            };
            let in_cells = candidates_for_offer(&fields(1), centred).expect("grid");
            let at_centres = one.iter().enumerate().filter(|(i, _)| *i != 2);
            assert_eq!(in_cells.len(), 3);
            for (a, (i, b)) in in_cells.iter().zip(at_centres) {
                assert_eq!(
                    (a.considered, a.excluded),
                    (b.considered, b.excluded),
                    "{i}"
                );
                assert_eq!(a.top, b.top, "workplace {i}, near misses {near_misses}");
            }
            for threads in [2, 3] {
                let split = candidates_for_offer(&fields(threads), spec.clone()).expect("split");
                assert_eq!(split.len(), one.len());
                for (a, b) in one.iter().zip(&split) {
                    assert_eq!((a.considered, a.excluded), (b.considered, b.excluded));
                    assert_eq!(a.top, b.top, "{threads} threads, near misses {near_misses}");
                }
            }
        }
        let fit = OfferSpec {
            fit: Some(FitSpec {
                radii_km: vec![30.0, 40.0, 0.0, 25.0],
                contract_types: vec!["CDI".into()],
            }),
            ..spec
        };
        let one = candidates_fitting(&fields(1), fit.clone()).expect("fit, one thread");
        assert!(one.len() > 10, "{}", one.len());
        let split = candidates_fitting(&fields(2), fit).expect("fit, split");
        assert_eq!(one, split);
    }
}
