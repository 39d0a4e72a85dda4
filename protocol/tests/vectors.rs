//! Test vectors: `tests/vectors/*.json` (see README.md, "Test vectors").
//!
//! `cargo test -p vivier-protocol --test vectors -- --ignored generate`
//! regenerates the files; `vectors_are_up_to_date` checks they match the
//! generator, and `check_all_vectors` checks them like an independent
//! implementation would.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};
use vivier_protocol::*;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

struct Vector {
    name: &'static str,
    description: &'static str,
    key: SigningKeyPair,
    key_node: &'static str,
    envelope: Option<Value>,
    envelope_raw: Option<String>,
    now_ms: i64,
    local_node: Option<&'static str>,
    expect_error: Option<&'static str>,
}

impl Vector {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "description": self.description,
            "key_node": self.key_node,
            "key_id": self.key.key_id().as_str(),
            "public_key": self.key.public_key().to_b64(),
            "now_ms": self.now_ms,
        });
        if let Some(env) = &self.envelope {
            let mut unsigned = env.clone();
            unsigned.as_object_mut().unwrap().remove("signatures");
            let canonical = to_canonical_string(&unsigned).unwrap();
            // Keep the too_large vector small on disk: no duplicate copy.
            if canonical.len() < MAX_MESSAGE_BYTES {
                v["canonical"] = Value::String(canonical);
            }
            if let Some(sig) = env.pointer(&format!(
                "/signatures/{}/{}",
                env["sender"].as_str().unwrap_or(""),
                self.key.key_id()
            )) {
                v["signature"] = sig.clone();
            }
            v["envelope"] = env.clone();
        }
        if let Some(raw) = &self.envelope_raw {
            v["envelope_raw"] = Value::String(raw.clone());
        }
        if let Some(l) = self.local_node {
            v["local_node"] = Value::String(l.into());
        }
        if let Some(e) = self.expect_error {
            v["expect_error"] = Value::String(e.into());
        }
        v
    }
}

fn positive(
    name: &'static str,
    description: &'static str,
    n: u8,
    kind: &str,
    recipient: &str,
    serial: i64,
    payload: Value,
) -> Vector {
    let key = cd41_key();
    let (env, _, _) = sign_value(
        envelope_value(n, kind, "cd41", "ed25519:1", recipient, serial, payload),
        &key,
    );
    Vector {
        name,
        description,
        key,
        key_node: "cd41",
        envelope: Some(env),
        envelope_raw: None,
        now_ms: T0 + 60_000,
        local_node: if recipient == "*" {
            None
        } else {
            Some("petr-montlucon")
        },
        expect_error: None,
    }
}

fn negative(
    name: &'static str,
    description: &'static str,
    expect: &'static str,
    env: Value,
) -> Vector {
    Vector {
        name,
        description,
        key: cd41_key(),
        key_node: "cd41",
        envelope: Some(env),
        envelope_raw: None,
        now_ms: T0 + 60_000,
        local_node: None,
        expect_error: Some(expect),
    }
}

