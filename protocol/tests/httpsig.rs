//! RFC 9421 request signatures.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::*;
use vivier_protocol::httpsig::{sign_request_with_nonce, signature_base_for};
use vivier_protocol::*;

const NOW: i64 = 1_750_000_000;
const BODY: &[u8] = b"{\"hello\":\"world\"}";

struct Req {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Req {
    fn new(path: &str) -> Req {
        let h = sign_request(
            "POST",
            path,
            &node("petr-montlucon"),
            BODY,
            &node("cd41"),
            &cd41_key(),
            NOW,
        );
        let headers = h
            .pairs()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Req {
            method: "POST".into(),
            path: path.into(),
            headers,
            body: BODY.to_vec(),
        }
    }
    fn verify_at(&self, local: &str, now: i64) -> Result<RequestSigner, HttpSigError> {
        let headers = |name: &str| self.headers.get(name).cloned();
        verify_request(
            &self.method,
            &self.path,
            &headers,
            &self.body,
            &node(local),
            &static_keys(),
            now,
            300,
        )
    }
    fn verify(&self) -> Result<RequestSigner, HttpSigError> {
        self.verify_at("petr-montlucon", NOW)
    }
    fn set(&mut self, k: &str, v: &str) {
        self.headers.insert(k.into(), v.into());
    }
}

#[test]
fn content_digest_rfc9530_example() {
    // RFC 9530 §2 example body {"hello": "world"}
    assert_eq!(
        content_digest(b"{\"hello\": \"world\"}\n"),
        "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
    );
    assert_eq!(
        content_digest(b""),
        "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    );
}

#[test]
fn round_trip() {
    let r = Req::new("/federation/v1/inbox");
    let s = r.verify().unwrap();
    assert_eq!(s.node, node("cd41"));
    assert_eq!(s.key_id, kid("ed25519:1"));
    assert_eq!(s.created_s, NOW);
    assert_eq!(s.nonce.len(), 22);
    assert!(r.headers["signature-input"].starts_with(
        "vivier=(\"@method\" \"@path\" \"content-digest\" \"vivier-destination\");created=1750000000;nonce=\""
    ));
    assert!(r.headers["signature-input"].ends_with(";keyid=\"cd41/ed25519:1\";alg=\"ed25519\""));
    assert!(
        r.headers["signature"].starts_with("vivier=:") && r.headers["signature"].ends_with(':')
    );
    let headers = |name: &str| r.headers.get(name).cloned();
    assert_eq!(
        parse_signer(&headers).unwrap(),
        (node("cd41"), kid("ed25519:1"))
    );
    // nonces differ
    assert_ne!(Req::new("/x").verify().unwrap().nonce, s.nonce);
}

#[test]
fn exact_signature_base() {
    let h = sign_request_with_nonce(
        "POST",
        "/federation/v1/inbox",
        &node("petr-montlucon"),
        BODY,
        &node("cd41"),
        &cd41_key(),
        NOW,
        "AAECAwQFBgcICQoLDA0ODw",
    );
    let map: HashMap<&str, &str> = h.pairs().into_iter().collect();
    let headers = |n: &str| map.get(n).map(|s| s.to_string());
    let base = signature_base_for("POST", "/federation/v1/inbox", &headers).unwrap();
    let expected = format!(
        "\"@method\": POST\n\"@path\": /federation/v1/inbox\n\"content-digest\": {}\n\"vivier-destination\": petr-montlucon\n\"@signature-params\": (\"@method\" \"@path\" \"content-digest\" \"vivier-destination\");created=1750000000;nonce=\"AAECAwQFBgcICQoLDA0ODw\";keyid=\"cd41/ed25519:1\";alg=\"ed25519\"",
        content_digest(BODY)
    );
    assert_eq!(base, expected);
    let sig = h
        .signature
        .strip_prefix("vivier=:")
        .unwrap()
        .strip_suffix(':')
        .unwrap();
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .unwrap();
    assert!(cd41_key()
        .public_key()
        .verify_strict(expected.as_bytes(), &sig));
}

#[test]
fn query_is_covered() {
    let r = Req::new("/federation/v1/offers?since=123&limit=10");
    assert!(r.headers["signature-input"].contains("\"vivier-destination\" \"@query\")"));
    r.verify().unwrap();
    let mut r2 = Req::new("/federation/v1/offers?since=123&limit=10");
    r2.path = "/federation/v1/offers?since=0&limit=10".into();
    assert_eq!(r2.verify().unwrap_err(), HttpSigError::BadSignature);
    // a query added to a request signed without one is refused
    let mut r3 = Req::new("/federation/v1/offers");
    r3.path = "/federation/v1/offers?since=0".into();
    assert_eq!(r3.verify().unwrap_err().kind(), "malformed");
}

#[test]
fn each_error() {
    // missing signature
    let mut r = Req::new("/inbox");
    r.headers.remove("signature-input");
    assert_eq!(r.verify().unwrap_err(), HttpSigError::MissingSignature);
    let mut r = Req::new("/inbox");
    r.headers.remove("signature");
    assert_eq!(r.verify().unwrap_err(), HttpSigError::MissingSignature);
    let mut r = Req::new("/inbox");
    let other = r.headers["signature-input"].replacen("vivier=", "other=", 1);
    r.set("signature-input", &other);
    assert_eq!(r.verify().unwrap_err().kind(), "missing_signature");

    // malformed
    let mut r = Req::new("/inbox");
    r.set("signature-input", "vivier=(\"@method\"");
    assert_eq!(r.verify().unwrap_err().kind(), "malformed");
    let mut r = Req::new("/inbox");
    let si = r.headers["signature-input"].replace(" \"vivier-destination\"", "");
    r.set("signature-input", &si);
    assert_eq!(r.verify().unwrap_err().kind(), "malformed");
    let mut r = Req::new("/inbox");
    let si = r.headers["signature-input"].replace("cd41/ed25519:1", "cd41");
    r.set("signature-input", &si);
    assert_eq!(r.verify().unwrap_err().kind(), "malformed");
    let mut r = Req::new("/inbox");
    let si = r.headers["signature-input"].replace("alg=\"ed25519\"", "alg=\"rsa-pss-sha512\"");
    r.set("signature-input", &si);
    assert_eq!(r.verify().unwrap_err().kind(), "malformed");

    // wrong destination
    let r = Req::new("/inbox");
    assert_eq!(
        r.verify_at("cd18", NOW).unwrap_err(),
        HttpSigError::WrongDestination {
            expected: "cd18".into(),
            got: "petr-montlucon".into()
        }
    );

    // digest mismatch
    let mut r = Req::new("/inbox");
    r.body = b"{\"hello\":\"there\"}".to_vec();
    assert_eq!(r.verify().unwrap_err(), HttpSigError::DigestMismatch);

    // stale
    let r = Req::new("/inbox");
    assert!(r.verify_at("petr-montlucon", NOW + 300).is_ok());
    assert!(r.verify_at("petr-montlucon", NOW - 300).is_ok());
    assert_eq!(
        r.verify_at("petr-montlucon", NOW + 301).unwrap_err(),
        HttpSigError::Stale
    );
    assert_eq!(
        r.verify_at("petr-montlucon", NOW - 301).unwrap_err().kind(),
        "stale"
    );

    // bad signature: method / path / destination header tampering
    let mut r = Req::new("/inbox");
    r.method = "PUT".into();
    assert_eq!(r.verify().unwrap_err(), HttpSigError::BadSignature);
    let mut r = Req::new("/inbox");
    r.path = "/outbox".into();
    assert_eq!(r.verify().unwrap_err(), HttpSigError::BadSignature);
    let mut r = Req::new("/inbox");
    let si = r.headers["signature-input"].replace("created=1750000000", "created=1750000001");
    r.set("signature-input", &si);
    assert_eq!(r.verify().unwrap_err(), HttpSigError::BadSignature);
    let mut r = Req::new("/inbox");
    r.set("signature", "vivier=:AAAA:");
    assert_eq!(r.verify().unwrap_err(), HttpSigError::BadSignature);

    // key resolution errors are passed through
    let mut r = Req::new("/inbox");
    let si = r.headers["signature-input"].replace("cd41/", "cd99/");
    r.set("signature-input", &si);
    assert_eq!(r.verify().unwrap_err().kind(), "unknown_sender");
    let mut r = Req::new("/inbox");
    let si = r.headers["signature-input"].replace("ed25519:1\"", "ed25519:7\"");
    r.set("signature-input", &si);
    assert_eq!(r.verify().unwrap_err().kind(), "unknown_key");

    // revoked member via a membership document
    let doc = membership_doc(1, &[&op_key(1)], 1);
    let h = sign_request(
        "POST",
        "/inbox",
        &node("cd41"),
        BODY,
        &node("cd18"),
        &cd18_key(),
        NOW,
    );
    let map: HashMap<&str, &str> = h.pairs().into_iter().collect();
    let headers = |n: &str| map.get(n).map(|s| s.to_string());
    let e = verify_request(
        "POST",
        "/inbox",
        &headers,
        BODY,
        &node("cd41"),
        &doc,
        NOW,
        300,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "sender_not_active");
}

#[test]
fn tolerant_parsing() {
    // other signatures and extra digests are ignored; whitespace tolerated
    let mut r = Req::new("/inbox");
    let si = format!(
        "other=(\"@method\");created=1, {}",
        r.headers["signature-input"]
    );
    let sig = format!("other=:AAAA:,  {}", r.headers["signature"]);
    let cd = format!("sha-512=:AAAA:, {}", r.headers["content-digest"]);
    r.set("signature-input", &si);
    r.set("signature", &sig);
    r.set("content-digest", &cd);
    // content-digest is a covered header: changing its text breaks the signature
    assert_eq!(r.verify().unwrap_err(), HttpSigError::BadSignature);
    let original = Req::new("/inbox");
    let mut r = Req::new("/inbox");
    r.headers = original.headers.clone();
    let si = format!(
        "other=(\"@method\");created=1, {}",
        original.headers["signature-input"]
    );
    r.set("signature-input", &si);
    r.verify().unwrap();
}

fn httpsig_vector() -> String {
    let body = "{\"offer_id\":\"cd41-offre-2025-0042\",\"note\":\"déjà vu ✅\"}";
    let path = "/federation/v1/inbox?trace=1";
    let h = sign_request_with_nonce(
        "POST",
        path,
        &node("petr-montlucon"),
        body.as_bytes(),
        &node("cd41"),
        &cd41_key(),
        NOW,
        "AAECAwQFBgcICQoLDA0ODw",
    );
    let map: HashMap<&str, &str> = h.pairs().into_iter().collect();
    let headers = |n: &str| map.get(n).map(|s| s.to_string());
    let base = signature_base_for("POST", path, &headers).unwrap();
    let v = serde_json::json!({
        "description": "POST with a query string and a UTF-8 body; the checker rebuilds signature_base and verifies the signature (skew 300 s)",
        "key_node": "cd41",
        "key_id": "ed25519:1",
        "public_key": cd41_key().public_key().to_b64(),
        "now_s": NOW,
        "local_node": "petr-montlucon",
        "method": "POST",
        "path": path,
        "body": body,
        "headers": {
            "content-digest": h.content_digest,
            "vivier-destination": h.destination,
            "signature-input": h.signature_input,
            "signature": h.signature,
        },
        "signature_base": base,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap();
    s.push('\n');
    s
}

fn httpsig_vector_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors-httpsig/post_with_query.json")
}

#[test]
#[ignore = "writes tests/vectors-httpsig/post_with_query.json"]
fn generate_httpsig_vector() {
    let p = httpsig_vector_path();
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, httpsig_vector()).unwrap();
}

#[test]
fn httpsig_vector_checks() {
    let text = std::fs::read_to_string(httpsig_vector_path()).unwrap();
    assert_eq!(
        text,
        httpsig_vector(),
        "stale vector: run the ignored generator"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
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
    let signer = verify_request(
        "POST",
        path,
        &headers,
        v["body"].as_str().unwrap().as_bytes(),
        &node("petr-montlucon"),
        &keys,
        v["now_s"].as_i64().unwrap(),
        300,
    )
    .unwrap();
    assert_eq!(signer.nonce, "AAECAwQFBgcICQoLDA0ODw");
}
