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
//! required certifications ([`F_CERT`]), vehicle required ([`F_VEHICLE`]),
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
/// (commune, own travel limit, public transport only, status), decoded
/// from the columns once per segment into one array: the pass reads one
/// 16-byte entry per document, in document order, instead of four column
/// look-ups (two in optional columns, one in a str column).
#[derive(Debug, Default)]
pub struct Visits {
    pub rows: Vec<Visit>,
}

/// One document of [`Visits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    /// [`F_COMMUNE_KEY`], when [`Visit::HAS_COMMUNE`].
    pub commune: u64,
    /// [`F_TRAVEL`] (km, saturated to `i32`), -1 when none.
    pub travel: i32,
    /// Ordinal of the status in the segment's `status` dictionary
    /// ([`Visit::NO_STATUS`] when none).
    pub status: u16,
    pub flags: u8,
}

impl Default for Visit {
    fn default() -> Self {
        Visit {
            commune: 0,
            travel: -1,
            status: Visit::NO_STATUS,
            flags: 0,
        }
    }
}

impl Visit {
    pub const HAS_COMMUNE: u8 = 1;
    pub const PT_ONLY: u8 = 2;
    /// No status, or an ordinal beyond `u16` (a status dictionary holds a
    /// handful of values).
    pub const NO_STATUS: u16 = u16::MAX;

    pub fn commune(&self) -> Option<u64> {
        (self.flags & Visit::HAS_COMMUNE != 0).then_some(self.commune)
    }

    /// Own travel limit (km), if any.
    pub fn travel(&self) -> Option<i64> {
        (self.travel >= 0).then_some(i64::from(self.travel))
    }

    pub fn pt_only(&self) -> bool {
        self.flags & Visit::PT_ONLY != 0
    }
}

impl Visits {
    /// Reads the columns of every document of a segment.
    pub fn build(segment: &tantivy::SegmentReader) -> tantivy::Result<Visits> {
        let fast = segment.fast_fields();
        let commune = fast.column_opt::<u64>(F_COMMUNE_KEY)?;
        let travel = fast.column_opt::<i64>(F_TRAVEL)?;
        let pt_only = fast.column_opt::<bool>(F_PT_ONLY)?;
        let status = fast.str(F_STATUS)?;
        let rows = (0..segment.max_doc())
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
                if pt_only.as_ref().and_then(|c| c.first(doc)).unwrap_or(false) {
                    v.flags |= Visit::PT_ONLY;
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
        Ok(Visits { rows })
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

    #[test]
    fn commune_keys() {
        assert_eq!(commune_key("41018"), commune_key(" 41018 "));
        assert_ne!(commune_key("41018"), commune_key("41019"));
        assert_ne!(commune_key("2A004"), commune_key("2B004"));
        assert_ne!(commune_key(""), commune_key("0"));
        assert_ne!(commune_key("12345678"), commune_key("12345679"));
    }
}
