//! Network search (README § « Network search »): a member asks every other
//! active member, on behalf of one of its users, *who is out there* for an
//! offer-shaped question, and each answers with pseudonymous results.
//!
//! * [`NetworkQuery`] — the question, `POST` to [`NETWORK_SEARCH_PATH`],
//!   signed with RFC 9421 ([`crate::httpsig`]); answered by a
//!   [`NetworkAnswer`].
//! * [`pseudonym`] — the per-query pseudonym: HMAC-SHA256 of the candidate
//!   id under a key derived from the answering node's secret and the query
//!   (origin and id), so two queries cannot be linked.
//! * [`InterestRequest`] — the asker marks a result « intéressé »
//!   ([`NETWORK_INTEREST_PATH`]); [`InterestUpdate`] — the home node tells
//!   the asker the interest was declined or accepted
//!   ([`NETWORK_INTEREST_UPDATE_PATH`]).
//!
//! Nothing here carries a name, contact, date of birth, free CV text or a
//! restricted field: the answer types have no field that could hold one.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ProtocolError;
use crate::keys::NodeId;
use crate::payload::ContractType;

/// `POST`, signed: a [`NetworkQuery`] in, a [`NetworkAnswer`] out.
pub const NETWORK_SEARCH_PATH: &str = "/federation/v1/network-search";
/// `POST`, signed: an [`InterestRequest`] in, `202` with an
/// [`InterestReceipt`] out.
pub const NETWORK_INTEREST_PATH: &str = "/federation/v1/network-search/interest";
/// `POST`, signed: an [`InterestUpdate`] in, `204` out.
pub const NETWORK_INTEREST_UPDATE_PATH: &str = "/federation/v1/network-search/interest-update";

/// Most ROME codes in a query.
pub const MAX_QUERY_ROME_CODES: usize = 5;
/// Most places in a query.
pub const MAX_QUERY_PLACES: usize = 10;
/// Most certification codes in a query.
pub const MAX_QUERY_CERTIFICATIONS: usize = 10;
/// Largest radius a place may carry (km); nodes may set a lower one.
pub const MAX_QUERY_RADIUS_KM: i64 = 100;
/// Most results in one answer; nodes may cap lower.
pub const MAX_ANSWER_RESULTS: usize = 200;
/// Longest approved network summary (characters).
pub const MAX_SUMMARY_CHARS: usize = 280;
/// Longest interest message (characters).
pub const MAX_INTEREST_MESSAGE_CHARS: usize = 2000;

/// One asked place: a commune (INSEE code) and a radius around its centre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueryPlace {
    /// INSEE code of the commune (5 characters).
    pub commune_insee: String,
    /// Radius around its centre, 1..=[`MAX_QUERY_RADIUS_KM`] km.
    pub radius_km: i64,
}

/// The question (body of [`NETWORK_SEARCH_PATH`]). Unknown fields are
/// ignored, missing optional ones default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkQuery {
    /// Id chosen by the asking node, unique there (1–64 characters of
    /// `[A-Za-z0-9_-]`).
    pub query_id: String,
    /// The asking node (must be the request's signer).
    pub origin_node: NodeId,
    /// ROME codes sought, 1..=[`MAX_QUERY_ROME_CODES`].
    pub rome_codes: Vec<String>,
    /// Certifications required (every one held).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certifications: Vec<String>,
    /// Driving licence required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driving_licence: Option<String>,
    /// Places, 1..=[`MAX_QUERY_PLACES`].
    pub places: Vec<QueryPlace>,
    /// Available by this day (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_by: Option<String>,
    /// Contract types offered (a candidate accepting none of them is not
    /// listed); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contract_types: Vec<ContractType>,
    /// When it was asked (unix ms).
    pub created_at: i64,
    /// No answer is useful after this (unix ms); the answering node does
    /// not start after it.
    pub deadline_at: i64,
}

/// Distance from a candidate's home commune centre to the nearest asked
/// place, in bands (never the exact distance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DistanceBand {
    /// Under 10 km.
    #[serde(rename = "0-10")]
    Under10,
    /// 10 to 20 km.
    #[serde(rename = "10-20")]
    Under20,
    /// 20 to 30 km.
    #[serde(rename = "20-30")]
    Under30,
    /// 30 to 50 km.
    #[serde(rename = "30-50")]
    Under50,
    /// 50 km and more.
    #[serde(rename = "50+")]
    Over50,
}

impl DistanceBand {
    /// The band of a distance in km.
    pub fn of_km(km: f64) -> DistanceBand {
        if km < 10.0 {
            DistanceBand::Under10
        } else if km < 20.0 {
            DistanceBand::Under20
        } else if km < 30.0 {
            DistanceBand::Under30
        } else if km < 50.0 {
            DistanceBand::Under50
        } else {
            DistanceBand::Over50
        }
    }

    /// The wire form (`"0-10"` …).
    pub fn as_str(self) -> &'static str {
        match self {
            DistanceBand::Under10 => "0-10",
            DistanceBand::Under20 => "10-20",
            DistanceBand::Under30 => "20-30",
            DistanceBand::Under50 => "30-50",
            DistanceBand::Over50 => "50+",
        }
    }
}

