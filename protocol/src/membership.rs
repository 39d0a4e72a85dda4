//! Membership documents signed by the network operator.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::canonical::{canonical_bytes, parse_strict};
use crate::envelope::{KeyResolver, VerifyError};
use crate::keys::{b64url_decode, KeyId, NodeId, PublicKey, SigningKeyPair, OPERATOR_NODE_ID};

/// Kind of member body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberKind {
    /// A département council (`"departement"`).
    Departement,
    /// A PETR (pôle d'équilibre territorial et rural) (`"petr"`).
    Petr,
    /// A mission locale / city employment body (`"city_mission"`).
    CityMission,
    /// Anything else (`"other"`).
    Other,
}

/// Territory covered by a member.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Territory {
    /// Département codes (e.g. `41`, `2A`).
    #[serde(default)]
    pub departements: Vec<String>,
    /// INSEE commune codes.
    #[serde(default)]
    pub communes: Vec<String>,
}

/// A key of a member with its validity period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberKey {
    /// Key identifier.
    pub key_id: KeyId,
    /// Public key.
    pub public_key: PublicKey,
    /// Start of validity (unix ms, inclusive).
    pub valid_from: i64,
    /// End of validity (unix ms, exclusive), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
}

/// Status of a member. JSON: `{"state":"active"}`,
/// `{"state":"suspended","reason":"…","since":<ms>}`,
/// `{"state":"revoked","reason":"…","at":<ms>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum MemberStatus {
    /// Member in good standing.
    Active,
    /// Temporarily suspended: its messages are refused.
    Suspended {
        /// Why.
        reason: String,
        /// Since when (unix ms).
        since: i64,
    },
    /// Permanently revoked: its messages are refused.
    Revoked {
        /// Why.
        reason: String,
        /// When (unix ms).
        at: i64,
    },
}

/// A member of the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Node identifier.
    pub node_id: NodeId,
    /// Display name (e.g. `Conseil départemental de Loir-et-Cher`).
    pub display_name: String,
    /// Kind of body.
    pub kind: MemberKind,
    /// Territory covered.
    pub territory: Territory,
    /// Base URL of the node's federation API.
    pub base_url: String,
    /// Signing keys.
    pub keys: Vec<MemberKey>,
    /// Status.
    pub status: MemberStatus,
}

impl Member {
    /// Whether the member's status is [`MemberStatus::Active`].
    pub fn is_active(&self) -> bool {
        matches!(self.status, MemberStatus::Active)
    }
    /// The member key with this id.
    pub fn key(&self, key_id: &KeyId) -> Option<&MemberKey> {
        self.keys.iter().find(|k| &k.key_id == key_id)
    }
}

/// A key of the network operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorKey {
    /// Key identifier.
    pub key_id: KeyId,
    /// Public key.
    pub public_key: PublicKey,
}

/// The membership document: who is in the network and with which keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipDocument {
    /// Network identifier (e.g. `vivier-centre-val-de-loire`).
    pub network_id: String,
    /// Monotonic serial (≥ 1); a node only accepts strictly greater serials.
    pub serial: i64,
    /// Issue time (unix ms).
    pub issued_at: i64,
    /// Expiry time (unix ms); an expired document is not accepted.
    pub expires_at: i64,
    /// Operator keys allowed to sign the *next* document.
    pub operator_keys: Vec<OperatorKey>,
    /// Number of distinct operator signatures required.
    pub threshold: u32,
    /// Members.
    pub members: Vec<Member>,
    /// The network search's abuse limits set by the operator (optional:
    /// absent from documents that set none, which then sign and verify as
    /// before). See [`NetworkSearchLimits`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_search: Option<NetworkSearchLimits>,
}

