//! Signing and verification of envelopes.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use vivier_protocol::*;

fn signed_offer() -> SignedMessage {
    sign_message(
        MessageKind::OfferPublished,
        &offer("Agent d'entretien à Blois"),
        &node("cd41"),
        &cd41_key(),
        Recipient::Network,
        3,
        T0,
        7 * DAY_MS,
    )
    .unwrap()
}

#[test]
fn round_trip_all_kinds() {
    let doc =
        SignedMembershipDocument::sign(membership_doc(3, &[&op_key(1)], 1), &[&op_key(1)]).unwrap();
    let payloads: Vec<(MessageKind, Value)> = vec![
        (
            MessageKind::OfferPublished,
            serde_json::to_value(offer("a")).unwrap(),
        ),
        (
            MessageKind::OfferUpdated,
            serde_json::to_value(offer("b")).unwrap(),
        ),
        (
            MessageKind::OfferClosed,
            serde_json::to_value(closed()).unwrap(),
        ),
        (
            MessageKind::ReferralSubmitted,
            serde_json::to_value(referral()).unwrap(),
        ),
        (
            MessageKind::ReferralStatusChanged,
            serde_json::to_value(status_changed()).unwrap(),
        ),
        (
            MessageKind::ReferralWithdrawn,
            serde_json::to_value(withdrawn()).unwrap(),
        ),
        (
            MessageKind::MembershipDocument,
            serde_json::to_value(&doc).unwrap(),
        ),
    ];
    let resolver = doc.document.clone();
    for (kind, payload) in payloads {
        let m = sign_message(
            kind,
            &payload,
            &node("cd41"),
            &cd41_key(),
            Recipient::Node(node("petr-montlucon")),
            3,
            T0,
            60_000,
        )
        .unwrap();
        assert_eq!(m.bytes, canonical_bytes(&m.envelope).unwrap());
        let uuid = uuid::Uuid::parse_str(&m.envelope.id).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        let opts = VerifyOptions::new(T0 + 1000).for_node(node("petr-montlucon"));
        let v = verify_message(&m.bytes, &resolver, &opts).unwrap();
        assert_eq!(v.envelope, m.envelope);
        assert_eq!(v.raw, m.bytes);
        let typed = v.typed_payload().unwrap();
        assert_eq!(typed.kind(), kind);
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        assert_eq!(kind.as_str().parse::<MessageKind>().unwrap(), kind);
    }
}

