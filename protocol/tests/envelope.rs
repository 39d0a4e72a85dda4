//! Signing and verification of envelopes.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use vivier_protocol::*;

fn signed_offer() -> SignedMessage {
    signed_offer_titled("Agent d'entretien à Blois")
}

fn signed_offer_titled(title: &str) -> SignedMessage {
    sign_message(
        MessageKind::OfferPublished,
        &offer(title),
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
        // The payload as received, its text the signed bytes' own.
        assert_eq!(
            v.envelope.payload.get(),
            to_canonical_string(&payload).unwrap()
        );
        assert_eq!(v.envelope.clone().with_payload(payload.clone()), m.envelope);
        assert_eq!(v.raw, m.bytes);
        let typed = v.typed();
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
    match v.typed() {
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

/// `m` with its signature replaced by `sig` (unpadded base64url of 64
/// bytes): still canonical, same length.
fn with_signature(m: &SignedMessage, sig: &[u8; 64]) -> Vec<u8> {
    let text = String::from_utf8(m.bytes.clone()).unwrap();
    let old = m.envelope.signatures["cd41"]["ed25519:1"].clone();
    let new = vivier_protocol::keys::b64url_encode(sig);
    assert_eq!(old.len(), new.len());
    text.replacen(&old, &new, 1).into_bytes()
}

#[test]
fn batch_verification_gives_each_message_its_own_verdict() {
    let keys = static_keys();
    let opts = VerifyOptions::new(T0);
    let good: Vec<SignedMessage> = (0..49)
        .map(|i| signed_offer_titled(&format!("Poste {i}")))
        .collect();
    let all_good: Vec<&[u8]> = good.iter().map(|m| m.bytes.as_slice()).collect();
    assert!(verify_messages(&all_good, &keys, &opts)
        .iter()
        .all(Result::is_ok));

    // Forged: another message's signature; one bit flipped; a non-canonical
    // `s` (s + ℓ); the identity as `R` (small order).
    let sig_of = |m: &SignedMessage| -> [u8; 64] {
        vivier_protocol::keys::b64url_decode(&m.envelope.signatures["cd41"]["ed25519:1"])
            .unwrap()
            .try_into()
            .unwrap()
    };
    let swapped = with_signature(&good[3], &sig_of(&good[4]));
    let mut flipped = sig_of(&good[5]);
    flipped[10] ^= 1;
    let flipped = with_signature(&good[5], &flipped);
    let mut non_canonical = sig_of(&good[6]);
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(non_canonical[32 + i]) + u16::from(L[i]) + carry;
        non_canonical[32 + i] = (v & 0xff) as u8;
        carry = v >> 8;
    }
    let non_canonical = with_signature(&good[6], &non_canonical);
    let mut small_r = sig_of(&good[7]);
    small_r[..32].copy_from_slice(&{
        let mut id = [0u8; 32];
        id[0] = 1;
        id
    });
    let small_r = with_signature(&good[7], &small_r);
    let expired = sign_message(
        MessageKind::OfferPublished,
        &offer("Expirée"),
        &node("cd41"),
        &cd41_key(),
        Recipient::Network,
        3,
        T0 - 30 * DAY_MS,
        DAY_MS,
    )
    .unwrap();

    let mut batch: Vec<&[u8]> = all_good.clone();
    batch[3] = &swapped;
    batch[5] = &flipped;
    batch[6] = &non_canonical;
    batch[7] = &small_r;
    batch.push(&expired.bytes);
    batch.push(b"{\"not\":\"a message\"}");
    let together = verify_messages(&batch, &keys, &opts);
    assert_eq!(together.len(), batch.len());
    for (i, (raw, verdict)) in batch.iter().zip(&together).enumerate() {
        let alone = verify_message(raw, &keys, &opts);
        assert_eq!(
            verdict.as_ref().map(|v| v.envelope.id.clone()),
            alone.as_ref().map(|v| v.envelope.id.clone()),
            "message {i}"
        );
    }
    let refused: Vec<usize> = together
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(refused, [3, 5, 6, 7, 49, 50]);
    for i in [3, 5, 6, 7] {
        assert_eq!(
            together[i].as_ref().unwrap_err(),
            &VerifyError::BadSignature
        );
    }
    assert_eq!(together[49].as_ref().unwrap_err(), &VerifyError::Expired);
    // One message alone and an empty batch.
    assert!(verify_messages(&[all_good[0]], &keys, &opts)[0].is_ok());
    assert!(verify_messages(&[], &keys, &opts).is_empty());
}
