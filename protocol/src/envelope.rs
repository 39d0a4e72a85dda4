//! Signed message envelopes: construction, signing and verification.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use rand_core::{OsRng, RngCore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::canonical::{check_value, parse_strict, to_canonical_string};
use crate::error::ProtocolError;
use crate::keys::{b64url_decode, KeyId, NodeId, PublicKey, SigningKeyPair};
use crate::membership::SignedMembershipDocument;
use crate::payload::{
    OfferClosed, OfferPayload, OpportunityClosed, OpportunityPayload, ReferralStatusChanged,
    ReferralSubmitted, ReferralWithdrawn, ReportFigures,
};

/// Version of the envelope format implemented by this crate.
pub const PROTOCOL_VERSION: u32 = 1;
/// Maximum size of a serialised message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Upper bound of what a signed envelope adds around its payload: every
/// envelope member but `payload`, with node and key ids at their maximum
/// length (64), integers at ±(2^53−1) and the signature. A payload whose
/// canonical JSON takes at most `MAX_MESSAGE_BYTES - ENVELOPE_OVERHEAD_MAX`
/// bytes always fits in a message.
pub const ENVELOPE_OVERHEAD_MAX: usize = 1024;
/// Largest canonical payload that always fits in a message, whoever sends
/// it to whom ([`MAX_MESSAGE_BYTES`] − [`ENVELOPE_OVERHEAD_MAX`]).
pub const MAX_PAYLOAD_BYTES: usize = MAX_MESSAGE_BYTES - ENVELOPE_OVERHEAD_MAX;
/// Default tolerated clock skew for [`VerifyOptions::new`] (5 minutes).
pub const DEFAULT_MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// Kind of a message, which determines the payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    /// `offer.published` — payload [`OfferPayload`].
    OfferPublished,
    /// `offer.updated` — payload [`OfferPayload`].
    OfferUpdated,
    /// `offer.closed` — payload [`OfferClosed`].
    OfferClosed,
    /// `referral.submitted` — payload [`ReferralSubmitted`].
    ReferralSubmitted,
    /// `referral.status_changed` — payload [`ReferralStatusChanged`].
    ReferralStatusChanged,
    /// `referral.withdrawn` — payload [`ReferralWithdrawn`].
    ReferralWithdrawn,
    /// `membership.document` — payload [`SignedMembershipDocument`].
    MembershipDocument,
    /// `report.figures` — payload [`ReportFigures`].
    ReportFigures,
    /// `opportunity.published` — payload [`OpportunityPayload`] (protocol
    /// 1, since 2026-12).
    OpportunityPublished,
    /// `opportunity.updated` — payload [`OpportunityPayload`].
    OpportunityUpdated,
    /// `opportunity.closed` — payload [`OpportunityClosed`].
    OpportunityClosed,
}

impl MessageKind {
    /// All kinds.
    pub const ALL: [MessageKind; 11] = [
        MessageKind::OfferPublished,
        MessageKind::OfferUpdated,
        MessageKind::OfferClosed,
        MessageKind::ReferralSubmitted,
        MessageKind::ReferralStatusChanged,
        MessageKind::ReferralWithdrawn,
        MessageKind::MembershipDocument,
        MessageKind::ReportFigures,
        MessageKind::OpportunityPublished,
        MessageKind::OpportunityUpdated,
        MessageKind::OpportunityClosed,
    ];

    /// The wire name, e.g. `offer.published`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::OfferPublished => "offer.published",
            MessageKind::OfferUpdated => "offer.updated",
            MessageKind::OfferClosed => "offer.closed",
            MessageKind::ReferralSubmitted => "referral.submitted",
            MessageKind::ReferralStatusChanged => "referral.status_changed",
            MessageKind::ReferralWithdrawn => "referral.withdrawn",
            MessageKind::MembershipDocument => "membership.document",
            MessageKind::ReportFigures => "report.figures",
            MessageKind::OpportunityPublished => "opportunity.published",
            MessageKind::OpportunityUpdated => "opportunity.updated",
            MessageKind::OpportunityClosed => "opportunity.closed",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageKind {
    type Err = VerifyError;
    fn from_str(s: &str) -> Result<Self, VerifyError> {
        MessageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| VerifyError::UnknownKind(s.to_owned()))
    }
}

impl Serialize for MessageKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Addressee of a message: the whole network (`"*"`) or one node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// Broadcast to every member (`"*"`).
    Network,
    /// A single node.
    Node(NodeId),
}

