//! The matching features of both indexes (fast fields), read by
//! [`crate::matching::pass`]: every part of a score and every eligibility
//! rule is computed from these, inside a collector, without loading a
//! record from the database.
//!
//! Candidates: ROME codes (`rome`, str), home (`pt`), commune
//! ([`F_COMMUNE_KEY`]), own travel limit and public transport
//! ([`F_TRAVEL`], [`F_PT_ONLY`]), driving licences (`licence`, str),
//! certifications with licences as `PERMIS_*` ([`F_CERT`], str), vehicle
//! (`has_vehicle`), availability day (`available_from`), weekly hours
//! ([`F_HOURS`]), accepted contracts (`contract_type`, str), consent scope
//! ([`F_NETWORK`]), status (`status`, str); the text side is the
//! `match_text` postings.
//!
//! Offers: ROME code (`rome`), each workplace in order ([`F_WP_PT`],
//! [`F_WP_COMMUNE`]: one value per workplace, [`UNKNOWN_POINT`] when the
//! centre is not known), required licence (`driving_licence`, str),
//! required and desired certifications ([`F_CERT`], [`F_DESIRED_CERT`]),
//! vehicle required ([`F_VEHICLE`]),
//! start and publication days ([`F_START`], [`F_PUBLISHED`]), weekly hours
//! ([`F_HOURS`]), contract type (`contract_type`, str), local or network
//! ([`F_LOCAL`]), status (`status`, str); the text side is the offer's
//! matching terms, one raw-term field per factor ([`F_TERMS_TITLE`] ×2,
//! [`F_TERMS_LABEL`] ×1.5, [`F_TERMS_DESCRIPTION`] ×1).
//!
//! Str columns are read by term ordinal: a rule (licence satisfied, ROME
//! relation, certification granted, contract accepted) is evaluated once
//! per term of a segment's dictionary — a per-segment table (bitset) of
//! ordinals — then looked up per document.

use tantivy::schema::Field;
use tantivy::Searcher;

use super::id_table::SegmentIds;
use crate::geo::{BoundingBox, Point};

/// `commune_key` of the home commune (candidates).
pub const F_COMMUNE_KEY: &str = "m_commune";
/// Own travel limit in km, -1 when none (candidates).
pub const F_TRAVEL: &str = "m_travel";
/// Public transport only (candidates).
pub const F_PT_ONLY: &str = "m_pt_only";
/// Weekly hours, -1 when not given (both).
pub const F_HOURS: &str = "m_hours";
/// Consent covers the network (candidates).
pub const F_NETWORK: &str = "m_network";
/// Certifications held (candidates, with licences as `PERMIS_*`) or
/// required (offers).
pub const F_CERT: &str = "certification";
/// Desired certifications (offers).
pub const F_DESIRED_CERT: &str = "m_desired_cert";
/// Candidates' availability day (i64::MIN = now).
pub const F_AVAILABLE: &str = "available_from";
pub const F_HAS_VEHICLE: &str = "has_vehicle";
pub const F_LICENCE: &str = "licence";
pub const F_OFFER_LICENCE: &str = "driving_licence";
pub const F_CONTRACT: &str = "contract_type";
pub const F_STATUS: &str = "status";
/// Workplaces' packed points in order (offers).
pub const F_WP_PT: &str = "m_wp_pt";
/// Workplaces' `commune_key`s in order (offers).
pub const F_WP_COMMUNE: &str = "m_wp_commune";
pub const F_VEHICLE: &str = "m_vehicle";
/// Start day, i64::MIN when none (offers).
pub const F_START: &str = "m_start";
pub const F_PUBLISHED: &str = "m_published";
pub const F_LOCAL: &str = "m_local";
pub const F_TERMS_TITLE: &str = "m_terms_title";
pub const F_TERMS_LABEL: &str = "m_terms_label";
pub const F_TERMS_DESCRIPTION: &str = "m_terms_description";

/// The value of a workplace whose centre is not known in [`F_WP_PT`].
pub const UNKNOWN_POINT: u64 = u64::MAX;

