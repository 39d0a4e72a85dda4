//! Membership documents: validation, signatures, updates, rotation.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use vivier_protocol::*;

fn anchor(keys: &[&SigningKeyPair], threshold: u32) -> Trust {
    Trust::from_anchor(&TrustAnchor {
        operator_keys: keys
            .iter()
            .map(|k| OperatorKey {
                key_id: k.key_id().clone(),
                public_key: k.public_key(),
            })
            .collect(),
        threshold,
    })
}

#[test]
fn bootstrap_and_update() {
    let (o1, o2) = (op_key(1), op_key(2));
    let trust = anchor(&[&o1, &o2], 2);
    let d1 =
        SignedMembershipDocument::sign(membership_doc(1, &[&o1, &o2], 2), &[&o1, &o2]).unwrap();
    trust.accept(None, &d1, T0).unwrap();
    let d2 =
        SignedMembershipDocument::sign(membership_doc(2, &[&o1, &o2], 2), &[&o1, &o2]).unwrap();
    let current = Trust::from_document(&d1.document);
    assert_eq!(check_update(&current, Some(1), &d2, T0), Ok(()));
    // rollback and same serial
    assert_eq!(
        current.accept(Some(2), &d1, T0),
        Err(MembershipError::Rollback {
            current: 2,
            offered: 1
        })
    );
    assert_eq!(
        current.accept(Some(2), &d2, T0),
        Err(MembershipError::SameSerial(2))
    );
    assert_eq!(
        current.accept(Some(2), &d2, T0).unwrap_err().kind(),
        "same_serial"
    );
    // expired
    assert_eq!(
        current.accept(Some(1), &d2, T0 + 30 * DAY_MS),
        Err(MembershipError::Expired)
    );
    assert_eq!(current.accept(Some(1), &d2, T0 + 30 * DAY_MS - 1), Ok(()));
}

#[test]
fn signatures() {
    let (o1, o2, o3) = (op_key(1), op_key(2), op_key(3));
    let trust = anchor(&[&o1, &o2], 2);
    // only one of two
    let d = SignedMembershipDocument::sign(membership_doc(1, &[&o1, &o2], 2), &[&o1]).unwrap();
    assert_eq!(
        trust.accept(None, &d, T0),
        Err(MembershipError::InsufficientSignatures { needed: 2, got: 1 })
    );
    // the same signature twice under another key id doesn't count twice
    let mut dup = d.clone();
    let s = dup.signatures["ed25519:op1"].clone();
    dup.signatures.insert("ed25519:op9".into(), s);
    assert_eq!(
        trust.accept(None, &dup, T0).unwrap_err().kind(),
        "insufficient_signatures"
    );
    // signature by an untrusted key
    let d = SignedMembershipDocument::sign(membership_doc(1, &[&o1, &o2], 2), &[&o1, &o3]).unwrap();
    assert_eq!(
        trust.accept(None, &d, T0),
        Err(MembershipError::InsufficientSignatures { needed: 2, got: 1 })
    );
    // wrong signature: tampered document
    let mut d =
        SignedMembershipDocument::sign(membership_doc(1, &[&o1, &o2], 2), &[&o1, &o2]).unwrap();
    d.document.members[2].status = MemberStatus::Active;
    assert_eq!(
        trust.accept(None, &d, T0),
        Err(MembershipError::BadSignature)
    );
    // signature from another key filed under a trusted key id
    let mut d =
        SignedMembershipDocument::sign(membership_doc(1, &[&o1, &o2], 2), &[&o1, &o2]).unwrap();
    let forged = key("evil", "ed25519:op2");
    d.add_signature(&forged).unwrap();
    assert_eq!(
        trust.accept(None, &d, T0).unwrap_err().kind(),
        "bad_signature"
    );
}