impl Recipient {
    /// Wire form: `"*"` or the node id.
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::Network => "*",
            Recipient::Node(n) => n.as_str(),
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Recipient {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Recipient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "*" {
            Ok(Recipient::Network)
        } else {
            NodeId::parse(&s)
                .map(Recipient::Node)
                .map_err(serde::de::Error::custom)
        }
    }
}

/// Signatures of an envelope: node id → key id → unpadded base64url signature.
pub type Signatures = BTreeMap<String, BTreeMap<String, String>>;

/// A message envelope. The signature covers the canonical JSON of the
/// envelope object without its `signatures` member.
///
/// `P` is the payload's form: a [`Value`] for a message being built, the
/// payload's JSON text as received ([`RawPayload`]) in a
/// [`VerifiedMessage`], whose payload is also decoded into its type once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<P = Value> {
    /// Envelope format version ([`PROTOCOL_VERSION`]).
    pub version: u32,
    /// Message id: a UUIDv7 in lower-case hyphenated form.
    pub id: String,
    /// Message kind.
    pub kind: MessageKind,
    /// Sending (and signing) node.
    pub sender: NodeId,
    /// Key used by the sender.
    pub key_id: KeyId,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Expiry time, unix ms (strictly after `created_at`).
    pub expires_at: i64,
    /// Addressee.
    pub recipient: Recipient,
    /// Serial of the membership document the sender had when signing.
    pub membership_serial: i64,
    /// Kind-specific payload.
    pub payload: P,
    /// Signatures (exactly one: `signatures[sender][key_id]`).
    pub signatures: Signatures,
}

impl<P> Envelope<P> {
    /// The same envelope with `payload` in place of its payload.
    pub fn with_payload<Q>(self, payload: Q) -> Envelope<Q> {
        Envelope {
            version: self.version,
            id: self.id,
            kind: self.kind,
            sender: self.sender,
            key_id: self.key_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            recipient: self.recipient,
            membership_serial: self.membership_serial,
            payload,
            signatures: self.signatures,
        }
    }
}

impl<P: Serialize> Envelope<P> {
    /// The exact bytes that are signed: canonical JSON of the envelope
    /// without `signatures`.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut v = serde_json::to_value(self)
            .map_err(|e| ProtocolError::InvalidArgument(e.to_string()))?;
        if let Value::Object(o) = &mut v {
            o.remove("signatures");
        }
        Ok(to_canonical_string(&v)?.into_bytes())
    }
}

/// A received payload's JSON text, as it was in the message.
pub type RawPayload = Box<serde_json::value::RawValue>;

/// Typed payload of a message, one variant per [`MessageKind`].
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Payload {
    /// `offer.published`.
    OfferPublished(OfferPayload),
    /// `offer.updated`.
    OfferUpdated(OfferPayload),
    /// `offer.closed`.
    OfferClosed(OfferClosed),
    /// `referral.submitted`.
    ReferralSubmitted(ReferralSubmitted),
    /// `referral.status_changed`.
    ReferralStatusChanged(ReferralStatusChanged),
    /// `referral.withdrawn`.
    ReferralWithdrawn(ReferralWithdrawn),
    /// `membership.document`.
    MembershipDocument(SignedMembershipDocument),
    /// `report.figures`.
    ReportFigures(ReportFigures),
    /// `opportunity.published`.
    OpportunityPublished(OpportunityPayload),
    /// `opportunity.updated`.
    OpportunityUpdated(OpportunityPayload),
    /// `opportunity.closed`.
    OpportunityClosed(OpportunityClosed),
}

/// `match kind { K => Payload::K(decode?), … }`, `decode` typed per arm.
macro_rules! payload_of_kind {
    ($kind:expr, $decode:expr) => {
        match $kind {
            MessageKind::OfferPublished => Payload::OfferPublished($decode?),
            MessageKind::OfferUpdated => Payload::OfferUpdated($decode?),
            MessageKind::OfferClosed => Payload::OfferClosed($decode?),
            MessageKind::ReferralSubmitted => Payload::ReferralSubmitted($decode?),
            MessageKind::ReferralStatusChanged => Payload::ReferralStatusChanged($decode?),
            MessageKind::ReferralWithdrawn => Payload::ReferralWithdrawn($decode?),
            MessageKind::MembershipDocument => Payload::MembershipDocument($decode?),
            MessageKind::ReportFigures => Payload::ReportFigures($decode?),
            MessageKind::OpportunityPublished => Payload::OpportunityPublished($decode?),
            MessageKind::OpportunityUpdated => Payload::OpportunityUpdated($decode?),
            MessageKind::OpportunityClosed => Payload::OpportunityClosed($decode?),
        }
    };
}

