//! Property tests of membership documents: arbitrary input never panics,
//! and a tampered document is never accepted.
//!
//! Small by default; `PROPTEST_CASES=N` for long runs (README, "Property
//! tests").
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use vivier_protocol::*;

fn trust() -> Trust {
    Trust::from_anchor(&TrustAnchor {
        operator_keys: [op_key(1), op_key(2)]
            .iter()
            .map(|k| OperatorKey {
                key_id: k.key_id().clone(),
                public_key: k.public_key(),
            })
            .collect(),
        threshold: 2,
    })
}

fn signed() -> SignedMembershipDocument {
    let (o1, o2) = (op_key(1), op_key(2));
    SignedMembershipDocument::sign(membership_doc(5, &[&o1, &o2], 2), &[&o1, &o2]).unwrap()
}

#[test]
fn the_fixture_is_accepted() {
    let s = signed();
    let parsed = SignedMembershipDocument::from_bytes(&s.to_bytes().unwrap()).unwrap();
    trust().accept(Some(4), &parsed, T0).unwrap();
}

proptest! {
    #![proptest_config(proptest_config(256))]

    /// Arbitrary bytes: parsing answers, never panics; nothing is accepted.
    #[test]
    fn arbitrary_bytes_are_never_accepted(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(doc) = SignedMembershipDocument::from_bytes(&bytes) {
            prop_assert!(trust().accept(None, &doc, T0).is_err());
        }
    }

    /// Arbitrary JSON: same.
    #[test]
    fn arbitrary_json_is_never_accepted(v in arb_json()) {
        let bytes = to_canonical_string(&v).unwrap().into_bytes();
        if let Ok(doc) = SignedMembershipDocument::from_bytes(&bytes) {
            prop_assert!(trust().accept(None, &doc, T0).is_err());
        }
    }

    /// Byte-level mutations: whatever still parses and is accepted carries
    /// exactly the signed document.
    #[test]
    fn mutated_bytes_never_change_an_accepted_document(m in prop::collection::vec(arb_mutation(), 1..4)) {
        let original = signed();
        let bytes = mutate(&original.to_bytes().unwrap(), &m);
        if let Ok(doc) = SignedMembershipDocument::from_bytes(&bytes) {
            if trust().accept(Some(4), &doc, T0).is_ok() {
                prop_assert_eq!(&doc.document, &original.document);
            }
        }
    }

    /// Structural mutations: one value replaced anywhere (members, keys,
    /// serial, signatures…). A changed document is never accepted.
    #[test]
    fn mutated_structure_is_never_accepted(pick in any::<usize>(), new in arb_json()) {
        let original = signed();
        let mut v = parse_strict(&original.to_bytes().unwrap()).unwrap();
        prop_assume!(replace_somewhere(&mut v, pick, new));
        let bytes = to_canonical_string(&v).unwrap().into_bytes();
        if let Ok(doc) = SignedMembershipDocument::from_bytes(&bytes) {
            if doc.document != original.document {
                prop_assert!(trust().accept(Some(4), &doc, T0).is_err());
            }
        }
    }
}
