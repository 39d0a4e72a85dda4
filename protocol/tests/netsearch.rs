//! Network search vectors: `tests/vectors-netsearch/*.json` (README §§ 10
//! and 13).
//!
//! `cargo test -p vivier-protocol --test netsearch -- --ignored generate`
//! rewrites them; `netsearch_vectors_are_up_to_date` checks they match the
//! generator and `check_netsearch_vectors` checks them as an independent
//! implementation would: rebuild the signature base and verify the signed
//! query, validate the query (positive) or refuse it naming the field
//! (negative), recompute every pseudonym from the secret.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use vivier_protocol::httpsig::{sign_request_with_nonce, signature_base_for};
use vivier_protocol::*;

const NOW_S: i64 = 1_750_000_000;
const NONCE: &str = "AAECAwQFBgcICQoLDA0ODw";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors-netsearch")
}

fn query() -> Value {
    json!({
        "query_id": "0193a5c2-7e41-7c3a-9d52-3f0e8a1b2c4d",
        "origin_node": "cd41",
        "rome_codes": ["N1101", "N1103"],
        "certifications": ["CACES_R489_3"],
        "driving_licence": "B",
        "places": [
            {"commune_insee": "18279", "radius_km": 20},
            {"commune_insee": "37261", "radius_km": 20},
            {"commune_insee": "41018", "radius_km": 20}
        ],
        "available_by": "2026-03-01",
        "contract_types": ["CDI", "MIS"],
        "created_at": NOW_S * 1000,
        "deadline_at": NOW_S * 1000 + 3000
    })
}

fn signed_query() -> Value {
    let body = serde_json::to_string(&query()).unwrap();
    let h = sign_request_with_nonce(
        "POST",
        NETWORK_SEARCH_PATH,
        &node("petr-montlucon"),
        body.as_bytes(),
        &node("cd41"),
        &cd41_key(),
        NOW_S,
        NONCE,
    );
    let map: HashMap<&str, &str> = h.pairs().into_iter().collect();
    let headers = |n: &str| map.get(n).map(|s| s.to_string());
    json!({
        "description": "A network query from cd41 to petr-montlucon: POST, RFC 9421-signed; the checker rebuilds signature_base, verifies it (skew 300 s) and validates the body",
        "key_node": "cd41",
        "key_id": "ed25519:1",
        "public_key": cd41_key().public_key().to_b64(),
        "now_s": NOW_S,
        "local_node": "petr-montlucon",
        "method": "POST",
        "path": NETWORK_SEARCH_PATH,
        "body": body,
        "headers": {
            "content-digest": h.content_digest,
            "vivier-destination": h.destination,
            "signature-input": h.signature_input,
            "signature": h.signature,
        },
        "signature_base": signature_base_for("POST", NETWORK_SEARCH_PATH, &headers).unwrap(),
    })
}

/// The answering node's secret in the vectors: 32 bytes 0x00..0x1f.
fn secret() -> Vec<u8> {
    (0u8..32).collect()
}

fn answer() -> Value {
    let s = secret();
    let q = query();
    let qid = q["query_id"].as_str().unwrap();
    let ids = ["cand-0001", "cand-0002", "cand-0003"];
    let pseudonyms: BTreeMap<&str, String> = ids
        .iter()
        .map(|c| (*c, pseudonym(&s, "cd41", qid, c)))
        .collect();
    let answer = NetworkAnswer {
        query_id: qid.into(),
        node_id: node("petr-montlucon"),
        results: vec![PseudonymousResult {
            pseudonym: pseudonyms["cand-0001"].clone(),
            rome_codes: vec!["N1101".into()],
            experience_years: Some(6),
            certifications: vec!["CACES_R489_3".into()],
            driving_licences: vec!["B".into()],
            available_from: Some("2026-02-01".into()),
            place_index: 0,
            distance_band: DistanceBand::Under20,
            departement: "18".into(),
            commune_insee: None,
            summary: Some("Cariste confirmé, CACES 3 à jour.".into()),
            score: 812,
        }],
        place_counts: vec![
            PlaceCount {
                place_index: 0,
                count: 1,
            },
            PlaceCount {
                place_index: 1,
                count: 0,
            },
            PlaceCount {
                place_index: 2,
                count: 0,
            },
        ],
        truncated: false,
    };
    json!({
        "description": "Pseudonyms: query_key = HMAC-SHA256(secret, \"vivier-netsearch-v1\\0\" + origin + \"\\0\" + query_id); pseudonym = base64url(HMAC-SHA256(query_key, candidate_id)); and an answer carrying one of them",
        "secret": URL_SAFE_NO_PAD.encode(&s),
        "origin_node": "cd41",
        "query_id": qid,
        "query_key": URL_SAFE_NO_PAD.encode(query_key(&s, "cd41", qid)),
        "pseudonyms": pseudonyms,
        "pseudonyms_other_query": ids.iter().map(|c| (*c, pseudonym(&s, "cd41", "another-query", c))).collect::<BTreeMap<_, _>>(),
        "answer": serde_json::to_value(&answer).unwrap(),
    })
}