/// The network search's abuse limits, for every member (protocol README
/// « Network search », « Limits in the membership document »). Each is
/// optional; a node applies the document's value when present, its own
/// configuration otherwise, and the tighter of the two when both are set
/// (the lower quota, cap or radius; the higher commune threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSearchLimits {
    /// Searches one user may make per hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_user_per_hour: Option<i64>,
    /// Searches one node's users may make per hour, together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_node_per_hour: Option<i64>,
    /// Queries a node answers per hour for one asking member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers_per_member_per_hour: Option<i64>,
    /// Most results in one answer (1 to [`crate::MAX_ANSWER_RESULTS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results_per_answer: Option<i64>,
    /// Largest radius of a place (1 to
    /// [`crate::netsearch::MAX_QUERY_RADIUS_KM`] km): the minimum
    /// specificity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_radius_km: Option<i64>,
    /// The commune of a result is shown only when at least this many of
    /// the answering node's records live there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commune_min_candidates: Option<i64>,
}

impl NetworkSearchLimits {
    /// Every value set is within its range (quotas and thresholds ≥ 1,
    /// results ≤ [`crate::MAX_ANSWER_RESULTS`], radius ≤
    /// [`crate::netsearch::MAX_QUERY_RADIUS_KM`]).
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            ("per_user_per_hour", self.per_user_per_hour, i64::MAX),
            ("per_node_per_hour", self.per_node_per_hour, i64::MAX),
            (
                "answers_per_member_per_hour",
                self.answers_per_member_per_hour,
                i64::MAX,
            ),
            (
                "max_results_per_answer",
                self.max_results_per_answer,
                crate::MAX_ANSWER_RESULTS as i64,
            ),
            (
                "max_radius_km",
                self.max_radius_km,
                crate::netsearch::MAX_QUERY_RADIUS_KM,
            ),
            (
                "commune_min_candidates",
                self.commune_min_candidates,
                i64::MAX,
            ),
        ];
        for (name, value, max) in checks {
            if let Some(v) = value {
                if !(1..=max).contains(&v) {
                    return Err(format!(
                        "network_search.{name} must be 1 to {max} (got {v})"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Membership failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// Not strict JSON or wrong structure.
    #[error("malformed membership document: {0}")]
    Malformed(String),
    /// A signature by a trusted operator key does not verify.
    #[error("bad operator signature")]
    BadSignature,
    /// Not enough valid signatures by trusted operator keys.
    #[error("insufficient operator signatures: needed {needed}, got {got}")]
    InsufficientSignatures {
        /// Threshold.
        needed: u32,
        /// Valid distinct signatures found.
        got: u32,
    },
    /// Serial lower than the current one.
    #[error("rollback: current serial {current}, offered {offered}")]
    Rollback {
        /// Current serial.
        current: i64,
        /// Offered serial.
        offered: i64,
    },
    /// Serial equal to the current one.
    #[error("same serial {0}")]
    SameSerial(i64),
    /// The document has expired.
    #[error("membership document expired")]
    Expired,
    /// The document violates a structural rule.
    #[error("invalid membership document: {0}")]
    Invalid(String),
    /// The operator key set changes but the document is not signed by enough
    /// of the new keys.
    #[error("operator key rotation not signed by the new keys (needed {needed}, got {got})")]
    RotationNotSignedByNewKeys {
        /// New threshold.
        needed: u32,
        /// Valid signatures by new keys.
        got: u32,
    },
    /// Signing failed (e.g. a value that cannot be canonicalised).
    #[error("cannot sign: {0}")]
    Signing(String),
}

impl MembershipError {
    /// Stable snake_case code for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            MembershipError::Malformed(_) => "malformed",
            MembershipError::BadSignature => "bad_signature",
            MembershipError::InsufficientSignatures { .. } => "insufficient_signatures",
            MembershipError::Rollback { .. } => "rollback",
            MembershipError::SameSerial(_) => "same_serial",
            MembershipError::Expired => "expired",
            MembershipError::Invalid(_) => "invalid",
            MembershipError::RotationNotSignedByNewKeys { .. } => "rotation_not_signed_by_new_keys",
            MembershipError::Signing(_) => "signing",
        }
    }
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Whether `s` is a URL whose host is loopback (`localhost`,
/// `127.0.0.0/8`, `::1`), whatever its scheme.
pub fn is_loopback_url(s: &str) -> bool {
    url::Url::parse(s)
        .ok()
        .and_then(|u| u.host().map(|h| is_loopback_host(&h)))
        .unwrap_or(false)
}

/// Checks a member base URL: absolute http(s) URL with a host, no
/// credentials, query or fragment; `https` required unless the host is
/// loopback (`localhost`, `127.0.0.0/8`, `::1`).
pub fn validate_base_url(s: &str) -> Result<(), String> {
    let u = url::Url::parse(s).map_err(|e| format!("{s:?}: {e}"))?;
    let host = u.host().ok_or_else(|| format!("{s:?}: no host"))?;
    match u.scheme() {
        "https" => {}
        "http" if is_loopback_host(&host) => {}
        "http" => return Err(format!("{s:?}: https is required for non-loopback hosts")),
        other => return Err(format!("{s:?}: unsupported scheme {other}")),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("{s:?}: credentials are not allowed"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(format!("{s:?}: query and fragment are not allowed"));
    }
    Ok(())
}

impl MembershipDocument {
    /// Structural checks: non-empty network id, serial ≥ 1,
    /// `expires_at > issued_at`, 1 ≤ threshold ≤ number of operator keys,
    /// unique operator key ids and public keys, unique member node ids
    /// (`operator` is reserved), valid base URLs, unique key ids per member,
    /// `valid_until > valid_from`.
    pub fn validate(&self) -> Result<(), MembershipError> {
        let inv = |s: String| Err(MembershipError::Invalid(s));
        if self.network_id.trim().is_empty() {
            return inv("network_id is empty".into());
        }
        if self.serial < 1 {
            return inv("serial must be >= 1".into());
        }
        if self.expires_at <= self.issued_at {
            return inv("expires_at must be after issued_at".into());
        }
        if self.threshold < 1 || self.threshold as usize > self.operator_keys.len() {
            return inv(format!(
                "threshold {} must be between 1 and the number of operator keys ({})",
                self.threshold,
                self.operator_keys.len()
            ));
        }
        let mut op_ids = HashSet::new();
        let mut op_pks = HashSet::new();
        for k in &self.operator_keys {
            if !op_ids.insert(&k.key_id) {
                return inv(format!("duplicate operator key id {}", k.key_id));
            }
            if !op_pks.insert(k.public_key) {
                return inv(format!("duplicate operator public key {}", k.public_key));
            }
        }
        if let Some(l) = &self.network_search {
            l.validate().map_err(MembershipError::Invalid)?;
        }
        let mut nodes = HashSet::new();
        for m in &self.members {
            if m.node_id.as_str() == OPERATOR_NODE_ID {
                return inv("node id \"operator\" is reserved".into());
            }
            if !nodes.insert(&m.node_id) {
                return inv(format!("duplicate member {}", m.node_id));
            }
            if m.display_name.trim().is_empty() {
                return inv(format!("member {}: empty display_name", m.node_id));
            }
            validate_base_url(&m.base_url)
                .map_err(|e| MembershipError::Invalid(format!("member {}: {e}", m.node_id)))?;
            let mut kids = HashSet::new();
            for k in &m.keys {
                if !kids.insert(&k.key_id) {
                    return inv(format!(
                        "member {}: duplicate key id {}",
                        m.node_id, k.key_id
                    ));
                }
                if k.valid_until.is_some_and(|u| u <= k.valid_from) {
                    return inv(format!(
                        "member {}: key {} valid_until <= valid_from",
                        m.node_id, k.key_id
                    ));
                }
            }
        }
        Ok(())
    }

    /// Canonical JSON of the document: the bytes operator keys sign.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, MembershipError> {
        canonical_bytes(self).map_err(|e| MembershipError::Signing(e.to_string()))
    }

    /// The member with this node id.
    pub fn member(&self, node: &NodeId) -> Option<&Member> {
        self.members.iter().find(|m| &m.node_id == node)
    }

    /// Members whose status is active.
    pub fn active_members(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.is_active())
    }
}

/// Resolves only the network operator (node id `operator`, see
/// [`OPERATOR_NODE_ID`]) to its keys: what a node checks the operator's
/// signed read requests (e.g. [`crate::wire::OPERATOR_STATUS_PATH`]) with.
/// Members never resolve through it, and the operator never resolves
/// through the member resolver, so an operator key cannot send federation
/// messages and a node key cannot read operator endpoints.
#[derive(Debug, Clone)]
pub struct OperatorKeys<'a>(pub &'a [OperatorKey]);

impl KeyResolver for OperatorKeys<'_> {
    fn resolve(
        &self,
        sender: &NodeId,
        key_id: &KeyId,
        _at_ms: i64,
    ) -> Result<PublicKey, VerifyError> {
        if sender.as_str() != OPERATOR_NODE_ID {
            return Err(VerifyError::UnknownSender(format!(
                "{sender} (only the network operator may call this endpoint)"
            )));
        }
        self.0
            .iter()
            .find(|k| &k.key_id == key_id)
            .map(|k| k.public_key)
            .ok_or_else(|| VerifyError::UnknownKey(format!("{OPERATOR_NODE_ID}/{key_id}")))
    }
}

impl KeyResolver for MembershipDocument {
    fn resolve(
        &self,
        sender: &NodeId,
        key_id: &KeyId,
        at_ms: i64,
    ) -> Result<PublicKey, VerifyError> {
        let m = self
            .member(sender)
            .ok_or_else(|| VerifyError::UnknownSender(sender.to_string()))?;
        match &m.status {
            MemberStatus::Active => {}
            MemberStatus::Suspended { reason, .. } => {
                return Err(VerifyError::SenderNotActive(format!(
                    "{sender} is suspended: {reason}"
                )))
            }
            MemberStatus::Revoked { reason, .. } => {
                return Err(VerifyError::SenderNotActive(format!(
                    "{sender} is revoked: {reason}"
                )))
            }
        }
        let k = m
            .key(key_id)
            .ok_or_else(|| VerifyError::UnknownKey(format!("{sender}/{key_id}")))?;
        if at_ms < k.valid_from || k.valid_until.is_some_and(|u| at_ms >= u) {
            return Err(VerifyError::KeyNotValidAt(format!(
                "{sender}/{key_id} at {at_ms}"
            )));
        }
        Ok(k.public_key)
    }
}

/// A membership document with operator signatures
/// (`operator key id → unpadded base64url signature` over the canonical
/// JSON of `document`). JSON: `{"document":{…},"signatures":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedMembershipDocument {
    /// The document.
    pub document: MembershipDocument,
    /// Operator signatures.
    pub signatures: BTreeMap<String, String>,
}