fn generate() -> Vec<Vector> {
    let key = cd41_key();
    let to_v = |t: &dyn erased::Ser| t.value();
    let offer_v = to_v(&offer("Agent d'entretien à Blois"));
    let mut updated = offer("Électricien (H/F) — CDI ⚡");
    updated.contract_type = ContractType::Cdi;
    updated.duration_months = None;
    updated.updated_at = T0 + 1;
    let op1 = op_key(1);
    let op2 = op_key(2);
    let mut doc = membership_doc(9_007_199_254_740_991, &[&op1, &op2], 2);
    doc.issued_at = T0 - DAY_MS;
    let mut limited = doc.clone();
    limited.serial = 13;
    limited.network_search = Some(NetworkSearchLimits {
        per_user_per_hour: Some(20),
        per_node_per_hour: Some(200),
        answers_per_member_per_hour: Some(100),
        max_results_per_answer: Some(30),
        max_radius_km: Some(40),
        commune_min_candidates: Some(10),
    });
    let signed_doc = SignedMembershipDocument::sign(doc, &[&op1, &op2]).unwrap();
    let signed_limited = SignedMembershipDocument::sign(limited, &[&op1, &op2]).unwrap();

    let base = |n: u8, kind: &str, payload: Value| {
        envelope_value(n, kind, "cd41", "ed25519:1", "*", 12, payload)
    };
    let sign = |v: Value| sign_value(v, &key).0;

    let mut out = vec![
        positive(
            "pos_offer_published",
            "offer.published broadcast; accents, emoji, control characters, max and min safe integers",
            1,
            "offer.published",
            "*",
            12,
            offer_v.clone(),
        ),
        positive(
            "pos_offer_updated",
            "offer.updated broadcast; non-ASCII title",
            2,
            "offer.updated",
            "*",
            12,
            to_v(&updated),
        ),
        positive(
            "pos_offer_closed",
            "offer.closed broadcast with emoji reason",
            3,
            "offer.closed",
            "*",
            12,
            to_v(&closed()),
        ),
        positive(
            "pos_report_figures",
            "report.figures broadcast: a month's counts, one suppressed cell (no value) and a zero",
            9,
            "report.figures",
            "*",
            12,
            json!({
                "origin_node": "cd41",
                "period": "2026-03",
                "threshold": 5,
                "cells": [
                    {"dimension": "total", "key": "all", "figure": "placed", "value": 42},
                    {"dimension": "total", "key": "all", "figure": "cdi", "suppressed": true},
                    {"dimension": "total", "key": "all", "figure": "professionalisation", "value": 0},
                    {"dimension": "age_band", "key": "50_plus", "figure": "placed", "value": 7}
                ],
                "published_at": T0
            }),
        ),
        positive(
            "pos_referral_submitted",
            "referral.submitted to petr-montlucon; candidate profile with quotes, backslash, tab, newline, U+0001, emoji",
            4,
            "referral.submitted",
            "petr-montlucon",
            12,
            to_v(&referral()),
        ),
        positive(
            "pos_referral_submitted_truncated",
            "referral.submitted whose CV text the sender cut to fit the size limit (cv_text_truncated: true, optional field of protocol 1)",
            8,
            "referral.submitted",
            "petr-montlucon",
            12,
            to_v(&{
                let mut r = referral();
                r.candidate.cv_text = "Agent d'entretien depuis 2012. Résidences, bureaux, écoles ; autolaveuse, mono-brosse. Permis B, véhic".into();
                r.candidate.cv_text_truncated = true;
                r
            }),
        ),
        positive(
            "pos_referral_submitted_contacts",
            "referral.submitted with the optional fields of protocol 1 (2026-12) that let the employer act on it: counsellor_phone, candidate.public_transport_only",
            31,
            "referral.submitted",
            "petr-montlucon",
            12,
            to_v(&{
                let mut r = referral();
                r.counsellor_phone = Some("+33 2 54 11 22 33".into());
                r.candidate.public_transport_only = true;
                r.candidate.has_vehicle = false;
                r
            }),
        ),
        positive(
            "pos_offer_published_requirements",
            "offer.published with the optional requirement fields of protocol 1 (2026-12): start_date, vehicle_required, required_certifications, desired_certifications",
            9,
            "offer.published",
            "*",
            12,
            to_v(&{
                let mut o = offer("Conducteur PL (H/F) — tournées régionales");
                o.rome_code = "N4101".into();
                o.driving_licence = Some("CE".into());
                o.start_date = Some("2027-04-01".into());
                o.vehicle_required = true;
                o.required_certifications = vec!["FIMO_M".into(), "CACES_R489_3".into()];
                o.desired_certifications = vec!["SST".into()];
                o
            }),
        ),
        positive(
            "pos_referral_status_changed",
            "referral.status_changed (accepted) to petr-montlucon",
            5,
            "referral.status_changed",
            "petr-montlucon",
            12,
            to_v(&status_changed()),
        ),
        positive(
            "pos_referral_withdrawn",
            "referral.withdrawn (erasure) to petr-montlucon",
            6,
            "referral.withdrawn",
            "petr-montlucon",
            12,
            to_v(&withdrawn()),
        ),
        positive(
            "pos_opportunity_published_training",
            "opportunity.published broadcast (protocol 1, 2026-12): a training granting CACES_R489_3, with funding and coordinates",
            40,
            "opportunity.published",
            "*",
            12,
            to_v(&training()),
        ),
        positive(
            "pos_opportunity_updated_immersion",
            "opportunity.updated broadcast: an immersion (PMSMP) with its tutor, no certification",
            41,
            "opportunity.updated",
            "*",
            12,
            to_v(&immersion()),
        ),
        positive(
            "pos_opportunity_closed",
            "opportunity.closed broadcast",
            42,
            "opportunity.closed",
            "*",
            12,
            to_v(&opportunity_closed()),
        ),
        positive(
            "pos_referral_submitted_training",
            "referral.submitted to a training (target: training) for an offer (for_offer_id), optional fields of protocol 1 (2026-12)",
            43,
            "referral.submitted",
            "petr-montlucon",
            12,
            to_v(&{
                let mut r = referral();
                r.offer_id = "cd41-formation-2026-0003".into();
                r.target = ReferralTarget::Training;
                r.for_offer_id = Some("petr-offre-0099".into());
                r
            }),
        ),
        positive(
            "pos_referral_status_changed_certified",
            "referral.status_changed (certified) of a training referral",
            44,
            "referral.status_changed",
            "petr-montlucon",
            12,
            to_v(&{
                let mut c = status_changed();
                c.offer_id = "cd41-formation-2026-0003".into();
                c.status = ReferralStatus::Certified;
                c.contract_type = None;
                c.start_date = None;
                c
            }),
        ),
        positive(
            "pos_membership_document",
            "membership.document relayed by cd41; operator-signed document (2 of 2) with serial 2^53-1",
            7,
            "membership.document",
            "*",
            9_007_199_254_740_991,
            to_v(&signed_doc),
        ),
        positive(
            "pos_membership_document_network_search",
            "membership.document relayed by cd41; the operator sets the network search's limits (optional network_search object)",
            47,
            "membership.document",
            "*",
            13,
            to_v(&signed_limited),
        ),
    ];

    // Negative vectors.
    let mut v = base(20, "offer.published", offer_v.clone());
    v["version"] = json!(2);
    out.push(negative(
        "neg_unsupported_version",
        "version 2 (signed)",
        "unsupported_version",
        sign(v),
    ));

    out.push(negative(
        "neg_unknown_kind",
        "kind offer.deleted (signed)",
        "unknown_kind",
        sign(base(21, "offer.deleted", to_v(&closed()))),
    ));

    let mut big = offer("Agent d'entretien à Blois");
    big.description = "Très longue description. ".repeat(12_000);
    out.push(negative(
        "neg_too_large",
        "validly signed message larger than 262144 bytes",
        "too_large",
        sign(base(22, "offer.published", to_v(&big))),
    ));

    let v = envelope_value(
        23,
        "offer.published",
        "cd99",
        "ed25519:1",
        "*",
        12,
        offer_v.clone(),
    );
    out.push(negative(
        "neg_unknown_sender",
        "sender cd99 is not known (signed with cd41's key)",
        "unknown_sender",
        sign(v),
    ));

    let v = envelope_value(
        24,
        "offer.published",
        "cd41",
        "ed25519:2",
        "*",
        12,
        offer_v.clone(),
    );
    let (mut env, _, _) = sign_value(v, &key);
    // The signature is filed under the envelope's key id ed25519:2.
    let sig = env["signatures"]["cd41"]["ed25519:1"].take();
    env["signatures"] = json!({"cd41": {"ed25519:2": sig}});
    out.push(negative(
        "neg_unknown_key",
        "key id ed25519:2 is not known for cd41",
        "unknown_key",
        env,
    ));

    let mut env = sign(base(25, "offer.published", offer_v.clone()));
    env["payload"]["title"] = json!("Agent d'entretien à Tours");
    out.push(negative(
        "neg_bad_signature_tampered",
        "payload title changed after signing",
        "bad_signature",
        env,
    ));

    let mut env = sign(base(26, "offer.closed", to_v(&closed())));
    env["signatures"] = json!({});
    out.push(negative(
        "neg_bad_signature_missing",
        "no signature at all",
        "bad_signature",
        env,
    ));

    let mut env = sign(base(27, "offer.closed", to_v(&closed())));
    env["signatures"] = json!({"cd41": {"ed25519:1": petr_key().sign_b64(b"not the message")}});
    out.push(negative(
        "neg_bad_signature_wrong",
        "a valid-looking signature of other bytes",
        "bad_signature",
        env,
    ));

    let mut n = negative(
        "neg_expired",
        "now is 7 days + 5 min + 1 ms after expires_at",
        "expired",
        sign(base(28, "offer.closed", to_v(&closed()))),
    );
    n.now_ms = T0 + 14 * DAY_MS + 5 * 60_000 + 1;
    out.push(n);

    let mut n = negative(
        "neg_not_yet_valid",
        "created_at is 5 min + 1 ms after now",
        "not_yet_valid",
        sign(base(29, "offer.closed", to_v(&closed()))),
    );
    n.now_ms = T0 - 5 * 60_000 - 1;
    out.push(n);

    let v = envelope_value(
        30,
        "referral.withdrawn",
        "cd41",
        "ed25519:1",
        "petr-montlucon",
        12,
        to_v(&withdrawn()),
    );
    let mut n = negative(
        "neg_wrong_recipient",
        "addressed to petr-montlucon, checked by cd18",
        "wrong_recipient",
        sign(v),
    );
    n.local_node = Some("cd18");
    out.push(n);

    let mut v = base(31, "offer.closed", to_v(&closed()));
    v["expires_at"] = json!(T0);
    out.push(negative(
        "neg_malformed_expiry",
        "expires_at == created_at (signed)",
        "malformed",
        sign(v),
    ));

    let mut payload = to_v(&training());
    payload["opportunity_type"] = json!("stage");
    out.push(negative(
        "neg_malformed_opportunity_type",
        "opportunity.published whose opportunity_type is not training or immersion (signed)",
        "malformed",
        sign(base(45, "opportunity.published", payload)),
    ));

    let mut payload = to_v(&training());
    payload.as_object_mut().unwrap().remove("end_date");
    out.push(negative(
        "neg_malformed_opportunity_no_end",
        "opportunity.published without end_date (signed)",
        "malformed",
        sign(base(46, "opportunity.published", payload)),
    ));

    let mut payload = to_v(&status_changed());
    payload["status"] = json!("graduated");
    out.push(negative(
        "neg_malformed_unknown_status",
        "referral.status_changed with a status no version defines (signed)",
        "malformed",
        sign(envelope_value(
            47,
            "referral.status_changed",
            "cd41",
            "ed25519:1",
            "petr-montlucon",
            12,
            payload,
        )),
    ));

    let mut payload = to_v(&closed());
    payload.as_object_mut().unwrap().remove("closed_at");
    out.push(negative(
        "neg_malformed_payload",
        "offer.closed payload without closed_at (signed)",
        "malformed",
        sign(base(32, "offer.closed", payload)),
    ));

    let mut v = base(33, "offer.closed", to_v(&closed()));
    v["extra"] = json!(true);
    out.push(negative(
        "neg_malformed_unknown_field",
        "unknown top-level envelope field (signed)",
        "malformed",
        sign(v),
    ));

    let mut v = base(34, "offer.closed", to_v(&closed()));
    v["recipient"] = json!("CD18");
    out.push(negative(
        "neg_malformed_recipient",
        "recipient is not a valid node id (signed)",
        "malformed",
        sign(v),
    ));

    // Raw (non-object or non-canonical) inputs.
    let good = to_canonical_string(&sign(base(35, "offer.closed", to_v(&closed())))).unwrap();
    let raw = |name, description, text: String| {
        assert_ne!(text, good, "{name}: replacement did not apply");
        Vector {
            name,
            description,
            key: cd41_key(),
            key_node: "cd41",
            envelope: None,
            envelope_raw: Some(text),
            now_ms: T0 + 60_000,
            local_node: None,
            expect_error: Some("malformed"),
        }
    };
    out.push(raw(
        "neg_malformed_duplicate_key",
        "duplicate \"kind\" key (first occurrence valid)",
        good.replacen(
            "\"kind\":\"offer.closed\"",
            "\"kind\":\"offer.closed\",\"kind\":\"offer.updated\"",
            1,
        ),
    ));
    out.push(raw(
        "neg_malformed_float",
        "membership_serial written as 12.0",
        good.replacen("\"membership_serial\":12", "\"membership_serial\":12.0", 1),
    ));
    out.push(raw(
        "neg_malformed_exponent",
        "closed_at written with an exponent",
        good.replacen(&format!("\"closed_at\":{T0}"), "\"closed_at\":1.75e12", 1),
    ));
    out.push(raw(
        "neg_malformed_big_integer",
        "membership_serial 2^53 is out of range",
        good.replacen(
            "\"membership_serial\":12",
            "\"membership_serial\":9007199254740992",
            1,
        ),
    ));
    out.push(raw(
        "neg_malformed_not_canonical",
        "valid signature but whitespace added: messages must be sent in canonical form",
        good.replacen("{", "{ ", 1),
    ));
    out.push(raw(
        "neg_malformed_escaped",
        "valid signature but \\u2705 instead of a literal ✅ in a string: not canonical",
        good.replacen('✅', "\\u2705", 1),
    ));
    out.push(raw(
        "neg_malformed_truncated",
        "truncated JSON",
        good[..good.len() / 2].to_owned(),
    ));
    out.push(raw(
        "neg_malformed_not_object",
        "top-level array",
        "[1,2,3]".into(),
    ));
    out
}