#[test]
fn rotation() {
    let (o1, o2, o3) = (op_key(1), op_key(2), op_key(3));
    let current = Trust::from_document(&membership_doc(4, &[&o1], 1));
    // new key set {o2, o3} threshold 1, signed by old key only
    let new_doc = membership_doc(5, &[&o2, &o3], 1);
    let d = SignedMembershipDocument::sign(new_doc.clone(), &[&o1]).unwrap();
    assert_eq!(
        current.accept(Some(4), &d, T0),
        Err(MembershipError::RotationNotSignedByNewKeys { needed: 1, got: 0 })
    );
    // signed by new keys only
    let d = SignedMembershipDocument::sign(new_doc.clone(), &[&o2]).unwrap();
    assert_eq!(
        current.accept(Some(4), &d, T0),
        Err(MembershipError::InsufficientSignatures { needed: 1, got: 0 })
    );
    // both
    let d = SignedMembershipDocument::sign(new_doc.clone(), &[&o1, &o3]).unwrap();
    assert_eq!(current.accept(Some(4), &d, T0), Ok(()));
    // afterwards only the new keys are trusted
    let next = Trust::from_document(&d.document);
    let d6 = SignedMembershipDocument::sign(membership_doc(6, &[&o2, &o3], 1), &[&o1]).unwrap();
    assert_eq!(
        next.accept(Some(5), &d6, T0).unwrap_err().kind(),
        "insufficient_signatures"
    );
    // threshold change is a rotation too
    let d = SignedMembershipDocument::sign(membership_doc(5, &[&o1, &o2], 2), &[&o1]).unwrap();
    assert_eq!(
        current.accept(Some(4), &d, T0).unwrap_err().kind(),
        "rotation_not_signed_by_new_keys"
    );
    let d = SignedMembershipDocument::sign(membership_doc(5, &[&o1, &o2], 2), &[&o1, &o2]).unwrap();
    assert_eq!(current.accept(Some(4), &d, T0), Ok(()));
}

#[test]
fn bytes_round_trip_and_malformed() {
    let o1 = op_key(1);
    let d = SignedMembershipDocument::sign(membership_doc(1, &[&o1], 1), &[&o1]).unwrap();
    let bytes = d.to_bytes().unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        to_canonical_string(&serde_json::to_value(&d).unwrap()).unwrap()
    );
    let back = SignedMembershipDocument::from_bytes(&bytes).unwrap();
    assert_eq!(back, d);
    anchor(&[&o1], 1).accept(None, &back, T0).unwrap();
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        let e = SignedMembershipDocument::from_bytes(&bytes[..cut]).unwrap_err();
        assert_eq!(e.kind(), "malformed", "cut at {cut}");
    }
    assert!(matches!(
        SignedMembershipDocument::from_bytes(b"garbage"),
        Err(MembershipError::Malformed(_))
    ));
    let text = String::from_utf8(bytes).unwrap();
    let dup = text.replacen("{\"document\":{", "{\"document\":{\"serial\":2,", 1);
    assert!(matches!(
        SignedMembershipDocument::from_bytes(dup.as_bytes()),
        Err(MembershipError::Malformed(_))
    ));
    let float = text.replacen("\"threshold\":1", "\"threshold\":1.0", 1);
    assert!(matches!(
        SignedMembershipDocument::from_bytes(float.as_bytes()),
        Err(MembershipError::Malformed(_))
    ));
    let unknown = text.replacen("\"threshold\":1", "\"threshold\":1,\"zzz\":1", 1);
    assert!(matches!(
        SignedMembershipDocument::from_bytes(unknown.as_bytes()),
        Err(MembershipError::Malformed(_))
    ));
}

#[test]
fn status_json() {
    assert_eq!(
        serde_json::to_value(MemberStatus::Active).unwrap(),
        serde_json::json!({"state":"active"})
    );
    assert_eq!(
        serde_json::to_value(MemberStatus::Suspended {
            reason: "r".into(),
            since: 5
        })
        .unwrap(),
        serde_json::json!({"state":"suspended","reason":"r","since":5})
    );
    assert_eq!(
        serde_json::to_value(MemberStatus::Revoked {
            reason: "r".into(),
            at: 5
        })
        .unwrap(),
        serde_json::json!({"state":"revoked","reason":"r","at":5})
    );
    assert_eq!(
        serde_json::to_value(MemberKind::CityMission).unwrap(),
        "city_mission"
    );
}

