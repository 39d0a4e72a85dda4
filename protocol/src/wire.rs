//! Bodies of the federation HTTP endpoints (README §§ 9–11): what
//! `GET /.well-known/vivier` publishes, the body and answer of
//! `PUT /federation/v1/txn/{txn_id}`, and a page of
//! `GET /federation/v1/log`. Nodes and the operator's tools use these same
//! types on both sides of the wire.
//!
//! Signed messages travel inside these bodies as raw JSON
//! ([`serde_json::value::RawValue`]): they are verified from their exact
//! bytes, never re-serialised.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Most messages one transaction may carry.
pub const MAX_TXN_MESSAGES: usize = 50;

/// What `GET /.well-known/vivier` publishes about a node. Unknown fields are
/// ignored and missing optional ones default, so that nodes of different
/// versions can read each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WellKnown {
    /// Node id.
    pub node_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// The base URL the node believes it has.
    #[serde(default)]
    pub base_url: String,
    /// Protocol versions spoken.
    #[serde(default)]
    pub protocol_versions: Vec<u32>,
    /// Published keys, with their validity.
    #[serde(default)]
    pub keys: Vec<WellKnownKey>,
    /// Serial of the membership document the node holds.
    #[serde(default)]
    pub membership_serial: Option<i64>,
    /// Software and version (`vivier-node 0.1.0`).
    #[serde(default)]
    pub software: String,
}

/// Path of the operator's status read: `GET`, signed (RFC 9421) with an
/// operator key (`keyid="operator/ed25519:N"`, `vivier-destination` the
/// node); answers a [`NodeReport`]. Any single current operator key may
/// read it (it changes nothing), whatever the document's threshold.
pub const OPERATOR_STATUS_PATH: &str = "/federation/v1/operator/status";

/// What a node tells the operator about its federation state
/// ([`OPERATOR_STATUS_PATH`]). Counts only: no personal data. Unknown fields
/// are ignored and missing ones default, as for [`WellKnown`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeReport {
    /// Node id.
    pub node_id: String,
    /// The node's clock when it answered (unix ms).
    #[serde(default)]
    pub generated_at: i64,
    /// Serial of the membership document it holds.
    #[serde(default)]
    pub membership_serial: Option<i64>,
    /// Expiry of that document (unix ms).
    #[serde(default)]
    pub membership_expires_at: Option<i64>,
    /// Messages in its broadcast (catch-up) log: the head of what others
    /// read from it.
    #[serde(default)]
    pub log_head: i64,
    /// Messages queued and not yet acknowledged, all destinations.
    #[serde(default)]
    pub outbox_depth: i64,
    /// Parked messages (permanently refused or undeliverable).
    #[serde(default)]
    pub dead_letters: i64,
    /// One row per peer it has queued for or heard from.
    #[serde(default)]
    pub peers: Vec<PeerReport>,
}

/// One peer as seen by the reporting node ([`NodeReport::peers`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerReport {
    /// The peer's node id.
    pub node_id: String,
    /// Messages queued for that peer and not yet acknowledged by it: how far
    /// the peer lags behind the reporting node.
    #[serde(default)]
    pub outbox_depth: i64,
    /// Creation time of the oldest of those (unix ms).
    #[serde(default)]
    pub oldest_queued_at: Option<i64>,
    /// Messages for that peer parked as dead letters.
    #[serde(default)]
    pub dead_letters: i64,
    /// Consecutive delivery failures.
    #[serde(default)]
    pub failures: i64,
    /// No delivery attempt before this time (unix ms) while backing off.
    #[serde(default)]
    pub backoff_until: Option<i64>,
    /// Last time the peer answered or called (unix ms).
    #[serde(default)]
    pub last_contact_at: Option<i64>,
    /// Position read in the peer's broadcast log by catch-up.
    #[serde(default)]
    pub log_cursor: i64,
    /// Last delivery error, if the last attempt failed.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// One key published in [`WellKnown`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WellKnownKey {
    /// Key id (`ed25519:1`).
    pub key_id: String,
    /// Unpadded base64url public key.
    pub public_key: String,
    /// Start of validity (unix ms).
    #[serde(default)]
    pub valid_from: i64,
    /// End of validity (unix ms), if the key expires.
    #[serde(default)]
    pub valid_until: Option<i64>,
}