impl SignedMembershipDocument {
    /// Validates `doc` and signs it with each key.
    pub fn sign(
        doc: MembershipDocument,
        keys: &[&SigningKeyPair],
    ) -> Result<Self, MembershipError> {
        doc.validate()?;
        let mut s = SignedMembershipDocument {
            document: doc,
            signatures: BTreeMap::new(),
        };
        for k in keys {
            s.add_signature(k)?;
        }
        Ok(s)
    }

    /// Adds (or replaces) the signature of `key`.
    pub fn add_signature(&mut self, key: &SigningKeyPair) -> Result<(), MembershipError> {
        let bytes = self.document.signing_bytes()?;
        self.signatures
            .insert(key.key_id().to_string(), key.sign_b64(&bytes));
        Ok(())
    }

    /// Canonical JSON bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MembershipError> {
        canonical_bytes(self).map_err(|e| MembershipError::Signing(e.to_string()))
    }

    /// Parses strict JSON (`Malformed` on garbage, truncation, duplicate
    /// keys, floats or wrong structure). Signatures are *not* checked: use
    /// [`Trust::accept`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MembershipError> {
        let v = parse_strict(bytes).map_err(|e| MembershipError::Malformed(e.to_string()))?;
        serde_json::from_value(v).map_err(|e| MembershipError::Malformed(e.to_string()))
    }

    /// Number of distinct public keys among `keys` with a valid signature
    /// here, and whether some signature by one of `keys` failed to verify.
    fn count_valid(&self, keys: &[OperatorKey], signed: &[u8]) -> (u32, bool) {
        let mut valid = BTreeSet::new();
        let mut bad = false;
        for (kid, sig) in &self.signatures {
            for k in keys.iter().filter(|k| k.key_id.as_str() == kid) {
                let ok = b64url_decode(sig).is_some_and(|s| k.public_key.verify_strict(signed, &s));
                if ok {
                    valid.insert(*k.public_key.as_bytes());
                } else {
                    bad = true;
                }
            }
        }
        (u32::try_from(valid.len()).unwrap_or(u32::MAX), bad)
    }
}