/// One candidate in an answer: only what the network may know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PseudonymousResult {
    /// [`pseudonym`] of the candidate for this query.
    pub pseudonym: String,
    /// The candidate's ROME codes.
    pub rome_codes: Vec<String>,
    /// Years of experience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experience_years: Option<i64>,
    /// Certifications held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certifications: Vec<String>,
    /// Driving licences held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub driving_licences: Vec<String>,
    /// Available from (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_from: Option<String>,
    /// Index (in the query's `places`) of the nearest asked place.
    pub place_index: i64,
    /// Distance band to it.
    pub distance_band: DistanceBand,
    /// Département of the home commune (`41`, `2A`, `974`).
    pub departement: String,
    /// Home commune (INSEE code), only when at least the answering node's
    /// threshold of its candidates live there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commune_insee: Option<String>,
    /// A short summary the counsellor approved for network display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Matching score, 0..=1000 (tenths of points of the node's matching).
    pub score: i64,
}

/// How many fitting candidates the answering node holds near one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlaceCount {
    /// Index in the query's `places`.
    pub place_index: i64,
    /// Fitting candidates within its radius.
    pub count: i64,
}

/// The answer (body of the response to [`NETWORK_SEARCH_PATH`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkAnswer {
    /// The query answered.
    pub query_id: String,
    /// The answering node.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub node_id: NodeId,
    /// Best first, at most the node's cap.
    pub results: Vec<PseudonymousResult>,
    /// Fitting candidates per asked place (a candidate near two places
    /// counts at both).
    pub place_counts: Vec<PlaceCount>,
    /// More fitting candidates than the results carry.
    #[serde(default)]
    pub truncated: bool,
}

/// The asker's interest in one result (body of [`NETWORK_INTEREST_PATH`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterestRequest {
    /// Id chosen by the asking node (same form as a query id).
    pub interest_id: String,
    /// The query the result came from.
    pub query_id: String,
    /// The asking node (must be the request's signer).
    pub origin_node: NodeId,
    /// The result's pseudonym.
    pub pseudonym: String,
    /// Who is interested, as shown to the counsellor (« Logivia —
    /// recrutement »).
    pub asker_label: String,
    /// The message to the counsellor.
    pub message: String,
    /// An open offer of the asker the candidate could be referred to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<String>,
}

/// The home node's receipt for an [`InterestRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterestReceipt {
    /// The interest.
    pub interest_id: String,
    /// Always `pending` on receipt.
    pub status: InterestStatus,
}

/// State of an interest (README § « Interest state machine »).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InterestStatus {
    /// Sent by the asker, not yet answered by the home node.
    Pending,
    /// The counsellor declined (the asker learns nothing else: « non
    /// disponible »).
    Declined,
    /// The counsellor sent a co-opted referral (its id in the update).
    Accepted,
}

impl InterestStatus {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            InterestStatus::Pending => "pending",
            InterestStatus::Declined => "declined",
            InterestStatus::Accepted => "accepted",
        }
    }
}

/// The home node's answer to an interest (body of
/// [`NETWORK_INTEREST_UPDATE_PATH`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterestUpdate {
    /// The interest.
    pub interest_id: String,
    /// `declined` or `accepted`.
    pub status: InterestStatus,
    /// With `accepted`: the id of the `referral.submitted` sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
}

fn plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn day(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn code(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn bad(m: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidPayload(m.into())
}

impl NetworkQuery {
    /// Checks the form every node enforces (nodes add their own, stricter
    /// specificity rules): ids, counts, code shapes, radii, dates.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if !plain_id(&self.query_id) {
            return Err(bad("query_id: 1 to 64 characters of [A-Za-z0-9_-]"));
        }
        if self.rome_codes.is_empty() || self.rome_codes.len() > MAX_QUERY_ROME_CODES {
            return Err(bad("rome_codes: 1 to 5 codes"));
        }
        if let Some(c) = self.rome_codes.iter().find(|c| {
            let b = c.as_bytes();
            !(b.len() == 5 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit))
        }) {
            return Err(bad(format!("rome_codes: {c:?} is not a ROME code")));
        }
        if self.certifications.len() > MAX_QUERY_CERTIFICATIONS
            || !self.certifications.iter().all(|c| code(c, 32))
        {
            return Err(bad("certifications: at most 10 codes of [A-Z0-9_]"));
        }
        if self.driving_licence.as_deref().is_some_and(|l| !code(l, 4)) {
            return Err(bad("driving_licence: a licence category"));
        }
        if self.places.is_empty() || self.places.len() > MAX_QUERY_PLACES {
            return Err(bad("places: 1 to 10 places"));
        }
        for p in &self.places {
            let b = p.commune_insee.as_bytes();
            if b.len() != 5 || !b.iter().all(u8::is_ascii_alphanumeric) {
                return Err(bad("places: commune_insee must be an INSEE code"));
            }
            if !(1..=MAX_QUERY_RADIUS_KM).contains(&p.radius_km) {
                return Err(bad("places: radius_km must be 1 to 100"));
            }
        }
        if self.available_by.as_deref().is_some_and(|d| !day(d)) {
            return Err(bad("available_by: YYYY-MM-DD"));
        }
        if self.created_at < 0 || self.deadline_at < self.created_at {
            return Err(bad("deadline_at: must not precede created_at"));
        }
        Ok(())
    }
}