/// The body of `PUT /federation/v1/txn/{txn_id}`: up to
/// [`MAX_TXN_MESSAGES`] signed messages, borrowed from the request bytes.
#[derive(Debug, Deserialize)]
pub struct TxnBody<'a> {
    /// The signed messages, each exactly as its sender serialised it.
    #[serde(borrow)]
    pub messages: Vec<&'a RawValue>,
}

impl TxnBody<'_> {
    /// The body for `messages`, each already a serialised signed message
    /// (written as is, not re-serialised).
    pub fn encode<'m>(messages: impl IntoIterator<Item = &'m str>) -> String {
        let mut body = String::from("{\"messages\":[");
        for (i, m) in messages.into_iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(m);
        }
        body.push_str("]}");
        body
    }
}

/// The receiver's verdict on one message of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Stored and applied.
    Accepted,
    /// Already received from this origin: counts as delivered.
    Duplicate,
    /// Permanently refused: the sender parks it (dead letter).
    Refused,
}

/// The answer for one message of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageResult {
    /// Accepted, duplicate or refused.
    pub status: MessageStatus,
    /// Refusal code (protocol error kind) when not accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Human explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl MessageResult {
    /// Stored and applied.
    pub fn accepted() -> Self {
        MessageResult {
            status: MessageStatus::Accepted,
            error: None,
            message: None,
        }
    }

    /// Already received from this origin.
    pub fn duplicate() -> Self {
        MessageResult {
            status: MessageStatus::Duplicate,
            error: Some("replayed".into()),
            message: Some("message id already received from this origin".into()),
        }
    }

    /// Refused for good, with its code and explanation.
    pub fn refused(code: &str, message: String) -> Self {
        MessageResult {
            status: MessageStatus::Refused,
            error: Some(code.into()),
            message: Some(message),
        }
    }
}

/// The answer to a transaction: one result per message id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    /// Message id → verdict.
    pub results: BTreeMap<String, MessageResult>,
}

/// A page of `GET /federation/v1/log?after=SEQ&limit=N`: the broadcasts a
/// node emitted after `after`, oldest first.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogPage {
    /// Signed messages, exactly as stored.
    pub messages: Vec<Box<RawValue>>,
    /// Position of the last message of the page (the next `after`).
    pub last_seq: i64,
    /// More messages follow.
    pub more: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn txn_body_round_trips_messages_byte_for_byte() {
        let a = r#"{"b":1,"a":"é"}"#;
        let b = r#"{"x":[1,2]}"#;
        let body = TxnBody::encode([a, b]);
        let parsed: TxnBody<'_> = serde_json::from_str(&body).unwrap();
        let got: Vec<&str> = parsed.messages.iter().map(|m| m.get()).collect();
        assert_eq!(got, [a, b]);
        assert_eq!(TxnBody::encode([]), r#"{"messages":[]}"#);
    }

    #[test]
    fn txn_response_wire_form_is_stable() {
        let mut r = TxnResponse::default();
        r.results.insert("m1".into(), MessageResult::accepted());
        r.results.insert(
            "m2".into(),
            MessageResult::refused("invalid_payload", "x".into()),
        );
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"results":{"m1":{"status":"accepted"},"m2":{"status":"refused","error":"invalid_payload","message":"x"}}}"#
        );
        let back: TxnResponse =
            serde_json::from_str(r#"{"results":{"m3":{"status":"duplicate","error":"replayed"}}}"#)
                .unwrap();
        assert_eq!(back.results["m3"].status, MessageStatus::Duplicate);
        assert!(
            serde_json::from_str::<TxnResponse>(r#"{"results":{"m":{"status":"maybe"}}}"#).is_err()
        );
    }

    #[test]
    fn well_known_tolerates_missing_optional_fields() {
        let wk: WellKnown = serde_json::from_str(
            r#"{"node_id":"cd41","keys":[{"key_id":"ed25519:1","public_key":"AAAA"}],"extra":true}"#,
        )
        .unwrap();
        assert_eq!(wk.node_id, "cd41");
        assert_eq!(wk.keys[0].valid_from, 0);
        assert_eq!(wk.software, "");
    }
}
