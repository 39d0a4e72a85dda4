//! Property tests: canonical JSON stability and signature integrity.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Map, Value};
use vivier_protocol::*;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-9_007_199_254_740_991i64..=9_007_199_254_740_991i64)
            .prop_map(|i| Value::Number(i.into())),
        prop_oneof![
            Just(9_007_199_254_740_991i64),
            Just(-9_007_199_254_740_991i64),
            Just(0)
        ]
        .prop_map(|i| Value::Number(i.into())),
        any::<String>().prop_map(Value::String),
        "[a-zé\"\\\\\u{0}-\u{1f}😀\u{7f}\u{2028}]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner.clone(), 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
            prop::collection::btree_map("[a-zA-Zé😀\u{e000}\u{1}]{0,3}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

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
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

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