impl InterestRequest {
    /// Checks ids, pseudonym shape and lengths.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if !plain_id(&self.interest_id) || !plain_id(&self.query_id) {
            return Err(bad(
                "interest_id, query_id: 1 to 64 characters of [A-Za-z0-9_-]",
            ));
        }
        if self.pseudonym.len() != PSEUDONYM_LEN || !plain_id(&self.pseudonym) {
            return Err(bad("pseudonym: not a pseudonym"));
        }
        if self.asker_label.trim().is_empty() || self.asker_label.chars().count() > 200 {
            return Err(bad("asker_label: 1 to 200 characters"));
        }
        if self.message.trim().is_empty()
            || self.message.chars().count() > MAX_INTEREST_MESSAGE_CHARS
        {
            return Err(bad("message: 1 to 2000 characters"));
        }
        if self
            .offer_id
            .as_deref()
            .is_some_and(|o| o.is_empty() || o.len() > 128)
        {
            return Err(bad("offer_id: 1 to 128 characters"));
        }
        Ok(())
    }
}

/// Length of a pseudonym (unpadded base64url of 32 bytes).
pub const PSEUDONYM_LEN: usize = 43;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // An HMAC key may have any length: `new_from_slice` cannot fail.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The per-query key: `HMAC-SHA256(node_secret, "vivier-netsearch-v1" ‖ 0 ‖
/// origin_node ‖ 0 ‖ query_id)`.
pub fn query_key(node_secret: &[u8], origin_node: &str, query_id: &str) -> [u8; 32] {
    hmac(
        node_secret,
        &[
            b"vivier-netsearch-v1\0",
            origin_node.as_bytes(),
            b"\0",
            query_id.as_bytes(),
        ],
    )
}

/// A candidate's pseudonym for one query: unpadded base64url of
/// `HMAC-SHA256(query_key(node_secret, origin_node, query_id), candidate_id)`.
/// Without the node's secret it can neither be reversed nor linked to the
/// same candidate's pseudonym in another query.
pub fn pseudonym(
    node_secret: &[u8],
    origin_node: &str,
    query_id: &str,
    candidate_id: &str,
) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let k = query_key(node_secret, origin_node, query_id);
    URL_SAFE_NO_PAD.encode(hmac(&k, &[candidate_id.as_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> NetworkQuery {
        NetworkQuery {
            query_id: "q-1".into(),
            origin_node: NodeId::parse("cd41").expect("node id"),
            rome_codes: vec!["N1101".into()],
            certifications: vec!["CACES_R489_3".into()],
            driving_licence: None,
            places: vec![QueryPlace {
                commune_insee: "18279".into(),
                radius_km: 20,
            }],
            available_by: Some("2026-03-01".into()),
            contract_types: vec![ContractType::Cdi],
            created_at: 1,
            deadline_at: 2,
        }
    }

    #[test]
    fn validation_names_the_broken_field() {
        assert!(query().validate().is_ok());
        let mut q = query();
        q.rome_codes.clear();
        assert!(q
            .validate()
            .expect_err("no rome")
            .to_string()
            .contains("rome_codes"));
        let mut q = query();
        q.places[0].radius_km = 101;
        assert!(q
            .validate()
            .expect_err("radius")
            .to_string()
            .contains("radius_km"));
        let mut q = query();
        q.query_id = "a b".into();
        assert!(q.validate().is_err());
        let mut q = query();
        q.available_by = Some("1er mars".into());
        assert!(q.validate().is_err());
    }

    #[test]
    fn pseudonyms_differ_per_query_and_per_node() {
        let a = pseudonym(b"secret", "cd41", "q-1", "cand-1");
        assert_eq!(a.len(), PSEUDONYM_LEN);
        assert_eq!(a, pseudonym(b"secret", "cd41", "q-1", "cand-1"));
        assert_ne!(a, pseudonym(b"secret", "cd41", "q-2", "cand-1"));
        assert_ne!(a, pseudonym(b"secret", "cd18", "q-1", "cand-1"));
        assert_ne!(a, pseudonym(b"other", "cd41", "q-1", "cand-1"));
        assert_ne!(a, pseudonym(b"secret", "cd41", "q-1", "cand-2"));
    }

    #[test]
    fn distance_bands() {
        assert_eq!(DistanceBand::of_km(0.0), DistanceBand::Under10);
        assert_eq!(DistanceBand::of_km(10.0), DistanceBand::Under20);
        assert_eq!(DistanceBand::of_km(49.9), DistanceBand::Under50);
        assert_eq!(DistanceBand::of_km(80.0).as_str(), "50+");
    }
}