/// A commune code as a `u64`: equal codes give equal keys (codes of up
/// to 7 bytes are packed, longer ones hashed with the top bit set).
pub fn commune_key(insee: &str) -> u64 {
    let s = insee.trim().as_bytes();
    if s.len() <= 7 {
        let mut v: u64 = 0;
        for &b in s {
            v = (v << 8) | u64::from(b);
        }
        (v << 8) | s.len() as u64
    } else {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in s {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h | (1 << 63)
    }
}

/// What the offer → candidates pass reads of every document it visits
/// (commune, own travel limit, public transport only, status, vehicle,
/// network consent, availability day, weekly hours, accepted contracts),
/// decoded from the columns once per segment into one array: the pass
/// reads one 24-byte entry per document, in document order, instead of
/// nine column look-ups (most in optional or multi-valued columns, each a
/// search in the column's index of rows).
#[derive(Debug, Default)]
pub struct Visits {
    pub rows: Vec<Visit>,
    /// The largest [`Visit::travel`] of the segment (-1 when none).
    pub max_travel: i32,
    /// The documents by the grid cell of their home ([`HomeGrid`]).
    pub homes: HomeGrid,
    /// The documents whose own travel limit exceeds [`FAR_TRAVEL_KM`], by
    /// the cell of their home: a pass looks for them as far as the largest
    /// limit, and for the others only as far as its radius or
    /// [`FAR_TRAVEL_KM`] (one candidate ready to travel 500 km does not
    /// make every pass visit everyone within 500 km).
    pub far_homes: HomeGrid,
}

/// Own travel limit (km) beyond which a document is a far traveller
/// ([`Visits::far_homes`]).
pub const FAR_TRAVEL_KM: i32 = 150;

/// Side of a [`HomeGrid`] cell in micro-degrees (0.25°: about 28 km of
/// latitude, 19 km of longitude in metropolitan France).
const CELL_MICRO: i64 = 250_000;

/// The documents of a segment with a home point, grouped by the grid cell
/// holding it: a pass whose workplaces all have a centre visits only the
/// documents of the cells meeting their boxes ([`HomeGrid::mark`]) instead
/// of every document its terms touch anywhere in the country.
#[derive(Debug, Default)]
pub struct HomeGrid {
    /// Cells with at least one home, sorted: (latitude row, longitude column).
    cells: Vec<(i64, i64)>,
    /// `docs[starts[i]..starts[i + 1]]`: the documents of `cells[i]`, in order.
    starts: Vec<usize>,
    docs: Vec<tantivy::DocId>,
}

/// The cell row (or column) of a coordinate in micro-degrees.
fn cell_of(micro: i64) -> i64 {
    micro.div_euclid(CELL_MICRO)
}

impl HomeGrid {
    /// The grid of `(document, home)` pairs.
    pub fn new(homes: impl IntoIterator<Item = (tantivy::DocId, Point)>) -> HomeGrid {
        let mut keyed: Vec<((i64, i64), tantivy::DocId)> = homes
            .into_iter()
            .map(|(doc, p)| ((cell_of(p.lat_micro), cell_of(p.lon_micro)), doc))
            .collect();
        keyed.sort_unstable();
        let mut grid = HomeGrid {
            docs: Vec::with_capacity(keyed.len()),
            ..HomeGrid::default()
        };
        for (i, (cell, doc)) in keyed.iter().enumerate() {
            if grid.cells.last() != Some(cell) {
                grid.cells.push(*cell);
                grid.starts.push(i);
            }
            grid.docs.push(*doc);
        }
        grid.starts.push(grid.docs.len());
        grid
    }

    /// Sets bit `d` of `words` for each document `d` of the cells meeting
    /// `bbox`: every document whose home lies inside the box is marked
    /// (with others of the same cells, which the pass's distance rejects).
    pub fn mark(&self, bbox: &BoundingBox, words: &mut [u64]) {
        let (lon0, lon1) = (cell_of(bbox.min_lon), cell_of(bbox.max_lon));
        for lat in cell_of(bbox.min_lat)..=cell_of(bbox.max_lat) {
            let from = self.cells.partition_point(|c| *c < (lat, lon0));
            let to = self.cells.partition_point(|c| *c <= (lat, lon1));
            let (Some(&start), Some(&end)) = (self.starts.get(from), self.starts.get(to)) else {
                continue;
            };
            for &d in self.docs.get(start..end).unwrap_or(&[]) {
                crate::util::bits::set(words, d as usize);
            }
        }
    }
}

/// One document of [`Visits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    /// [`F_COMMUNE_KEY`], when [`Visit::HAS_COMMUNE`].
    pub commune: u64,
    /// [`F_TRAVEL`] (km, saturated to `i32`), -1 when none.
    pub travel: i32,
    /// [`F_AVAILABLE`] (day), [`Visit::NO_DAY`] when none or "now";
    /// unless [`Visit::WIDE`].
    pub available: i32,
    /// Ordinal of the status in the segment's `status` dictionary
    /// ([`Visit::NO_STATUS`] when none).
    pub status: u16,
    /// [`F_HOURS`], -1 when none; unless [`Visit::WIDE`].
    pub hours: i16,
    /// Bit `o`: the document accepts the contract of ordinal `o` in the
    /// segment's `contract_type` dictionary; unless
    /// [`Visit::WIDE_CONTRACTS`].
    pub contracts: u16,
    pub flags: u8,
}

