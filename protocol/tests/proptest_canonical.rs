//! Property tests: canonical JSON stability and signature integrity.
//!
//! Case counts are small by default; `PROPTEST_CASES=N` raises them (see
//! the README, "Property tests").
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use vivier_protocol::*;

proptest! {
    #![proptest_config(proptest_config(512))]

    #[test]
    fn canonical_is_stable(v in arb_json()) {
        let s = to_canonical_string(&v).unwrap();
        let back = parse_strict(s.as_bytes()).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(to_canonical_string(&back).unwrap(), s.clone());
        // identical to serde_json's compact writer (BTreeMap-backed maps)
        prop_assert_eq!(serde_json::to_string(&v).unwrap(), s);
        // parsing a pretty-printed form gives the same canonical bytes
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert_eq!(to_canonical_string(&parse_strict(pretty.as_bytes()).unwrap()).unwrap(), to_canonical_string(&v).unwrap());
    }
}

fn signed_bytes() -> Vec<u8> {
    let mut r = referral();
    r.candidate.cv_text = "Ligne 1\n\"cité\" \\ 😀 \u{1}".into();
    sign_message(
        MessageKind::ReferralSubmitted,
        &r,
        &node("cd41"),
        &cd41_key(),
        Recipient::Node(node("petr-montlucon")),
        9_007_199_254_740_991,
        T0,
        DAY_MS,
    )
    .unwrap()
    .bytes
}

proptest! {
    #![proptest_config(proptest_config(2048))]

    #[test]
    fn any_single_byte_change_is_rejected(pos in any::<prop::sample::Index>(), new_byte in any::<u8>()) {
        let bytes = signed_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != new_byte);
        let mut tampered = bytes.clone();
        tampered[i] = new_byte;
        let opts = VerifyOptions::new(T0);
        prop_assert!(verify_message(&tampered, &static_keys(), &opts).is_err());
    }
}

/// Exhaustive variant on a smaller message: every position, a few byte values.
#[test]
fn every_position_flip() {
    let bytes = sign_message(
        MessageKind::OfferClosed,
        &closed(),
        &node("cd41"),
        &cd41_key(),
        Recipient::Network,
        1,
        T0,
        DAY_MS,
    )
    .unwrap()
    .bytes;
    let keys = static_keys();
    let opts = VerifyOptions::new(T0);
    assert!(verify_message(&bytes, &keys, &opts).is_ok());
    for i in 0..bytes.len() {
        for delta in [1u8, 0x20, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= delta;
            assert!(
                verify_message(&t, &keys, &opts).is_err(),
                "byte {i} ^ {delta:#x} accepted"
            );
        }
    }
}

proptest! {
    #![proptest_config(proptest_config(2048))]

    /// Any bytes at all: the strict parser answers, never panics; whatever
    /// it accepts serialises to canonical bytes that parse back to the same
    /// value, and those bytes are a fixed point.
    #[test]
    fn arbitrary_bytes_never_panic_and_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(v) = parse_strict(&bytes) {
            let s = to_canonical_string(&v).unwrap();
            let back = parse_strict(s.as_bytes()).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(to_canonical_string(&back).unwrap(), s);
        }
    }

    /// JSON-looking text (the alphabet of JSON, so the parser gets deep):
    /// same properties.
    #[test]
    fn json_like_text_never_panics_and_round_trips(text in "[\\[\\]{}\":,0-9eE.+\\-a-z\\\\ \u{0}-\u{1f}é😀]{0,64}") {
        if let Ok(v) = parse_strict(text.as_bytes()) {
            let s = to_canonical_string(&v).unwrap();
            prop_assert_eq!(parse_strict(s.as_bytes()).unwrap(), v);
        }
    }

    /// Mutations of canonical text either fail to parse or parse to a
    /// value whose canonical form is stable.
    #[test]
    fn mutated_canonical_text_is_handled(v in arb_json(), m in prop::collection::vec(arb_mutation(), 1..4)) {
        let s = to_canonical_string(&v).unwrap();
        let t = mutate(s.as_bytes(), &m);
        if let Ok(w) = parse_strict(&t) {
            let c = to_canonical_string(&w).unwrap();
            prop_assert_eq!(parse_strict(c.as_bytes()).unwrap(), w);
        }
    }
}
