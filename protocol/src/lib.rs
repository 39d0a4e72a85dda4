//! Vivier wire protocol.
//!
//! * [`canonical`] — strict JSON parsing and canonical serialisation,
//! * [`keys`] — node / key identifiers, ed25519 keys, key files,
//! * [`envelope`] — signed message envelopes, signing and verification,
//! * [`payload`] — typed message payloads,
//! * [`httpsig`] — RFC 9421 HTTP message signatures between nodes,
//! * [`membership`] — operator-signed membership documents,
//! * [`netsearch`] — network search: query, pseudonymous answer, interest,
//! * [`wire`] — bodies of the federation HTTP endpoints (well-known, txn, log).
//!
//! This crate performs no network I/O; the only file I/O is
//! [`KeyFile::read`] / [`KeyFile::write`]. The wire format is specified in
//! the crate's `README.md`.

#![deny(missing_docs)]

pub mod canonical;
mod cursor;
pub mod envelope;
pub mod error;
pub mod httpsig;
pub mod keys;
pub mod membership;
pub mod netsearch;
pub mod payload;
pub mod wire;

pub use canonical::{
    canonical_bytes, canonical_str_len, check_value, parse_strict, to_canonical_string,
    truncate_canonical, CanonicalError,
};
pub use envelope::{
    sign_envelope, sign_message, verify_message, verify_messages, Envelope, KeyResolver,
    MessageKind, Payload, RawPayload, Recipient, Signatures, SignedMessage, StaticKeys,
    VerifiedMessage, VerifyError, VerifyOptions, ENVELOPE_OVERHEAD_MAX, MAX_MESSAGE_BYTES,
    MAX_PAYLOAD_BYTES, PROTOCOL_VERSION,
};
pub use error::ProtocolError;
pub use httpsig::{
    content_digest, parse_signer, sign_request, verify_request, HttpSigError, RequestSigner,
    SignedHeaders,
};
pub use keys::{
    verify_strict_many, KeyFile, KeyId, NodeId, PublicKey, Signature64, SignedBytes, SigningKeyPair,
};
pub use membership::{
    check_update, Member, MemberKey, MemberKind, MemberStatus, MembershipDocument, MembershipError,
    NetworkSearchLimits, OperatorKey, OperatorKeys, SignedMembershipDocument, Territory, Trust,
    TrustAnchor,
};
pub use netsearch::{
    pseudonym, query_key, DistanceBand, InterestReceipt, InterestRequest, InterestStatus,
    InterestUpdate, NetworkAnswer, NetworkQuery, PlaceCount, PseudonymousResult, QueryPlace,
    MAX_ANSWER_RESULTS, MAX_QUERY_PLACES, MAX_QUERY_ROME_CODES, NETWORK_INTEREST_PATH,
    NETWORK_INTEREST_UPDATE_PATH, NETWORK_SEARCH_PATH, PSEUDONYM_LEN,
};
pub use payload::{
    CandidateProfile, ContractType, Employer, FigureCell, OfferClosed, OfferPayload,
    OpportunityClosed, OpportunityPayload, OpportunityPlace, OpportunityType, ReferralStatus,
    ReferralStatusChanged, ReferralSubmitted, ReferralTarget, ReferralWithdrawn, RefusalReason,
    ReportFigures, Salary, SalaryPeriod, UnknownName, WithdrawReason, Workplace,
};
pub use wire::{
    LogPage, MessageResult, MessageStatus, NodeReport, PeerReport, TxnBody, TxnResponse, WellKnown,
    WellKnownKey, MAX_TXN_MESSAGES, OPERATOR_STATUS_PATH,
};