/// Queries every node refuses (`invalid_payload`), each naming a field.
fn negatives() -> Vec<(&'static str, &'static str, Value, &'static str)> {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut q = query();
        f(&mut q);
        q
    };
    vec![
        (
            "neg_no_rome_code",
            "no ROME code: not specific",
            with(&|q| q["rome_codes"] = json!([])),
            "rome_codes",
        ),
        (
            "neg_no_place",
            "no place: not specific",
            with(&|q| q["places"] = json!([])),
            "places",
        ),
        (
            "neg_radius_too_large",
            "a radius over 100 km",
            with(&|q| q["places"][0]["radius_km"] = json!(150)),
            "radius_km",
        ),
        (
            "neg_radius_zero",
            "a radius of 0 km",
            with(&|q| q["places"][1]["radius_km"] = json!(0)),
            "radius_km",
        ),
        (
            "neg_bad_rome_code",
            "not a ROME code",
            with(&|q| q["rome_codes"][0] = json!("cariste")),
            "rome_codes",
        ),
        (
            "neg_bad_query_id",
            "query id with a space",
            with(&|q| q["query_id"] = json!("q 1")),
            "query_id",
        ),
        (
            "neg_bad_date",
            "availability not YYYY-MM-DD",
            with(&|q| q["available_by"] = json!("1er mars")),
            "available_by",
        ),
        (
            "neg_deadline_before_creation",
            "deadline before creation",
            with(&|q| q["deadline_at"] = json!(NOW_S * 1000 - 1)),
            "deadline_at",
        ),
        (
            "neg_too_many_rome_codes",
            "six ROME codes",
            with(&|q| {
                q["rome_codes"] = json!(["N1101", "N1102", "N1103", "N1104", "N1105", "N1201"])
            }),
            "rome_codes",
        ),
    ]
}

fn render(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

fn files() -> Vec<(String, String)> {
    let mut out = vec![
        ("pos_query_signed.json".to_string(), render(&signed_query())),
        (
            "pos_pseudonyms_and_answer.json".to_string(),
            render(&answer()),
        ),
    ];
    for (name, description, q, field) in negatives() {
        out.push((
            format!("{name}.json"),
            render(&json!({"description": description, "query": q,
                           "expect_error": "invalid_payload", "field": field})),
        ));
    }
    out
}

#[test]
#[ignore = "writes tests/vectors-netsearch/"]
fn generate() {
    std::fs::create_dir_all(dir()).unwrap();
    for (name, text) in files() {
        std::fs::write(dir().join(name), text).unwrap();
    }
}

#[test]
fn netsearch_vectors_are_up_to_date() {
    for (name, text) in files() {
        let on_disk = std::fs::read_to_string(dir().join(&name)).unwrap_or_default();
        assert_eq!(on_disk, text, "{name} is stale: run the ignored generator");
    }
}

fn read(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).unwrap()).unwrap()
}

#[test]
fn check_netsearch_vectors() {
    // The signed query: same base, verifies, valid body; a changed body
    // does not verify.
    let v = read("pos_query_signed.json");
    let hs = v["headers"].as_object().unwrap();
    let headers = |n: &str| hs.get(n).and_then(|x| x.as_str()).map(str::to_owned);
    let path = v["path"].as_str().unwrap();
    assert_eq!(
        signature_base_for("POST", path, &headers).unwrap(),
        v["signature_base"].as_str().unwrap()
    );
    let keys = StaticKeys::new().with(
        node("cd41"),
        kid("ed25519:1"),
        PublicKey::from_b64(v["public_key"].as_str().unwrap()).unwrap(),
    );
    let body = v["body"].as_str().unwrap();
    let now = v["now_s"].as_i64().unwrap();
    let local = node(v["local_node"].as_str().unwrap());
    let signer = verify_request(
        "POST",
        path,
        &headers,
        body.as_bytes(),
        &local,
        &keys,
        now,
        300,
    )
    .unwrap();
    assert_eq!(signer.node.as_str(), "cd41");
    let q: NetworkQuery = serde_json::from_str(body).unwrap();
    q.validate().unwrap();
    assert_eq!(q.origin_node, signer.node);
    let tampered = body.replace("\"radius_km\":20", "\"radius_km\":90");
    let err = verify_request(
        "POST",
        path,
        &headers,
        tampered.as_bytes(),
        &local,
        &keys,
        now,
        300,
    )
    .unwrap_err();
    assert_eq!(err.kind(), "digest_mismatch");

    // Pseudonyms recomputed from the secret; none shared between queries.
    let v = read("pos_pseudonyms_and_answer.json");
    let s = URL_SAFE_NO_PAD
        .decode(v["secret"].as_str().unwrap())
        .unwrap();
    let qid = v["query_id"].as_str().unwrap();
    assert_eq!(
        v["query_key"].as_str().unwrap(),
        URL_SAFE_NO_PAD.encode(query_key(&s, "cd41", qid))
    );
    for (c, p) in v["pseudonyms"].as_object().unwrap() {
        assert_eq!(p.as_str().unwrap(), pseudonym(&s, "cd41", qid, c));
        assert_eq!(p.as_str().unwrap().len(), PSEUDONYM_LEN);
        assert_ne!(v["pseudonyms_other_query"][c], *p);
    }
    let a: NetworkAnswer = serde_json::from_value(v["answer"].clone()).unwrap();
    assert_eq!(a.results[0].pseudonym, v["pseudonyms"]["cand-0001"]);
    // A result has no room for anything else: an unknown field is refused.
    let mut extra = v["answer"]["results"][0].clone();
    extra["first_name"] = json!("Karim");
    assert!(serde_json::from_value::<PseudonymousResult>(extra).is_err());

    // Negatives: refused, naming the field.
    for (name, _, _, _) in negatives() {
        let v = read(&format!("{name}.json"));
        let q: NetworkQuery = serde_json::from_value(v["query"].clone()).unwrap();
        let err = q.validate().unwrap_err();
        assert_eq!(err.kind(), v["expect_error"].as_str().unwrap(), "{name}");
        assert!(
            err.to_string().contains(v["field"].as_str().unwrap()),
            "{name}: {err}"
        );
    }
}