impl Default for Visit {
    fn default() -> Self {
        Visit {
            commune: 0,
            travel: -1,
            available: Visit::NO_DAY,
            status: Visit::NO_STATUS,
            hours: -1,
            contracts: 0,
            flags: 0,
        }
    }
}

impl Visit {
    pub const HAS_COMMUNE: u8 = 1;
    pub const PT_ONLY: u8 = 2;
    pub const HAS_VEHICLE: u8 = 4;
    /// The consent covers the network ([`F_NETWORK`]).
    pub const NETWORK: u8 = 8;
    /// The availability day or the weekly hours do not fit their fields:
    /// read both from the columns.
    pub const WIDE: u8 = 16;
    /// A contract ordinal beyond 15: read the contracts from the column.
    pub const WIDE_CONTRACTS: u8 = 32;
    /// No status, or an ordinal beyond `u16` (a status dictionary holds a
    /// handful of values).
    pub const NO_STATUS: u16 = u16::MAX;
    /// No availability day, or "now" (`i64::MIN` in the column).
    pub const NO_DAY: i32 = i32::MIN;

    pub fn commune(&self) -> Option<u64> {
        (self.flags & Visit::HAS_COMMUNE != 0).then_some(self.commune)
    }

    /// Own travel limit (km), if any.
    pub fn travel(&self) -> Option<i64> {
        (self.travel >= 0).then_some(i64::from(self.travel))
    }

    /// Own travel limit beyond [`FAR_TRAVEL_KM`] ([`Visits::far_homes`]).
    pub fn far_traveller(&self) -> bool {
        self.travel > FAR_TRAVEL_KM
    }

    pub fn pt_only(&self) -> bool {
        self.flags & Visit::PT_ONLY != 0
    }

    pub fn has_vehicle(&self) -> bool {
        self.flags & Visit::HAS_VEHICLE != 0
    }

    pub fn network(&self) -> bool {
        self.flags & Visit::NETWORK != 0
    }

    /// The availability day and weekly hours as the pass reads them
    /// (`None`: not given, or "now" for the day), unless [`Visit::WIDE`].
    pub fn day_and_hours(&self) -> Option<(Option<i64>, Option<i64>)> {
        (self.flags & Visit::WIDE == 0).then(|| {
            (
                (self.available != Visit::NO_DAY).then_some(i64::from(self.available)),
                (self.hours >= 0).then_some(i64::from(self.hours)),
            )
        })
    }

    /// The contract ordinals accepted, as bits, unless
    /// [`Visit::WIDE_CONTRACTS`].
    pub fn contract_bits(&self) -> Option<u16> {
        (self.flags & Visit::WIDE_CONTRACTS == 0).then_some(self.contracts)
    }
}