#[test]
fn typed_payload_access() {
    let m = signed_offer();
    let v = verify_message(&m.bytes, &static_keys(), &VerifyOptions::new(T0)).unwrap();
    let o: OfferPayload = v.payload().unwrap();
    assert_eq!(o, offer("Agent d'entretien à Blois"));
    assert!(matches!(
        v.payload::<OfferClosed>(),
        Err(VerifyError::Malformed(_))
    ));
    match v.typed_payload().unwrap() {
        Payload::OfferPublished(p) => assert_eq!(p.title, "Agent d'entretien à Blois"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sign_message_rejects_bad_inputs() {
    let k = cd41_key();
    let n = node("cd41");
    let e = sign_message(
        MessageKind::OfferClosed,
        &closed(),
        &n,
        &k,
        Recipient::Network,
        1,
        T0,
        0,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "invalid_argument");
    let e = sign_message(
        MessageKind::OfferPublished,
        &closed(),
        &n,
        &k,
        Recipient::Network,
        1,
        T0,
        1,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "invalid_payload");
    let e = sign_message(
        MessageKind::OfferClosed,
        &json!({"offer_id":"x","closed_at":1.5}),
        &n,
        &k,
        Recipient::Network,
        1,
        T0,
        1,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ProtocolError::Canonical(CanonicalError::Float) | ProtocolError::InvalidPayload(_)
        ),
        "{e:?}"
    );
    let mut big = offer("x");
    big.description = "x".repeat(MAX_MESSAGE_BYTES);
    let e = sign_message(
        MessageKind::OfferPublished,
        &big,
        &n,
        &k,
        Recipient::Network,
        1,
        T0,
        1,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "too_large");
}

#[test]
fn ids_are_unique() {
    let a = signed_offer();
    let b = signed_offer();
    assert_ne!(a.envelope.id, b.envelope.id);
}

#[test]
fn time_boundaries() {
    let m = signed_offer(); // created T0, expires T0 + 7d
    let keys = static_keys();
    let skew = 5 * 60_000;
    let at = |now| verify_message(&m.bytes, &keys, &VerifyOptions::new(now)).map(|_| ());
    assert_eq!(at(T0 - skew), Ok(()));
    assert_eq!(at(T0 - skew - 1), Err(VerifyError::NotYetValid));
    assert_eq!(at(T0 + 7 * DAY_MS + skew), Ok(()));
    assert_eq!(at(T0 + 7 * DAY_MS + skew + 1), Err(VerifyError::Expired));
}

#[test]
fn recipients() {
    let m = sign_message(
        MessageKind::ReferralWithdrawn,
        &withdrawn(),
        &node("cd41"),
        &cd41_key(),
        Recipient::Node(node("petr-montlucon")),
        1,
        T0,
        DAY_MS,
    )
    .unwrap();
    let keys = static_keys();
    assert!(verify_message(&m.bytes, &keys, &VerifyOptions::new(T0)).is_ok());
    assert!(verify_message(
        &m.bytes,
        &keys,
        &VerifyOptions::new(T0).for_node(node("petr-montlucon"))
    )
    .is_ok());
    let e = verify_message(
        &m.bytes,
        &keys,
        &VerifyOptions::new(T0).for_node(node("cd18")),
    )
    .unwrap_err();
    assert_eq!(
        e,
        VerifyError::WrongRecipient {
            expected: "cd18".into(),
            got: "petr-montlucon".into()
        }
    );
    // broadcasts are accepted by anyone
    let b = signed_offer();
    assert!(verify_message(
        &b.bytes,
        &keys,
        &VerifyOptions::new(T0).for_node(node("cd18"))
    )
    .is_ok());
}

#[test]
fn membership_resolver_errors() {
    let doc = membership_doc(5, &[&op_key(1)], 1);
    let send = |sender: &str, key: &SigningKeyPair, created: i64| {
        sign_message(
            MessageKind::OfferClosed,
            &closed(),
            &node(sender),
            key,
            Recipient::Network,
            5,
            created,
            DAY_MS,
        )
        .unwrap()
    };
    let opts = VerifyOptions::new(T0);
    // revoked member
    let e = verify_message(&send("cd18", &cd18_key(), T0).bytes, &doc, &opts).unwrap_err();
    assert_eq!(e.kind(), "sender_not_active");
    // suspended member
    let mut d2 = doc.clone();
    d2.members[0].status = MemberStatus::Suspended {
        reason: "impayé".into(),
        since: T0 - 1,
    };
    let e = verify_message(&send("cd41", &cd41_key(), T0).bytes, &d2, &opts).unwrap_err();
    assert_eq!(e.kind(), "sender_not_active");
    // unknown member
    let e = verify_message(&send("cd99", &cd41_key(), T0).bytes, &doc, &opts).unwrap_err();
    assert_eq!(e.kind(), "unknown_sender");
    // unknown key
    let e = verify_message(
        &send("cd41", &key("cd41", "ed25519:2"), T0).bytes,
        &doc,
        &opts,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "unknown_key");
    // key not yet valid / retired at created_at
    let mut d3 = doc.clone();
    d3.members[0].keys[0].valid_from = T0 + 1;
    let e = verify_message(&send("cd41", &cd41_key(), T0).bytes, &d3, &opts).unwrap_err();
    assert_eq!(e.kind(), "key_not_valid");
    d3.members[0].keys[0].valid_from = T0 - DAY_MS;
    d3.members[0].keys[0].valid_until = Some(T0);
    let e = verify_message(&send("cd41", &cd41_key(), T0).bytes, &d3, &opts).unwrap_err();
    assert_eq!(e.kind(), "key_not_valid");
    assert!(verify_message(&send("cd41", &cd41_key(), T0 - 1).bytes, &d3, &opts).is_ok());
    // wrong key under a known key id
    let e = verify_message(
        &send("cd41", &key("impostor", "ed25519:1"), T0).bytes,
        &doc,
        &opts,
    )
    .unwrap_err();
    assert_eq!(e, VerifyError::BadSignature);
}

#[test]
fn structural_errors() {
    let m = signed_offer();
    let keys = static_keys();
    let opts = VerifyOptions::new(T0);
    let mut v: Value = serde_json::from_slice(&m.bytes).unwrap();
    let check =
        |v: &Value| verify_message(&to_canonical_string(v).unwrap().into_bytes(), &keys, &opts);

    let mut extra_sig = v.clone();
    extra_sig["signatures"]["petr-montlucon"] = json!({"ed25519:1": "AAAA"});
    assert_eq!(check(&extra_sig).unwrap_err().kind(), "malformed");

    let mut bad_id = v.clone();
    bad_id["id"] = json!("not-a-uuid");
    assert_eq!(check(&bad_id).unwrap_err().kind(), "malformed");

    let mut bad_sig = v.clone();
    bad_sig["signatures"]["cd41"]["ed25519:1"] = json!("!!!");
    assert_eq!(check(&bad_sig).unwrap_err(), VerifyError::BadSignature);

    let mut v_big = v.clone();
    v_big["version"] = json!(1u64 << 40);
    assert_eq!(
        check(&v_big).unwrap_err(),
        VerifyError::UnsupportedVersion(u32::MAX)
    );

    v.as_object_mut().unwrap().remove("version");
    assert_eq!(check(&v).unwrap_err().kind(), "malformed");

    let e = verify_message(
        &m.bytes,
        &keys,
        &VerifyOptions {
            max_bytes: 100,
            ..VerifyOptions::new(T0)
        },
    )
    .unwrap_err();
    assert_eq!(
        e,
        VerifyError::TooLarge {
            size: m.bytes.len(),
            max: 100
        }
    );

    assert_eq!(
        verify_message(b"\xff", &keys, &opts).unwrap_err().kind(),
        "malformed"
    );
    let mut pretty =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&m.bytes).unwrap()).unwrap();
    assert_eq!(
        verify_message(&pretty, &keys, &opts).unwrap_err().kind(),
        "malformed"
    );
    pretty.clear();
}

#[test]
fn error_serialization_and_codes() {
    let e = VerifyError::WrongRecipient {
        expected: "a1".into(),
        got: "b2".into(),
    };
    let j = serde_json::to_value(&e).unwrap();
    assert_eq!(j["error"], "wrong_recipient");
    assert!(j["message"].as_str().unwrap().contains("b2"));
    assert_eq!(
        VerifyError::KeyNotValidAt("x".into()).kind(),
        "key_not_valid"
    );
    assert_eq!(
        "nope".parse::<MessageKind>().unwrap_err().kind(),
        "unknown_kind"
    );
    assert_eq!(
        serde_json::to_value(Recipient::Network).unwrap(),
        json!("*")
    );
    assert_eq!(
        serde_json::from_value::<Recipient>(json!("cd41")).unwrap(),
        Recipient::Node(node("cd41"))
    );
}