#[test]
fn validate_rules() {
    let o1 = op_key(1);
    let o2 = op_key(2);
    let base = membership_doc(1, &[&o1], 1);
    assert_eq!(base.validate(), Ok(()));
    assert_eq!(base.active_members().count(), 2);
    assert!(base.member(&node("cd18")).is_some());
    assert!(base.member(&node("cd99")).is_none());
    let invalid = |f: &dyn Fn(&mut MembershipDocument)| {
        let mut d = base.clone();
        f(&mut d);
        let e = d.validate().unwrap_err();
        assert_eq!(e.kind(), "invalid");
        // a signed invalid document is refused by accept()
        let s = SignedMembershipDocument {
            signatures: [(
                o1.key_id().to_string(),
                o1.sign_b64(&d.signing_bytes().unwrap()),
            )]
            .into(),
            document: d,
        };
        assert_eq!(
            anchor(&[&o1], 1).accept(None, &s, T0).unwrap_err().kind(),
            "invalid"
        );
        assert!(SignedMembershipDocument::sign(s.document, &[&o1]).is_err());
    };
    invalid(&|d| d.serial = 0);
    invalid(&|d| d.expires_at = d.issued_at);
    invalid(&|d| d.threshold = 0);
    invalid(&|d| d.threshold = 2);
    invalid(&|d| d.network_id = " ".into());
    invalid(&|d| {
        let m = d.members[0].clone();
        d.members.push(m)
    });
    invalid(&|d| {
        let k = d.members[0].keys[0].clone();
        d.members[0].keys.push(k)
    });
    invalid(&|d| d.members[0].keys[0].valid_until = Some(d.members[0].keys[0].valid_from));
    invalid(&|d| {
        let k = d.operator_keys[0].clone();
        d.operator_keys.push(OperatorKey {
            key_id: kid("ed25519:other"),
            ..k
        })
    });
    invalid(&|d| d.members[0].node_id = node("operator"));
    for url in [
        "http://vivier.cd41.fr",
        "ftp://vivier.cd41.fr",
        "not a url",
        "https://user:pw@vivier.cd41.fr",
        "https://vivier.cd41.fr/?x=1",
        "http://10.0.0.1:8080",
    ] {
        invalid(&|d| d.members[0].base_url = url.into());
    }
    for url in [
        "http://localhost:8080",
        "http://127.0.0.1",
        "http://[::1]:9000/base",
        "https://vivier.cd41.fr/fed/",
    ] {
        let mut d = base.clone();
        d.members[0].base_url = url.into();
        assert_eq!(d.validate(), Ok(()), "{url}");
    }
    let mut d = membership_doc(1, &[&o1, &o2], 2);
    d.threshold = 2;
    assert_eq!(d.validate(), Ok(()));
}

#[test]
fn loopback_urls_are_recognised_whatever_the_scheme() {
    use vivier_protocol::membership::is_loopback_url;
    for yes in [
        "http://127.0.0.1:8081",
        "https://127.8.9.10",
        "http://[::1]:8080/",
        "http://localhost:8082",
        "https://LOCALHOST",
    ] {
        assert!(is_loopback_url(yes), "{yes}");
    }
    for no in [
        "https://vivier.cd41.fr",
        "http://10.0.0.1:8081",
        "http://[2001:db8::1]",
        "http://localhost.example.org",
        "http://127.0.0.1.example.org",
        "not a url",
        "",
    ] {
        assert!(!is_loopback_url(no), "{no}");
    }
}

/// The optional `network_search` limits: absent, the document's bytes are
/// those of a document from before the field (nothing to sign differently);
/// present, they are signed and verified with the rest; out of range, the
/// document is invalid.
#[test]
fn network_search_limits_are_optional_and_checked() {
    let o1 = op_key(1);
    let trust = anchor(&[&o1], 1);
    let plain = SignedMembershipDocument::sign(membership_doc(1, &[&o1], 1), &[&o1]).unwrap();
    let text = String::from_utf8(plain.document.signing_bytes().unwrap()).unwrap();
    assert!(!text.contains("network_search"), "{text}");
    trust.accept(None, &plain, T0).unwrap();

    let mut doc = membership_doc(1, &[&o1], 1);
    doc.network_search = Some(NetworkSearchLimits {
        answers_per_member_per_hour: Some(100),
        max_radius_km: Some(40),
        ..Default::default()
    });
    let limited = SignedMembershipDocument::sign(doc.clone(), &[&o1]).unwrap();
    let text = String::from_utf8(limited.document.signing_bytes().unwrap()).unwrap();
    assert!(
        text.contains(r#""network_search":{"answers_per_member_per_hour":100,"max_radius_km":40}"#),
        "{text}"
    );
    let back = SignedMembershipDocument::from_bytes(&limited.to_bytes().unwrap()).unwrap();
    assert_eq!(back, limited);
    trust.accept(None, &back, T0).unwrap();
    // Changing a limit after signing breaks the signature.
    let mut tampered = limited.clone();
    tampered.document.network_search = Some(NetworkSearchLimits {
        answers_per_member_per_hour: Some(100_000),
        max_radius_km: Some(40),
        ..Default::default()
    });
    assert_eq!(
        trust.accept(None, &tampered, T0).unwrap_err().kind(),
        "bad_signature"
    );
    for bad in [
        NetworkSearchLimits {
            max_radius_km: Some(101),
            ..Default::default()
        },
        NetworkSearchLimits {
            max_results_per_answer: Some(0),
            ..Default::default()
        },
        NetworkSearchLimits {
            per_user_per_hour: Some(-1),
            ..Default::default()
        },
    ] {
        doc.network_search = Some(bad);
        assert_eq!(doc.validate().unwrap_err().kind(), "invalid", "{bad:?}");
    }
}