impl Payload {
    /// Decodes the payload JSON of a message of the given kind.
    pub fn from_value(kind: MessageKind, v: &Value) -> Result<Payload, serde_json::Error> {
        Ok(payload_of_kind!(kind, Deserialize::deserialize(v)))
    }

    /// Decodes the payload JSON text of a message of the given kind,
    /// straight into its type (no [`Value`] in between).
    pub fn from_json(kind: MessageKind, text: &str) -> Result<Payload, serde_json::Error> {
        Ok(payload_of_kind!(kind, serde_json::from_str(text)))
    }

    /// The message kind matching this payload.
    pub fn kind(&self) -> MessageKind {
        match self {
            Payload::OfferPublished(_) => MessageKind::OfferPublished,
            Payload::OfferUpdated(_) => MessageKind::OfferUpdated,
            Payload::OfferClosed(_) => MessageKind::OfferClosed,
            Payload::ReferralSubmitted(_) => MessageKind::ReferralSubmitted,
            Payload::ReferralStatusChanged(_) => MessageKind::ReferralStatusChanged,
            Payload::ReferralWithdrawn(_) => MessageKind::ReferralWithdrawn,
            Payload::MembershipDocument(_) => MessageKind::MembershipDocument,
            Payload::ReportFigures(_) => MessageKind::ReportFigures,
            Payload::OpportunityPublished(_) => MessageKind::OpportunityPublished,
            Payload::OpportunityUpdated(_) => MessageKind::OpportunityUpdated,
            Payload::OpportunityClosed(_) => MessageKind::OpportunityClosed,
        }
    }
}

/// A freshly signed message.
#[derive(Debug, Clone)]
pub struct SignedMessage {
    /// The envelope, including its signature.
    pub envelope: Envelope,
    /// Exact bytes to send: canonical JSON of the whole envelope.
    pub bytes: Vec<u8>,
}

/// The 74 bits of a UUIDv7 after its timestamp, version and variant.
const ID_RANDOM_BITS: u32 = 74;

/// A message id: a UUIDv7 (RFC 9562) whose timestamp is `created_at_ms`
/// and whose 74 other bits are random — except that an id made right after
/// another one for the same millisecond takes the previous one's bits plus
/// a random step of 1 to 2^32 (RFC 9562 §6.2, "monotonic random"). The ids
/// a sender makes in a burst therefore sort in the order it made them,
/// within a millisecond too, so that a receiver's index of `(sender, id)`
/// grows at its end instead of taking a random page per message. Only the
/// last millisecond is remembered: ids made for alternating timestamps each
/// start afresh (random, as before). Uniqueness: strict within a run of one
/// millisecond (a fresh start leaves the top bit clear: 2^73 steps before
/// the bits would wrap to a fresh random start), by randomness otherwise.
/// Later ids of a run are within 2^32 of an earlier one: nothing relies on
/// ids being unguessable (receivers use them only to de-duplicate).
fn message_id(created_at_ms: u64) -> uuid::Uuid {
    use std::sync::{Mutex, PoisonError};
    static LAST: Mutex<IdSequence> = Mutex::new(IdSequence { last: None });
    let mut rnd = [0u8; 16];
    OsRng.fill_bytes(&mut rnd);
    LAST.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .next(created_at_ms, u128::from_be_bytes(rnd))
}

/// The last id made (its millisecond and its 74 bits), see [`message_id`].
struct IdSequence {
    last: Option<(u64, u128)>,
}

impl IdSequence {
    /// The next id for `ms`, drawing on the 128 random bits `rnd`.
    fn next(&mut self, ms: u64, rnd: u128) -> uuid::Uuid {
        // A fresh start leaves the top bit clear: room for 2^73 steps.
        let fresh = rnd & ((1u128 << (ID_RANDOM_BITS - 1)) - 1);
        let step = 1 + ((rnd >> 96) & 0xFFFF_FFFF);
        let bits = match self.last {
            Some((last_ms, prev)) if last_ms == ms && prev + step < 1u128 << ID_RANDOM_BITS => {
                prev + step
            }
            _ => fresh,
        };
        self.last = Some((ms, bits));
        let rand_a = (bits >> 62) as u16 & 0x0FFF;
        let rand_b = bits as u64 & ((1 << 62) - 1);
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&(ms & ((1 << 48) - 1)).to_be_bytes()[2..]);
        bytes[6..8].copy_from_slice(&(0x7000 | rand_a).to_be_bytes());
        bytes[8..].copy_from_slice(&((0b10 << 62) | rand_b).to_be_bytes());
        uuid::Uuid::from_bytes(bytes)
    }
}