impl Visits {
    /// Reads the columns of every document of a segment.
    pub fn build(segment: &tantivy::SegmentReader) -> tantivy::Result<Visits> {
        let fast = segment.fast_fields();
        let commune = fast.column_opt::<u64>(F_COMMUNE_KEY)?;
        let travel = fast.column_opt::<i64>(F_TRAVEL)?;
        let pt_only = fast.column_opt::<bool>(F_PT_ONLY)?;
        let vehicle = fast.column_opt::<bool>(F_HAS_VEHICLE)?;
        let network = fast.column_opt::<bool>(F_NETWORK)?;
        let available = fast.column_opt::<i64>(F_AVAILABLE)?;
        let hours = fast.column_opt::<i64>(F_HOURS)?;
        let status = fast.str(F_STATUS)?;
        let contract = fast.str(F_CONTRACT)?;
        let pt = fast.column_opt::<u64>(super::engine::F_PT)?;
        let flag = |col: &Option<tantivy::columnar::Column<bool>>, doc, bit: u8| {
            if col.as_ref().and_then(|c| c.first(doc)).unwrap_or(false) {
                bit
            } else {
                0
            }
        };
        let rows: Vec<Visit> = (0..segment.max_doc())
            .map(|doc| {
                let mut v = Visit::default();
                if let Some(c) = commune.as_ref().and_then(|c| c.first(doc)) {
                    v.commune = c;
                    v.flags |= Visit::HAS_COMMUNE;
                }
                if let Some(t) = travel.as_ref().and_then(|c| c.first(doc)) {
                    v.travel = if t < 0 {
                        -1
                    } else {
                        i32::try_from(t).unwrap_or(i32::MAX)
                    };
                }
                v.flags |= flag(&pt_only, doc, Visit::PT_ONLY)
                    | flag(&vehicle, doc, Visit::HAS_VEHICLE)
                    | flag(&network, doc, Visit::NETWORK);
                let day = available
                    .as_ref()
                    .and_then(|c| c.first(doc))
                    .filter(|d| *d != i64::MIN);
                let weekly = hours
                    .as_ref()
                    .and_then(|c| c.first(doc))
                    .filter(|h| *h >= 0);
                let day = day.map(|d| i32::try_from(d).ok().filter(|d| *d != Visit::NO_DAY));
                let weekly = weekly.map(|h| i16::try_from(h).ok());
                match (day, weekly) {
                    (Some(None), _) | (_, Some(None)) => v.flags |= Visit::WIDE,
                    (day, weekly) => {
                        v.available = day.flatten().unwrap_or(Visit::NO_DAY);
                        v.hours = weekly.flatten().unwrap_or(-1);
                    }
                }
                if let Some(c) = &contract {
                    for o in c.term_ords(doc) {
                        match u32::try_from(o).ok().and_then(|o| 1u16.checked_shl(o)) {
                            Some(bit) => v.contracts |= bit,
                            None => v.flags |= Visit::WIDE_CONTRACTS,
                        }
                    }
                }
                if let Some(o) = status.as_ref().and_then(|s| s.term_ords(doc).next()) {
                    v.status = u16::try_from(o)
                        .ok()
                        .filter(|o| *o != Visit::NO_STATUS)
                        .unwrap_or(Visit::NO_STATUS);
                }
                v
            })
            .collect();
        let points: Vec<(tantivy::DocId, Point)> = (0..segment.max_doc())
            .filter_map(|doc| {
                pt.as_ref()
                    .and_then(|c| c.first(doc))
                    .map(|v| (doc, super::collect::unpack_point(v)))
            })
            .collect();
        let far_homes = HomeGrid::new(
            points
                .iter()
                .copied()
                .filter(|(doc, _)| rows.get(*doc as usize).is_some_and(Visit::far_traveller)),
        );
        let homes = HomeGrid::new(points);
        let max_travel = rows.iter().map(|v| v.travel).max().unwrap_or(-1);
        Ok(Visits {
            rows,
            homes,
            far_homes,
            max_travel,
        })
    }

    pub fn get(&self, doc: tantivy::DocId) -> Visit {
        self.rows.get(doc as usize).copied().unwrap_or_default()
    }
}