impl KeyResolver for SignedMembershipDocument {
    fn resolve(
        &self,
        sender: &NodeId,
        key_id: &KeyId,
        at_ms: i64,
    ) -> Result<PublicKey, VerifyError> {
        self.document.resolve(sender, key_id, at_ms)
    }
}

/// What a node trusts before it has any membership document (from its
/// configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustAnchor {
    /// Trusted operator keys.
    pub operator_keys: Vec<OperatorKey>,
    /// Number of distinct signatures required.
    pub threshold: u32,
}

/// The operator keys currently trusted to sign the next membership document:
/// either the configured [`TrustAnchor`] or the current document's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// Trusted operator keys.
    pub operator_keys: Vec<OperatorKey>,
    /// Number of distinct signatures required.
    pub threshold: u32,
}

impl Trust {
    /// Trust from the configured anchor.
    pub fn from_anchor(anchor: &TrustAnchor) -> Trust {
        Trust {
            operator_keys: anchor.operator_keys.clone(),
            threshold: anchor.threshold,
        }
    }

    /// Trust from the currently accepted document.
    pub fn from_document(doc: &MembershipDocument) -> Trust {
        Trust {
            operator_keys: doc.operator_keys.clone(),
            threshold: doc.threshold,
        }
    }

    /// Decides whether `new` may replace the current document (whose serial
    /// is `current_serial`, `None` when bootstrapping from the anchor).
    ///
    /// Order of checks: signatures by ≥ `threshold` distinct trusted keys
    /// (`BadSignature` if a trusted key's signature fails and the threshold
    /// is not met, else `InsufficientSignatures`) → `validate()` (`Invalid`)
    /// → if the operator key set or threshold changes, ≥ new threshold
    /// signatures by the new keys (`RotationNotSignedByNewKeys`) → serial
    /// (`Rollback` / `SameSerial`) → expiry (`Expired` if
    /// `now_ms >= expires_at`).
    pub fn accept(
        &self,
        current_serial: Option<i64>,
        new: &SignedMembershipDocument,
        now_ms: i64,
    ) -> Result<(), MembershipError> {
        let signed = new.document.signing_bytes()?;
        let (got, bad) = new.count_valid(&self.operator_keys, &signed);
        let needed = self.threshold.max(1);
        if got < needed {
            return Err(if bad {
                MembershipError::BadSignature
            } else {
                MembershipError::InsufficientSignatures { needed, got }
            });
        }
        new.document.validate()?;
        let key_set = |keys: &[OperatorKey]| -> BTreeSet<(String, [u8; 32])> {
            keys.iter()
                .map(|k| (k.key_id.to_string(), *k.public_key.as_bytes()))
                .collect()
        };
        let rotated = key_set(&self.operator_keys) != key_set(&new.document.operator_keys)
            || self.threshold != new.document.threshold;
        if rotated {
            let (got, _) = new.count_valid(&new.document.operator_keys, &signed);
            if got < new.document.threshold {
                return Err(MembershipError::RotationNotSignedByNewKeys {
                    needed: new.document.threshold,
                    got,
                });
            }
        }
        if let Some(current) = current_serial {
            if new.document.serial == current {
                return Err(MembershipError::SameSerial(current));
            }
            if new.document.serial < current {
                return Err(MembershipError::Rollback {
                    current,
                    offered: new.document.serial,
                });
            }
        }
        if now_ms >= new.document.expires_at {
            return Err(MembershipError::Expired);
        }
        Ok(())
    }
}

/// Free-function form of [`Trust::accept`].
pub fn check_update(
    trust: &Trust,
    current_serial: Option<i64>,
    new: &SignedMembershipDocument,
    now_ms: i64,
) -> Result<(), MembershipError> {
    trust.accept(current_serial, new, now_ms)
}