/// Signs a new message: generates a UUIDv7 id (from `created_at_ms`;
/// the ids this process makes for one millisecond follow each other),
/// builds the envelope (`expires_at = created_at_ms + ttl_ms`), checks that
/// the payload matches `kind`, signs it and serialises it canonically.
///
/// Fails if `ttl_ms <= 0`, `created_at_ms < 0`, the payload cannot be
/// canonicalised or does not match the kind, or the result exceeds
/// [`MAX_MESSAGE_BYTES`].
#[allow(clippy::too_many_arguments)]
pub fn sign_message(
    kind: MessageKind,
    payload: &impl Serialize,
    sender: &NodeId,
    key: &SigningKeyPair,
    recipient: Recipient,
    membership_serial: i64,
    created_at_ms: i64,
    ttl_ms: i64,
) -> Result<SignedMessage, ProtocolError> {
    if ttl_ms <= 0 {
        return Err(ProtocolError::InvalidArgument(
            "ttl_ms must be positive".into(),
        ));
    }
    if created_at_ms < 0 {
        return Err(ProtocolError::InvalidArgument(
            "created_at_ms must not be negative".into(),
        ));
    }
    let expires_at = created_at_ms
        .checked_add(ttl_ms)
        .ok_or_else(|| ProtocolError::InvalidArgument("expires_at overflows".into()))?;
    let payload =
        serde_json::to_value(payload).map_err(|e| ProtocolError::InvalidPayload(e.to_string()))?;
    check_value(&payload)?;
    Payload::from_value(kind, &payload)
        .map_err(|e| ProtocolError::InvalidPayload(e.to_string()))?;
    let id = message_id(created_at_ms as u64).hyphenated().to_string();
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        id,
        kind,
        sender: sender.clone(),
        key_id: key.key_id().clone(),
        created_at: created_at_ms,
        expires_at,
        recipient,
        membership_serial,
        payload,
        signatures: BTreeMap::new(),
    };
    let signed = sign_envelope(envelope, key)?;
    if signed.bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge {
            size: signed.bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(signed)
}

/// Low-level: signs an already built envelope with `key`, replacing its
/// signatures by `signatures[sender][key.key_id()]`. Performs no other check
/// (no size limit, no payload check); `envelope.key_id` is set to
/// `key.key_id()`. Mostly useful for tests and test vectors.
pub fn sign_envelope(
    mut envelope: Envelope,
    key: &SigningKeyPair,
) -> Result<SignedMessage, ProtocolError> {
    envelope.key_id = key.key_id().clone();
    envelope.signatures.clear();
    let to_sign = envelope.signing_bytes()?;
    let sig = key.sign_b64(&to_sign);
    envelope.signatures.insert(
        envelope.sender.to_string(),
        BTreeMap::from([(key.key_id().to_string(), sig)]),
    );
    let bytes = crate::canonical::canonical_bytes(&envelope)?;
    Ok(SignedMessage { envelope, bytes })
}

/// Message verification failure. Serialises as
/// `{"error": "<kind code>", "message": "<human readable>"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not strict JSON, not canonical, wrong structure or payload.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Envelope `version` is not supported.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// Message exceeds the size limit.
    #[error("message too large: {size} bytes (max {max})")]
    TooLarge {
        /// Received size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Unknown message kind.
    #[error("unknown message kind {0:?}")]
    UnknownKind(String),
    /// Sender is not a member of the network.
    #[error("unknown sender {0:?}")]
    UnknownSender(String),
    /// Key id not known for this sender.
    #[error("unknown key {0:?}")]
    UnknownKey(String),
    /// Sender is suspended or revoked.
    #[error("sender not active: {0}")]
    SenderNotActive(String),
    /// Key not valid at the message's creation time.
    #[error("key not valid at that time: {0}")]
    KeyNotValidAt(String),
    /// Signature missing or invalid.
    #[error("bad signature")]
    BadSignature,
    /// Message has expired.
    #[error("message expired")]
    Expired,
    /// Message created in the future (beyond tolerated skew).
    #[error("message not yet valid")]
    NotYetValid,
    /// Message addressed to another node.
    #[error("wrong recipient: expected {expected:?}, got {got:?}")]
    WrongRecipient {
        /// Local node id.
        expected: String,
        /// Recipient in the message.
        got: String,
    },
}

impl VerifyError {
    /// Stable snake_case code for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed",
            VerifyError::UnsupportedVersion(_) => "unsupported_version",
            VerifyError::TooLarge { .. } => "too_large",
            VerifyError::UnknownKind(_) => "unknown_kind",
            VerifyError::UnknownSender(_) => "unknown_sender",
            VerifyError::UnknownKey(_) => "unknown_key",
            VerifyError::SenderNotActive(_) => "sender_not_active",
            VerifyError::KeyNotValidAt(_) => "key_not_valid",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::Expired => "expired",
            VerifyError::NotYetValid => "not_yet_valid",
            VerifyError::WrongRecipient { .. } => "wrong_recipient",
        }
    }
}