/// What the candidate pass needs from the candidate index.
pub struct CandidateMatchFields {
    pub searcher: Searcher,
    /// Per segment ordinal of `searcher`, its ids.
    pub ids: Vec<Option<SegmentIds>>,
    /// Job titles, skills and CV: the text side of matching.
    pub match_text: Field,
    pub rome: Field,
    /// Threads the pass may use ([`super::SearchOptions::pass_threads`]).
    pub threads: usize,
    /// Documents per thread below which a segment is not split.
    pub split_min_docs: usize,
    /// Per segment ordinal of `searcher`, its [`Visits`].
    pub visits: Vec<std::sync::Arc<Visits>>,
}

/// What the offer pass needs from the offer index.
pub struct OfferMatchFields {
    pub searcher: Searcher,
    /// Per segment ordinal of `searcher`, its ids.
    pub ids: Vec<Option<SegmentIds>>,
    /// Term fields by factor: (field, factor).
    pub terms: [(Field, f64); 3],
    pub rome: Field,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mark` sets every document whose home is inside the box, and only
    /// documents of the cells the box meets; random homes and boxes over
    /// the whole globe (negative coordinates, cell borders, boxes
    /// spanning every longitude).
    #[test]
    fn a_box_marks_every_home_inside_it() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let coord = |max: i64, rng: &mut rand::rngs::StdRng| -> i64 {
            // A third of the values on a cell border or next to one.
            match rng.gen_range(0..3) {
                0 => {
                    rng.gen_range(-max / CELL_MICRO..=max / CELL_MICRO) * CELL_MICRO
                        + rng.gen_range(-1..=1)
                }
                _ => rng.gen_range(-max..=max),
            }
        };
        let homes: Vec<(tantivy::DocId, Point)> = (0..3_000u32)
            .map(|d| {
                let p = Point {
                    lat_micro: coord(90_000_000, &mut rng),
                    lon_micro: coord(180_000_000, &mut rng),
                };
                (d * 3 + d % 2, p)
            })
            .collect();
        let grid = HomeGrid::new(homes.iter().copied());
        let max_doc = 9_000usize;
        for round in 0..400 {
            let bbox = if round == 0 {
                crate::geo::bounding_box(
                    Point {
                        lat_micro: 89_900_000,
                        lon_micro: 0,
                    },
                    150.0,
                )
            } else {
                let (a, b) = (coord(90_000_000, &mut rng), coord(90_000_000, &mut rng));
                let (c, d) = (coord(180_000_000, &mut rng), coord(180_000_000, &mut rng));
                let span = rng.gen_range(0..4_000_000);
                BoundingBox {
                    min_lat: a.min(b),
                    max_lat: a.min(b) + span.min((a - b).abs()),
                    min_lon: c.min(d),
                    max_lon: c.min(d) + span,
                }
            };
            let mut words = vec![0u64; max_doc.div_ceil(64)];
            grid.mark(&bbox, &mut words);
            let marked = |d: u32| words[d as usize / 64] & (1 << (d % 64)) != 0;
            let lats = cell_of(bbox.min_lat)..=cell_of(bbox.max_lat);
            let lons = cell_of(bbox.min_lon)..=cell_of(bbox.max_lon);
            for (d, p) in &homes {
                if bbox.contains(*p) {
                    assert!(marked(*d), "round {round}: {p:?} in {bbox:?} not marked");
                }
                let meets =
                    lats.contains(&cell_of(p.lat_micro)) && lons.contains(&cell_of(p.lon_micro));
                assert_eq!(marked(*d), meets, "round {round}: {p:?}, {bbox:?}");
            }
            let homed: std::collections::HashSet<u32> = homes.iter().map(|(d, _)| *d).collect();
            assert!((0..max_doc as u32)
                .filter(|d| !homed.contains(d))
                .all(|d| !marked(d)));
        }
    }

    /// Every entry says what the columns say, or sends the pass to them.
    #[test]
    fn visits_hold_what_the_columns_hold() {
        use crate::search::{small_candidate_index, CandidateDoc};
        let dir = tempfile::tempdir().expect("tempdir");
        let index = small_candidate_index(dir.path());
        // 20 contract types: ordinals 16 and beyond do not fit the bits.
        let contracts: Vec<String> = (0..20).map(|i| format!("K{i:02}")).collect();
        for i in 0..60i64 {
            let doc = CandidateDoc {
                id: format!("c{i:02}"),
                full_name: format!("Candidat {i}"),
                status: ["active", "placed"][(i % 2) as usize].into(),
                commune_insee: "41018".into(),
                has_vehicle: i % 3 == 0,
                network_consent: i % 4 == 0,
                public_transport_only: i % 5 == 0,
                available_from_days: match i % 6 {
                    0 => None,
                    1 => Some(i64::MIN),
                    2 => Some(20_000 + i),
                    3 => Some(i64::from(i32::MAX) + 5),
                    4 => Some(i64::from(i32::MIN)),
                    _ => Some(-3),
                },
                weekly_hours: match i % 7 {
                    0 => None,
                    1 => Some(35),
                    2 => Some(40_000),
                    _ => Some(i),
                },
                max_travel_km: (i % 2 == 0).then_some(i),
                contract_types: (0..(i % 3) as usize)
                    .map(|k| contracts[(i as usize * 7 + k * 5) % contracts.len()].clone())
                    .collect(),
                ..CandidateDoc::default()
            };
            index.upsert(&doc).expect("upsert");
        }
        index.commit_now().expect("commit");
        let fields = index.match_fields().expect("fields");
        let (mut wide, mut wide_contracts, mut narrow) = (0, 0, 0);
        for (ord, segment) in fields.searcher.segment_readers().iter().enumerate() {
            let visits = &fields.visits[ord];
            let fast = segment.fast_fields();
            let boolean = |name: &str, doc| {
                fast.column_opt::<bool>(name)
                    .expect("column")
                    .and_then(|c| c.first(doc))
                    .unwrap_or(false)
            };
            let number = |name: &str, doc| {
                fast.column_opt::<i64>(name)
                    .expect("column")
                    .and_then(|c| c.first(doc))
            };
            let contract = fast.str(F_CONTRACT).expect("column").expect("contracts");
            for doc in 0..segment.max_doc() {
                let v = visits.get(doc);
                assert_eq!(v.has_vehicle(), boolean(F_HAS_VEHICLE, doc));
                assert_eq!(v.network(), boolean(F_NETWORK, doc));
                assert_eq!(v.pt_only(), boolean(F_PT_ONLY, doc));
                assert_eq!(v.travel(), number(F_TRAVEL, doc).filter(|t| *t >= 0));
                let want = (
                    number(F_AVAILABLE, doc).filter(|d| *d != i64::MIN),
                    number(F_HOURS, doc).filter(|h| *h >= 0),
                );
                match v.day_and_hours() {
                    Some(got) => {
                        assert_eq!(got, want, "doc {doc}");
                        narrow += 1;
                    }
                    None => {
                        wide += 1;
                        let day_fits = want
                            .0
                            .is_none_or(|d| i32::try_from(d).is_ok_and(|d| d != Visit::NO_DAY));
                        let hours_fit = want.1.is_none_or(|h| i16::try_from(h).is_ok());
                        assert!(!(day_fits && hours_fit), "doc {doc}: {want:?}");
                    }
                }
                let ords: Vec<u64> = contract.term_ords(doc).collect();
                match v.contract_bits() {
                    Some(bits) => {
                        let want = ords.iter().fold(0u16, |m, o| m | (1 << o));
                        assert_eq!(bits, want, "doc {doc}");
                    }
                    None => {
                        wide_contracts += 1;
                        assert!(ords.iter().any(|o| *o >= 16), "doc {doc}: {ords:?}");
                    }
                }
            }
        }
        assert!(wide > 0 && narrow > 0 && wide_contracts > 0);
    }

    #[test]
    fn commune_keys() {
        assert_eq!(commune_key("41018"), commune_key(" 41018 "));
        assert_ne!(commune_key("41018"), commune_key("41019"));
        assert_ne!(commune_key("2A004"), commune_key("2B004"));
        assert_ne!(commune_key(""), commune_key("0"));
        assert_ne!(commune_key("12345678"), commune_key("12345679"));
    }
}
