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