impl Serialize for VerifyError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("error", self.kind())?;
        m.serialize_entry("message", &self.to_string())?;
        m.end()
    }
}

/// Resolves the public key of a sender, deciding whether the sender is a
/// known, active member and the key valid at `at_ms`.
pub trait KeyResolver {
    /// Returns the key, or `UnknownSender`, `UnknownKey`, `SenderNotActive`,
    /// `KeyNotValidAt`.
    fn resolve(
        &self,
        sender: &NodeId,
        key_id: &KeyId,
        at_ms: i64,
    ) -> Result<PublicKey, VerifyError>;
}

impl<T: KeyResolver + ?Sized> KeyResolver for &T {
    fn resolve(
        &self,
        sender: &NodeId,
        key_id: &KeyId,
        at_ms: i64,
    ) -> Result<PublicKey, VerifyError> {
        (**self).resolve(sender, key_id, at_ms)
    }
}

/// A fixed set of keys, for tests and debugging. Keys are valid at any time.
#[derive(Debug, Clone, Default)]
pub struct StaticKeys {
    /// (node, key id) → public key.
    pub keys: HashMap<(NodeId, KeyId), PublicKey>,
}

impl StaticKeys {
    /// An empty set.
    pub fn new() -> StaticKeys {
        StaticKeys::default()
    }
    /// Adds a key.
    pub fn insert(&mut self, node: NodeId, key_id: KeyId, key: PublicKey) {
        self.keys.insert((node, key_id), key);
    }
    /// Builder-style [`StaticKeys::insert`].
    pub fn with(mut self, node: NodeId, key_id: KeyId, key: PublicKey) -> StaticKeys {
        self.insert(node, key_id, key);
        self
    }
}

impl KeyResolver for StaticKeys {
    fn resolve(
        &self,
        sender: &NodeId,
        key_id: &KeyId,
        _at_ms: i64,
    ) -> Result<PublicKey, VerifyError> {
        if let Some(k) = self.keys.get(&(sender.clone(), key_id.clone())) {
            return Ok(*k);
        }
        if self.keys.keys().any(|(n, _)| n == sender) {
            Err(VerifyError::UnknownKey(format!("{sender}/{key_id}")))
        } else {
            Err(VerifyError::UnknownSender(sender.to_string()))
        }
    }
}

/// Parameters of [`verify_message`].
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Current time, unix ms.
    pub now_ms: i64,
    /// Tolerated clock skew, ms.
    pub max_skew_ms: i64,
    /// Local node: messages addressed to another node are refused.
    /// `None` accepts any recipient. Broadcasts (`*`) are always accepted.
    pub local_node: Option<NodeId>,
    /// Size limit in bytes.
    pub max_bytes: usize,
}

impl VerifyOptions {
    /// Options with 5 minutes of skew, [`MAX_MESSAGE_BYTES`] and no
    /// recipient check.
    pub fn new(now_ms: i64) -> VerifyOptions {
        VerifyOptions {
            now_ms,
            max_skew_ms: DEFAULT_MAX_SKEW_MS,
            local_node: None,
            max_bytes: MAX_MESSAGE_BYTES,
        }
    }
    /// Sets the local node (builder style).
    pub fn for_node(mut self, node: NodeId) -> VerifyOptions {
        self.local_node = Some(node);
        self
    }
}

/// A message whose signature, sender and validity were checked.
#[derive(Debug, Clone)]
pub struct VerifiedMessage {
    /// The decoded envelope; its payload is the JSON text received
    /// ([`VerifiedMessage::typed`] is the payload decoded).
    pub envelope: Envelope<RawPayload>,
    /// The exact received bytes (to relay unchanged).
    pub raw: Vec<u8>,
    /// The payload decoded into the type of its kind (verification decodes
    /// it once to check it).
    typed: Payload,
}

impl VerifiedMessage {
    /// The payload decoded into the type of the message kind, as checked by
    /// the verification (no second decoding).
    pub fn typed(&self) -> &Payload {
        &self.typed
    }

    /// Decodes the payload into `T` (`Malformed` on mismatch).
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, VerifyError> {
        serde_json::from_str(self.envelope.payload.get()).map_err(malformed_payload)
    }
}

