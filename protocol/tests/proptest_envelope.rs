//! Property tests of the envelope parser and verifier: arbitrary input never
//! panics, and no mutation of a validly signed message verifies.
//!
//! Small by default; `PROPTEST_CASES=N` for long runs (README, "Property
//! tests").
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::Value;
use vivier_protocol::*;

/// One valid signed message of each kind (as bytes), all verifiable at T0
/// with `static_keys()` for the local node petr-montlucon.
fn valid_messages() -> &'static [Vec<u8>] {
    static MESSAGES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    MESSAGES.get_or_init(build_messages)
}

fn build_messages() -> Vec<Vec<u8>> {
    let key = cd41_key();
    let sign = |kind: MessageKind, payload: Value, to: Recipient| {
        sign_message(kind, &payload, &node("cd41"), &key, to, 12, T0, DAY_MS)
            .unwrap()
            .bytes
    };
    fn v<T: serde::Serialize>(t: &T) -> Value {
        serde_json::to_value(t).unwrap()
    }
    let petr = || Recipient::Node(node("petr-montlucon"));
    let doc =
        SignedMembershipDocument::sign(membership_doc(3, &[&op_key(1)], 1), &[&op_key(1)]).unwrap();
    vec![
        sign(
            MessageKind::OfferPublished,
            v(&offer("Agent d'entretien")),
            Recipient::Network,
        ),
        sign(
            MessageKind::OfferUpdated,
            v(&offer("Électricien ⚡")),
            Recipient::Network,
        ),
        sign(MessageKind::OfferClosed, v(&closed()), Recipient::Network),
        sign(MessageKind::ReferralSubmitted, v(&referral()), petr()),
        sign(
            MessageKind::ReferralStatusChanged,
            v(&status_changed()),
            petr(),
        ),
        sign(MessageKind::ReferralWithdrawn, v(&withdrawn()), petr()),
        sign(MessageKind::MembershipDocument, v(&doc), Recipient::Network),
    ]
}

fn opts() -> VerifyOptions {
    VerifyOptions::new(T0).for_node(node("petr-montlucon"))
}

#[test]
fn the_fixtures_verify() {
    for m in valid_messages() {
        verify_message(m, &static_keys(), &opts()).unwrap();
    }
}

proptest! {
    #![proptest_config(proptest_config(256))]

    /// Arbitrary bytes: an error, never a panic (and never a verified
    /// message: nobody holds the key).
    #[test]
    fn arbitrary_bytes_never_verify(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(verify_message(&bytes, &static_keys(), &opts()).is_err());
    }

    /// Arbitrary JSON (canonical, so the verifier gets past the parser):
    /// an error, never a panic.
    #[test]
    fn arbitrary_json_never_verifies(v in arb_json()) {
        let bytes = to_canonical_string(&v).unwrap().into_bytes();
        prop_assert!(verify_message(&bytes, &static_keys(), &opts()).is_err());
    }

    /// Byte-level mutations (replace, insert, delete, truncate, splice) of a
    /// valid message of any kind never verify.
    #[test]
    fn mutated_bytes_never_verify(which in 0usize..7, m in prop::collection::vec(arb_mutation(), 1..4)) {
        let original = &valid_messages()[which];
        let tampered = mutate(original, &m);
        prop_assume!(&tampered != original);
        prop_assert!(verify_message(&tampered, &static_keys(), &opts()).is_err());
    }

    /// Structural mutations: one value anywhere in the envelope (payload,
    /// header, signature) replaced by arbitrary JSON, re-serialised
    /// canonically. Unless the value is unchanged, it never verifies.
    #[test]
    fn mutated_structure_never_verifies(which in 0usize..7, pick in any::<usize>(), new in arb_json()) {
        let original = &valid_messages()[which];
        let mut v = parse_strict(original).unwrap();
        prop_assume!(replace_somewhere(&mut v, pick, new));
        let bytes = to_canonical_string(&v).unwrap().into_bytes();
        prop_assume!(&bytes != original);
        prop_assert!(verify_message(&bytes, &static_keys(), &opts()).is_err());
    }

    /// The same message re-signed by another key (claiming cd41) never
    /// verifies.
    #[test]
    fn signatures_by_another_key_never_verify(which in 0usize..7, seed in any::<[u8; 32]>()) {
        let forger = SigningKeyPair::from_seed(kid("ed25519:1"), &seed);
        prop_assume!(forger.public_key() != cd41_key().public_key());
        let mut v = parse_strict(&valid_messages()[which]).unwrap();
        let env: Envelope = serde_json::from_value(v.clone()).unwrap();
        let forged = sign_envelope(env, &forger).unwrap();
        v = parse_strict(&forged.bytes).unwrap();
        let bytes = to_canonical_string(&v).unwrap().into_bytes();
        prop_assert_eq!(
            verify_message(&bytes, &static_keys(), &opts()).unwrap_err(),
            VerifyError::BadSignature
        );
    }
}