/// Tiny helper to serialise heterogeneous fixtures to `Value`.
mod erased {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

fn render(v: &Vector) -> String {
    let mut s = serde_json::to_string_pretty(&v.to_json()).unwrap();
    s.push('\n');
    s
}

#[test]
#[ignore = "writes tests/vectors/*.json"]
fn generate_vectors() {
    let dir = vectors_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            std::fs::remove_file(p).unwrap();
        }
    }
    for v in generate() {
        std::fs::write(dir.join(format!("{}.json", v.name)), render(&v)).unwrap();
    }
}

#[test]
fn vectors_are_up_to_date() {
    let dir = vectors_dir();
    let vectors = generate();
    for v in &vectors {
        let on_disk = std::fs::read_to_string(dir.join(format!("{}.json", v.name)))
            .unwrap_or_else(|_| panic!("missing vector {}; run the ignored generator", v.name));
        assert_eq!(
            on_disk,
            render(v),
            "vector {} is stale; run the ignored generator",
            v.name
        );
    }
    let count = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(count, vectors.len(), "unexpected files in tests/vectors");
}

/// Checks every vector file the way another implementation would.
#[test]
fn check_all_vectors() {
    let mut files: Vec<_> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "expected the vector files");
    let mut kinds_seen = std::collections::BTreeSet::new();
    let mut errors_seen = std::collections::BTreeSet::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let public_key = PublicKey::from_b64(v["public_key"].as_str().unwrap()).unwrap();
        let key_id = KeyId::parse(v["key_id"].as_str().unwrap()).unwrap();
        let key_node = NodeId::parse(v["key_node"].as_str().unwrap()).unwrap();
        let keys = StaticKeys::new().with(key_node, key_id.clone(), public_key);
        let mut opts = VerifyOptions::new(v["now_ms"].as_i64().unwrap());
        if let Some(l) = v["local_node"].as_str() {
            opts.local_node = Some(NodeId::parse(l).unwrap());
        }
        let raw: Vec<u8> = match (&v["envelope"], &v["envelope_raw"]) {
            (Value::Object(_), Value::Null) => {
                to_canonical_string(&v["envelope"]).unwrap().into_bytes()
            }
            (Value::Null, Value::String(s)) => s.clone().into_bytes(),
            _ => panic!("{name}: exactly one of envelope / envelope_raw"),
        };
        let result = verify_message(&raw, &keys, &opts);
        match v["expect_error"].as_str() {
            None => {
                let mut unsigned = v["envelope"].clone();
                unsigned.as_object_mut().unwrap().remove("signatures");
                let canonical = to_canonical_string(&unsigned).unwrap();
                assert_eq!(
                    canonical,
                    v["canonical"].as_str().unwrap(),
                    "{name}: canonical"
                );
                let sig = v["signature"].as_str().unwrap();
                assert!(
                    public_key.verify_b64(canonical.as_bytes(), sig),
                    "{name}: signature"
                );
                assert_eq!(
                    v["envelope"]["signatures"][v["envelope"]["sender"].as_str().unwrap()]
                        [key_id.as_str()],
                    json!(sig)
                );
                let m = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(m.raw, raw);
                let payload = m.typed();
                assert_eq!(payload.kind(), m.envelope.kind);
                kinds_seen.insert(m.envelope.kind.as_str());
            }
            Some(expected) => {
                let err = result
                    .err()
                    .unwrap_or_else(|| panic!("{name}: expected {expected}"));
                assert_eq!(err.kind(), expected, "{name}: {err}");
                errors_seen.insert(expected.to_owned());
            }
        }
    }
    assert_eq!(kinds_seen.len(), MessageKind::ALL.len(), "{kinds_seen:?}");
    for e in [
        "malformed",
        "unsupported_version",
        "too_large",
        "unknown_kind",
        "unknown_sender",
        "unknown_key",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "wrong_recipient",
    ] {
        assert!(errors_seen.contains(e), "no vector for {e}");
    }
}