/// Verifies a received message.
///
/// Checks, in this order: size (`too_large`) → strict JSON (`malformed`) →
/// `version` (`unsupported_version`) → `kind` (`unknown_kind`) → structure,
/// canonical encoding, `expires_at > created_at`, payload schema
/// (`malformed`) → recipient (`wrong_recipient`) → key resolution at
/// `created_at` (resolver errors) → signature `signatures[sender][key_id]`
/// with `verify_strict` (`bad_signature`) → `created_at > now + skew`
/// (`not_yet_valid`) → `now > expires_at + skew` (`expired`).
pub fn verify_message(
    raw: &[u8],
    keys: &dyn KeyResolver,
    opts: &VerifyOptions,
) -> Result<VerifiedMessage, VerifyError> {
    let pending = prepare(raw, keys, opts)?;
    if !pending.key.verify_strict(&pending.signed, &pending.sig) {
        return Err(VerifyError::BadSignature);
    }
    pending.finish(opts)
}

/// Verifies a batch of received messages: for each, exactly the checks and
/// errors of [`verify_message`], in the same order, but the signatures of
/// all the messages that reach the signature check are verified together
/// ([`crate::keys::verify_strict_many`]: batch verification, and each on its
/// own when the batch fails, so a bad signature refuses its message alone).
/// `result[i]` is the verdict on `raws[i]`.
pub fn verify_messages(
    raws: &[&[u8]],
    keys: &dyn KeyResolver,
    opts: &VerifyOptions,
) -> Vec<Result<VerifiedMessage, VerifyError>> {
    let prepared: Vec<Result<Pending, VerifyError>> =
        raws.iter().map(|raw| prepare(raw, keys, opts)).collect();
    let items: Vec<crate::keys::SignedBytes<'_>> = prepared
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|p| crate::keys::SignedBytes {
            key: &p.key,
            msg: &p.signed,
            sig: &p.sig,
        })
        .collect();
    let mut good = crate::keys::verify_strict_many(&items).into_iter();
    prepared
        .into_iter()
        .map(|p| {
            let p = p?;
            if good.next().unwrap_or(false) {
                p.finish(opts)
            } else {
                Err(VerifyError::BadSignature)
            }
        })
        .collect()
}

/// A message checked up to its signature.
struct Pending {
    envelope: Envelope<RawPayload>,
    raw: Vec<u8>,
    typed: Payload,
    key: PublicKey,
    /// The canonical envelope without `signatures`: what was signed.
    signed: Vec<u8>,
    sig: crate::keys::Signature64,
}

impl Pending {
    /// The checks after the signature: time.
    fn finish(self, opts: &VerifyOptions) -> Result<VerifiedMessage, VerifyError> {
        let envelope = self.envelope;
        if envelope.created_at > opts.now_ms.saturating_add(opts.max_skew_ms) {
            return Err(VerifyError::NotYetValid);
        }
        if opts.now_ms > envelope.expires_at.saturating_add(opts.max_skew_ms) {
            return Err(VerifyError::Expired);
        }
        Ok(VerifiedMessage {
            envelope,
            raw: self.raw,
            typed: self.typed,
        })
    }
}

/// Every check of [`verify_message`] before the signature's: the key
/// resolved, the signature decoded, the signed bytes rebuilt.
fn prepare(
    raw: &[u8],
    keys: &dyn KeyResolver,
    opts: &VerifyOptions,
) -> Result<Pending, VerifyError> {
    if raw.len() > opts.max_bytes {
        return Err(VerifyError::TooLarge {
            size: raw.len(),
            max: opts.max_bytes,
        });
    }
    let (envelope, typed) = match decode_canonical(raw) {
        Some((envelope, typed)) => {
            check_structure(&envelope)?;
            (envelope, typed)
        }
        None => {
            let envelope = decode_checked(raw)?;
            check_structure(&envelope)?;
            let typed =
                Payload::from_value(envelope.kind, &envelope.payload).map_err(malformed_payload)?;
            let payload =
                serde_json::value::to_raw_value(&envelope.payload).map_err(malformed_payload)?;
            (envelope.with_payload(payload), typed)
        }
    };

    // Recipient.
    if let (Some(local), Recipient::Node(to)) = (&opts.local_node, &envelope.recipient) {
        if local != to {
            return Err(VerifyError::WrongRecipient {
                expected: local.to_string(),
                got: to.to_string(),
            });
        }
    }

    // Key and signature.
    let key = keys.resolve(&envelope.sender, &envelope.key_id, envelope.created_at)?;
    let sig = envelope
        .signatures
        .get(envelope.sender.as_str())
        .and_then(|m| m.get(envelope.key_id.as_str()))
        .ok_or(VerifyError::BadSignature)?;
    let sig: crate::keys::Signature64 = b64url_decode(sig)
        .and_then(|s| s.try_into().ok())
        .ok_or(VerifyError::BadSignature)?;
    let signed = signed_part(raw, &envelope)?;
    Ok(Pending {
        envelope,
        raw: raw.to_vec(),
        typed,
        key,
        signed,
        sig,
    })
}

/// A payload that does not decode into its kind's type.
fn malformed_payload(e: serde_json::Error) -> VerifyError {
    VerifyError::Malformed(format!("payload: {e}"))
}

/// The envelope's structure beyond its types: a lower-case hyphenated
/// UUID id, `expires_at` after `created_at`, the sender's signature alone.
fn check_structure<P>(envelope: &Envelope<P>) -> Result<(), VerifyError> {
    match uuid::Uuid::parse_str(&envelope.id) {
        Ok(u) if u.hyphenated().to_string() == envelope.id => {}
        _ => {
            return Err(VerifyError::Malformed(
                "id is not a lower-case hyphenated UUID".into(),
            ))
        }
    }
    if envelope.expires_at <= envelope.created_at {
        return Err(VerifyError::Malformed(
            "expires_at must be after created_at".into(),
        ));
    }
    for (node, sigs) in &envelope.signatures {
        if node != envelope.sender.as_str() || sigs.len() != 1 {
            return Err(VerifyError::Malformed(
                "signatures must contain exactly the sender's signature".into(),
            ));
        }
    }
    Ok(())
}

/// The common case in one pass: a canonical envelope of this version
/// whose payload decodes ([`crate::canonical::is_canonical_text`], then
/// straight into the types). `None` for anything else, which
/// [`decode_checked`] then decodes the long way, naming the first fault in
/// [`verify_message`]'s order; both agree on what they accept.
fn decode_canonical(raw: &[u8]) -> Option<(Envelope<RawPayload>, Payload)> {
    // UTF-8 checked once: `from_str` does not check it again.
    let text = std::str::from_utf8(raw).ok()?;
    if !crate::canonical::is_canonical_text(text) {
        return None;
    }
    let envelope: Envelope<RawPayload> = serde_json::from_str(text).ok()?;
    if envelope.version != PROTOCOL_VERSION {
        return None;
    }
    let typed = Payload::from_json(envelope.kind, envelope.payload.get()).ok()?;
    Some((envelope, typed))
}

/// The long way: strict JSON, `version`, `kind`, canonical form, then the
/// envelope's structure, each refused with its own error.
fn decode_checked(raw: &[u8]) -> Result<Envelope, VerifyError> {
    let value = parse_strict(raw).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| VerifyError::Malformed("envelope is not an object".into()))?;

    let version = obj
        .get("version")
        .and_then(Value::as_u64)
        .ok_or_else(|| VerifyError::Malformed("missing or invalid version".into()))?;
    if version != u64::from(PROTOCOL_VERSION) {
        return Err(VerifyError::UnsupportedVersion(
            u32::try_from(version).unwrap_or(u32::MAX),
        ));
    }
    let kind_str = obj
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| VerifyError::Malformed("missing or invalid kind".into()))?;
    let kind: MessageKind = kind_str.parse()?;

    // Canonical form, then structure (the parsed value is moved into the
    // envelope: a message is decoded once).
    if !crate::canonical::is_canonical(&value, raw)
        .map_err(|e| VerifyError::Malformed(e.to_string()))?
    {
        return Err(VerifyError::Malformed(
            "message is not in canonical form".into(),
        ));
    }
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    debug_assert_eq!(envelope.kind, kind);
    Ok(envelope)
}

/// What was signed: the canonical envelope without its `signatures`
/// member, cut out of the canonical `raw` rather than serialised again.
/// The envelope has no unknown members, so `signatures` is followed by
/// `version` alone: `raw` ends with `,"signatures":{…},"version":N}`.
fn signed_part<P: Serialize>(raw: &[u8], envelope: &Envelope<P>) -> Result<Vec<u8>, VerifyError> {
    let malformed = |e: crate::canonical::CanonicalError| VerifyError::Malformed(e.to_string());
    let sigs = crate::canonical::canonical_bytes(&envelope.signatures).map_err(malformed)?;
    let version = format!(",\"version\":{}}}", envelope.version);
    let member = [b",\"signatures\":".as_slice(), &sigs, version.as_bytes()].concat();
    match raw.strip_suffix(member.as_slice()) {
        Some(head) => Ok([head, version.as_bytes()].concat()),
        // Cannot happen for a canonical envelope; the long way if it does.
        None => envelope
            .signing_bytes()
            .map_err(|e| VerifyError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Ids made for one millisecond sort in the order they were made, are
    /// valid UUIDv7 carrying that millisecond, and differ; another
    /// millisecond starts afresh (its own timestamp first).
    #[test]
    fn ids_of_one_millisecond_follow_each_other() {
        let mut seq = IdSequence { last: None };
        let mut next = |ms| {
            let mut rnd = [0u8; 16];
            OsRng.fill_bytes(&mut rnd);
            seq.next(ms, u128::from_be_bytes(rnd))
        };
        for ms in [0u64, 1_765_000_000_123, (1 << 48) - 1] {
            let ids: Vec<uuid::Uuid> = (0..2000).map(|_| next(ms)).collect();
            for pair in ids.windows(2) {
                assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
                let text = |u: &uuid::Uuid| u.hyphenated().to_string();
                assert!(text(&pair[0]) < text(&pair[1]));
            }
            for id in &ids {
                assert_eq!(id.get_version_num(), 7);
                assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
                let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
                assert_eq!(secs * 1000 + u64::from(nanos) / 1_000_000, ms);
            }
        }
        // Another millisecond starts afresh: its timestamp orders it.
        let a = next(5);
        let b = next(6);
        let c = next(5);
        assert!(a < b && c < b);
        assert_ne!(a, c);
        // The largest bits wrap to a fresh start rather than overflow.
        let mut seq = IdSequence {
            last: Some((9, (1u128 << ID_RANDOM_BITS) - 1)),
        };
        let id = seq.next(9, 0);
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(seq.last, Some((9, 0)));
    }

    /// A signed message takes the one-pass decoding, which gives what the
    /// long way gives; a message the one pass declines (not canonical,
    /// another version, a payload of the wrong shape) goes the long way.
    #[test]
    fn the_one_pass_decoding_gives_what_the_long_way_gives() {
        let key = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let sender = NodeId::parse("ml-tours").unwrap();
        let payload = crate::OfferClosed {
            offer_id: "ml-tours-offre-1".into(),
            reason: Some("Poste pourvu « \"vite\" »\n✅".into()),
            closed_at: 5,
        };
        let m = sign_message(
            MessageKind::OfferClosed,
            &payload,
            &sender,
            &key,
            Recipient::Network,
            1,
            10,
            1000,
        )
        .unwrap();
        let (envelope, typed) = decode_canonical(&m.bytes).unwrap();
        assert_eq!(envelope.payload.get(), m.envelope.payload.to_string());
        assert_eq!(
            envelope.with_payload(m.envelope.payload.clone()),
            decode_checked(&m.bytes).unwrap()
        );
        assert_eq!(typed, Payload::OfferClosed(payload));

        let text = String::from_utf8(m.bytes.clone()).unwrap();
        let spaced = text.replacen(':', ": ", 1);
        let version_2 = text.replace("\"version\":1}", "\"version\":2}");
        let wrong_shape = text.replace("\"closed_at\":5", "\"closed_at\":\"5\"");
        for other in [spaced, version_2, wrong_shape] {
            assert!(decode_canonical(other.as_bytes()).is_none(), "{other}");
        }
    }

    /// The signed bytes cut out of the canonical message are the canonical
    /// envelope without `signatures`, whatever the payload holds.
    #[test]
    fn signed_part_is_the_canonical_envelope_without_signatures() {
        let payloads = [
            serde_json::json!({}),
            serde_json::json!({"signatures": {"x": {"ed25519:1": "AAAA"}}, "version": 1}),
            serde_json::json!({"t": ",\"signatures\":{\"a\":{\"b\":\"c\"}},\"version\":1}"}),
            serde_json::json!({"é": "\u{1}\"\\\n", "list": [1, -2, "z"]}),
        ];
        for (i, payload) in payloads.into_iter().enumerate() {
            let mut signatures = Signatures::new();
            signatures.insert(
                "ml-tours".into(),
                BTreeMap::from([("ed25519:1".into(), format!("sig{i}"))]),
            );
            let env = Envelope {
                version: 1,
                id: "0192d3a4-0000-7000-8000-000000000000".into(),
                kind: MessageKind::OfferPublished,
                sender: NodeId::parse("ml-tours").unwrap(),
                key_id: KeyId::parse("ed25519:1").unwrap(),
                created_at: 1,
                expires_at: 2,
                recipient: Recipient::Network,
                membership_serial: 3,
                payload,
                signatures,
            };
            let raw = crate::canonical::canonical_bytes(&env).unwrap();
            assert_eq!(
                signed_part(&raw, &env).unwrap(),
                env.signing_bytes().unwrap(),
                "payload {i}"
            );
        }
    }
}
