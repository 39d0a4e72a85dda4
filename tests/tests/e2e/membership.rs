//! Membership end to end: `vivier-admin` builds and signs documents, real
//! `vivier-node` processes (HTTPS from a test CA) accept or refuse them.
//!
//! Run with `cargo test -p vivier-tests --test e2e membership::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::Path;

use serde_json::Value;
use support::*;
use vivier_protocol::{
    KeyFile, KeyId, MembershipDocument, OperatorKey, SignedMembershipDocument, SigningKeyPair,
};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `vivier-admin --dir <net> args…` → (success, stdout, stderr).
fn adm(net: &Path, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--dir", net.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = admin(&all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn adm_ok(net: &Path, args: &[&str]) -> String {
    let mut all = vec!["--dir", net.to_str().unwrap()];
    all.extend_from_slice(args);
    admin_ok(&all)
}

/// `adm` that must fail; returns stdout + stderr.
fn adm_err(net: &Path, args: &[&str]) -> String {
    let (ok, out, err) = adm(net, args);
    assert!(
        !ok,
        "vivier-admin {args:?} should have failed:\n{out}\n{err}"
    );
    format!("{out}{err}")
}

/// POST raw bytes to a node's membership endpoint → (status, problem kind
/// or "" on success, body).
async fn post_document(node: &NodeProcess, bytes: Vec<u8>) -> (u16, String, Value) {
    let r = node
        .client
        .post(node.url("/federation/v1/membership"))
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .expect("POST membership");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let kind = body["type"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches("urn:vivier:problem:")
        .to_string();
    (status, kind, body)
}

async fn serial_of(node: &NodeProcess) -> Option<i64> {
    node.well_known().await["membership_serial"].as_i64()
}

fn current(net: &Path) -> SignedMembershipDocument {
    SignedMembershipDocument::from_bytes(&std::fs::read(net.join("network.json")).unwrap()).unwrap()
}

/// The next document after `doc`, built with the protocol crate directly.
fn next_of(doc: &MembershipDocument) -> MembershipDocument {
    let mut d = doc.clone();
    d.serial += 1;
    d.issued_at = now_ms();
    d.expires_at = d.issued_at + 30 * DAY_MS;
    d
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_lifecycle_against_real_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let files = root.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let ca = TestCa::new(&root.join("ca"));
    let ca_pem = ca.ca_pem.to_str().unwrap().to_string();
    let net = root.join("network");

    // --- init --------------------------------------------------------------
    let out = adm_ok(
        &net,
        &[
            "init",
            "--network-id",
            "vivier-test",
            "--validity-days",
            "30",
        ],
    );
    let op_pk = out.lines().last().unwrap().trim().to_string();
    let op_key = KeyFile::read(net.join("operator.key")).unwrap().key;
    assert_eq!(
        op_pk,
        op_key.public_key().to_b64(),
        "init prints the operator public key"
    );
    assert_eq!(current(&net).document.serial, 1);
    // Refuses to overwrite an existing network.
    assert!(adm_err(&net, &["init", "--network-id", "x"]).contains("already exists"));

    // --- three real nodes trusting the operator key -------------------------
    let opts = NodeOptions {
        operator_public_key: Some(op_pk.clone()),
        ..Default::default()
    };
    let members: [(&str, &str, &[&str]); 3] = [
        ("cd41", "departement", &["--departement", "41"]),
        (
            "petr-montlucon",
            "petr",
            &["--departement", "03", "--commune", "03185"],
        ),
        ("mission-tours", "city_mission", &["--commune", "37261"]),
    ];
    let nodes: Vec<NodeProcess> = members
        .iter()
        .map(|(id, _, _)| NodeProcess::start(root, id, Some(&ca), &opts))
        .collect();
    for n in &nodes {
        assert_eq!(
            serial_of(n).await,
            None,
            "{} holds no document yet",
            n.node_id
        );
    }

    // --- member add --from-node ---------------------------------------------
    for ((id, kind, terr), node) in members.iter().zip(&nodes) {
        let mut args = vec![
            "member",
            "add",
            id,
            "--kind",
            kind,
            "--from-node",
            &node.base_url,
            "--ca-cert",
            &ca_pem,
        ];
        args.extend_from_slice(terr);
        adm_ok(&net, &args);
    }
    let doc4 = current(&net);
    assert_eq!(doc4.document.serial, 4);
    for ((id, _, _), node) in members.iter().zip(&nodes) {
        let m = doc4
            .document
            .member(&vivier_protocol::NodeId::parse(id).unwrap())
            .unwrap();
        let wk = node.well_known().await;
        assert_eq!(m.base_url, node.base_url);
        assert_eq!(
            m.keys[0].public_key.to_b64(),
            wk["keys"][0]["public_key"].as_str().unwrap()
        );
        assert_eq!(
            m.keys[0].valid_from,
            wk["keys"][0]["valid_from"].as_i64().unwrap()
        );
    }
    let shown = adm_ok(&net, &["show"]);
    for (id, kind, _) in &members {
        assert!(shown.contains(id) && shown.contains(kind), "{shown}");
    }
    assert!(shown.contains("serial     4"), "{shown}");

    // Input errors: duplicate node id, invalid URL, bad key, unknown member.
    let e = adm_err(
        &net,
        &[
            "member",
            "add",
            "cd41",
            "--kind",
            "departement",
            "--from-node",
            &nodes[0].base_url,
            "--ca-cert",
            &ca_pem,
        ],
    );
    assert!(e.contains("duplicate node id"), "{e}");
    let e = adm_err(
        &net,
        &[
            "member",
            "add",
            "cd18",
            "--name",
            "CD 18",
            "--kind",
            "departement",
            "--url",
            "http://vivier.cd18.fr",
            "--public-key",
            &op_pk,
        ],
    );
    assert!(e.contains("https is required"), "{e}");
    let e = adm_err(
        &net,
        &[
            "member",
            "add",
            "cd18",
            "--name",
            "CD 18",
            "--kind",
            "departement",
            "--url",
            "https://vivier.cd18.fr",
            "--public-key",
            "not-a-key",
        ],
    );
    assert!(e.contains("bad key"), "{e}");
    let e = adm_err(&net, &["member", "suspend", "cd99", "--reason", "x"]);
    assert!(e.contains("unknown member cd99"), "{e}");
    // --from-node with a node id that is not the node's.
    let e = adm_err(
        &net,
        &[
            "member",
            "add",
            "cd18",
            "--kind",
            "departement",
            "--from-node",
            &nodes[0].base_url,
            "--ca-cert",
            &ca_pem,
        ],
    );
    assert!(e.contains("not cd18"), "{e}");
    // Without the CA, the node's certificate is not trusted.
    let e = adm_err(
        &net,
        &[
            "member",
            "add",
            "cd18",
            "--kind",
            "departement",
            "--from-node",
            &nodes[0].base_url,
        ],
    );
    assert!(e.starts_with("error: "), "{e}");
    assert_eq!(
        current(&net).document.serial,
        4,
        "failed commands write nothing"
    );

    // Key file with wrong permissions.
    {
        use std::os::unix::fs::PermissionsExt;
        let key_path = net.join("operator.key");
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = adm_err(&net, &["member", "suspend", "cd41", "--reason", "x"]);
        assert!(e.contains("chmod 600") && e.contains("operator.key"), "{e}");
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // --- publish → every node runs serial 4 ----------------------------------
    let out = adm_ok(&net, &["publish", "--ca-cert", &ca_pem]);
    assert_eq!(out.matches("accepted serial 4").count(), 3, "{out}");
    for n in &nodes {
        assert_eq!(serial_of(n).await, Some(4), "{}", n.node_id);
    }
    let out = adm_ok(&net, &["status", "--ca-cert", &ca_pem]);
    assert_eq!(out.matches("4 (current)").count(), 3, "{out}");
    assert!(!out.contains("NO ("), "key match: {out}");
    // Publishing again is harmless.
    let out = adm_ok(&net, &["publish", "--ca-cert", &ca_pem]);
    assert_eq!(out.matches("already at serial 4").count(), 3, "{out}");

    // --- refusals: each with its own error ----------------------------------
    // Rollback to serial 3.
    let doc3 = std::fs::read(net.join("documents/3.json")).unwrap();
    let (s, kind, body) = post_document(&nodes[0], doc3.clone()).await;
    assert_eq!((s, kind.as_str()), (409, "rollback"), "{body}");
    // The operator publishes an older network.json by mistake: refused, the
    // reason said once.
    let held = std::fs::read(net.join("network.json")).unwrap();
    std::fs::write(net.join("network.json"), &doc3).unwrap();
    let (ok, out, err) = adm(&net, &["publish", "--ca-cert", &ca_pem]);
    assert!(!ok, "{out}{err}");
    assert!(
        out.contains("REFUSED 409 rollback: ") && !out.contains("rollback: rollback"),
        "{out}{err}"
    );
    std::fs::write(net.join("network.json"), &held).unwrap();

    // Expired (signed by the real operator key).
    let mut d = next_of(&doc4.document);
    d.issued_at = now_ms() - 10 * DAY_MS;
    d.expires_at = now_ms() - DAY_MS;
    let expired = SignedMembershipDocument::sign(d, &[&op_key])
        .unwrap()
        .to_bytes()
        .unwrap();
    let (s, kind, body) = post_document(&nodes[1], expired.clone()).await;
    assert_eq!((s, kind.as_str()), (400, "expired"), "{body}");
    let f = write(&files, "expired.json", &expired);
    let out = adm_err(&net, &["verify", &f]);
    assert!(out.contains("invalid: expired"), "{out}");

    // Signed by a foreign key under the operator's key id → bad_signature;
    // under another key id → insufficient_signatures.
    let foreign = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
    let forged = SignedMembershipDocument::sign(next_of(&doc4.document), &[&foreign])
        .unwrap()
        .to_bytes()
        .unwrap();
    let (s, kind, body) = post_document(&nodes[2], forged.clone()).await;
    assert_eq!((s, kind.as_str()), (400, "bad_signature"), "{body}");
    let f = write(&files, "forged.json", &forged);
    assert!(adm_err(&net, &["verify", &f]).contains("invalid: bad_signature"));
    let foreign9 = SigningKeyPair::generate(KeyId::parse("ed25519:9").unwrap());
    let forged9 = SignedMembershipDocument::sign(next_of(&doc4.document), &[&foreign9])
        .unwrap()
        .to_bytes()
        .unwrap();
    let (s, kind, body) = post_document(&nodes[0], forged9).await;
    assert_eq!(
        (s, kind.as_str()),
        (400, "insufficient_signatures"),
        "{body}"
    );
    // A node trusting only the foreign key would not take it either: the
    // document names other operator keys without their signatures.
    let out = adm_err(
        &net,
        &["verify", &f, "--trust-key", &foreign.public_key().to_b64()],
    );
    assert!(
        out.contains("invalid: rotation_not_signed_by_new_keys"),
        "{out}"
    );

    // Truncated.
    let full = std::fs::read(net.join("network.json")).unwrap();
    let truncated = full[..full.len() / 2].to_vec();
    let (s, kind, body) = post_document(&nodes[1], truncated.clone()).await;
    assert_eq!((s, kind.as_str()), (400, "malformed"), "{body}");
    let f = write(&files, "truncated.json", &truncated);
    assert!(adm_err(&net, &["verify", &f]).contains("invalid: malformed"));
    // The real one verifies.
    let out = adm_ok(
        &net,
        &["verify", net.join("network.json").to_str().unwrap()],
    );
    assert!(
        out.starts_with("valid: network vivier-test, serial 4"),
        "{out}"
    );
    let out = adm_ok(
        &net,
        &[
            "verify",
            net.join("network.json").to_str().unwrap(),
            "--trust-key",
            &op_pk,
        ],
    );
    assert!(
        out.starts_with("valid: network vivier-test, serial 4"),
        "{out}"
    );

    for n in &nodes {
        assert_eq!(
            serial_of(n).await,
            Some(4),
            "{} still at serial 4",
            n.node_id
        );
    }

    // --- operator key rotation ----------------------------------------------
    let new_op = SigningKeyPair::generate(KeyId::parse("ed25519:2").unwrap());
    let mut rotated = next_of(&doc4.document);
    rotated.operator_keys = vec![OperatorKey {
        key_id: new_op.key_id().clone(),
        public_key: new_op.public_key(),
    }];
    // Signed by the new key only: nodes do not trust it yet.
    let only_new = SignedMembershipDocument::sign(rotated.clone(), &[&new_op])
        .unwrap()
        .to_bytes()
        .unwrap();
    let (s, kind, body) = post_document(&nodes[2], only_new).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        kind == "insufficient_signatures" || kind == "rotation_not_signed_by_new_keys",
        "{body}"
    );
    // Signed by the old key only: the new key must sign too.
    let only_old = SignedMembershipDocument::sign(rotated, &[&op_key])
        .unwrap()
        .to_bytes()
        .unwrap();
    let (s, kind, body) = post_document(&nodes[0], only_old).await;
    assert_eq!(
        (s, kind.as_str()),
        (400, "rotation_not_signed_by_new_keys"),
        "{body}"
    );
    for n in &nodes {
        assert_eq!(serial_of(n).await, Some(4));
    }
    // The real rotation: signed by both, accepted everywhere.
    let out = adm_ok(&net, &["operator", "rotate"]);
    assert!(out.contains("serial 5"), "{out}");
    let doc5 = current(&net);
    assert_eq!(doc5.signatures.len(), 2);
    let new_key = KeyFile::read(net.join("operator.key")).unwrap().key;
    assert_ne!(new_key.public_key(), op_key.public_key());
    assert_eq!(
        doc5.document.operator_keys[0].public_key,
        new_key.public_key()
    );
    assert_eq!(
        KeyFile::read(net.join("operator.key.old"))
            .unwrap()
            .key
            .public_key(),
        op_key.public_key()
    );
    let out = adm_ok(&net, &["publish", "--ca-cert", &ca_pem]);
    assert_eq!(out.matches("accepted serial 5").count(), 3, "{out}");
    for n in &nodes {
        assert_eq!(serial_of(n).await, Some(5), "{}", n.node_id);
    }
    // The old key no longer signs anything nodes accept.
    let stale = SignedMembershipDocument::sign(next_of(&doc5.document), &[&op_key])
        .unwrap()
        .to_bytes()
        .unwrap();
    let (s, kind, body) = post_document(&nodes[1], stale).await;
    assert_eq!(
        (s, kind.as_str()),
        (400, "insufficient_signatures"),
        "{body}"
    );

    // --- revocation -----------------------------------------------------------
    // A message signed by mission-tours' node key.
    let payload = write(
        &files,
        "closed.json",
        format!(
            r#"{{"offer_id":"mission-tours-offre-1","closed_at":{},"reason":"Poste pourvu"}}"#,
            now_ms()
        )
        .as_bytes(),
    );
    let node_key = root.join("mission-tours/data/node.key");
    let msg = adm_ok(
        &net,
        &[
            "message",
            "sign",
            "--key",
            node_key.to_str().unwrap(),
            "--kind",
            "offer.closed",
            "--payload",
            &payload,
        ],
    );
    let msg_file = write(&files, "msg.json", msg.trim_end().as_bytes());
    let out = adm_ok(&net, &["message", "verify", &msg_file]);
    assert!(
        out.starts_with("valid: offer.closed from mission-tours (message "),
        "{out}"
    );
    // One changed byte → bad signature (with an explicit key too).
    let tampered = msg.trim_end().replace("Poste pourvu", "Poste pourvU");
    let tf = write(&files, "tampered.json", tampered.as_bytes());
    assert!(adm_err(&net, &["message", "verify", &tf]).contains("invalid: bad_signature"));
    let mt_pk = KeyFile::read(&node_key).unwrap().key.public_key().to_b64();
    let out = adm_ok(
        &net,
        &[
            "message",
            "verify",
            &msg_file,
            "--public-key",
            &mt_pk,
            "--sender",
            "mission-tours",
            "--key-id",
            "ed25519:1",
        ],
    );
    assert!(out.starts_with("valid: "), "{out}");

    adm_ok(
        &net,
        &[
            "member",
            "revoke",
            "mission-tours",
            "--reason",
            "a quitté le réseau",
        ],
    );
    let out = adm_ok(&net, &["publish", "--ca-cert", &ca_pem]);
    assert_eq!(out.matches("accepted serial 6").count(), 3, "{out}");
    // The document cd41 now holds (serial 6, signed by the new operator key)
    // refuses mission-tours' messages.
    let held = nodes[0]
        .client
        .get(nodes[0].url("/federation/v1/membership"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let held_file = write(&files, "held.json", &held);
    let out = adm_ok(&net, &["verify", &held_file]);
    assert!(
        out.starts_with("valid: network vivier-test, serial 6"),
        "{out}"
    );
    let out = adm_err(
        &net,
        &["message", "verify", &msg_file, "--membership", &held_file],
    );
    assert!(out.starts_with("invalid: sender_not_active: "), "{out}");
    let out = adm_err(&net, &["message", "verify", &msg_file]);
    assert!(out.starts_with("invalid: sender_not_active: "), "{out}");
    assert!(out.contains("revoked"), "{out}");

    // Status: every node runs serial 6; the revoked one is listed as such.
    let out = adm_ok(&net, &["status", "--ca-cert", &ca_pem]);
    assert_eq!(out.matches("6 (current)").count(), 3, "{out}");
    assert!(out.contains("revoked"), "{out}");
    let shown = adm_ok(&net, &["show"]);
    assert!(
        shown.contains("revoked") && shown.contains("a quitté le réseau"),
        "{shown}"
    );
    // Revocation is permanent.
    assert!(adm_err(&net, &["member", "reactivate", "mission-tours"]).contains("permanent"));
    // History of every serial is kept.
    for s in 1..=6 {
        assert!(
            net.join(format!("documents/{s}.json")).exists(),
            "documents/{s}.json"
        );
    }
}

#[test]
fn help_is_complete() {
    let top = admin_ok(&["--help"]);
    for c in [
        "init", "member", "operator", "renew", "show", "verify", "message", "publish", "status",
    ] {
        assert!(top.contains(c), "`{c}` missing from --help:\n{top}");
    }
    let member = admin_ok(&["member", "--help"]);
    for c in [
        "add",
        "update",
        "suspend",
        "revoke",
        "rotate-key",
        "reactivate",
    ] {
        assert!(
            member.contains(c),
            "`{c}` missing from member --help:\n{member}"
        );
    }
    let message = admin_ok(&["message", "--help"]);
    assert!(
        message.contains("verify") && message.contains("sign"),
        "{message}"
    );
    let operator = admin_ok(&["operator", "--help"]);
    assert!(
        operator.contains("rotate") && operator.contains("passphrase"),
        "{operator}"
    );
    assert!(admin_ok(&["init", "--help"]).contains("VIVIER_OPERATOR_PASSPHRASE"));
    for path in [
        &["init"][..],
        &["member", "add"],
        &["member", "update"],
        &["member", "suspend"],
        &["member", "revoke"],
        &["member", "rotate-key"],
        &["member", "reactivate"],
        &["operator", "rotate"],
        &["operator", "passphrase"],
        &["renew"],
        &["show"],
        &["verify"],
        &["message", "verify"],
        &["message", "sign"],
        &["publish"],
        &["status"],
    ] {
        let mut args = path.to_vec();
        args.push("--help");
        let out = admin_ok(&args);
        assert!(out.contains("Usage: vivier-admin"), "{args:?}:\n{out}");
        assert!(
            out.contains("--dir"),
            "{args:?} shows the global --dir:\n{out}"
        );
    }
    let add = admin_ok(&["member", "add", "--help"]);
    for flag in [
        "--from-node",
        "--public-key",
        "--ca-cert",
        "--departement",
        "--commune",
        "city_mission",
    ] {
        assert!(
            add.contains(flag),
            "`{flag}` missing from member add --help:\n{add}"
        );
    }
    // Usage errors exit non-zero with a clear message.
    let out = admin(&["member", "add", "cd41"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
}

#[test]
fn missing_network_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let e = adm_err(&tmp.path().join("nope"), &["show"]);
    assert!(
        e.starts_with("error: ") && e.contains("vivier-admin init"),
        "{e}"
    );
}

/// `init --passphrase` encrypts operator.key; signing commands need the
/// passphrase (from VIVIER_OPERATOR_PASSPHRASE here), a wrong or missing one
/// is refused without writing anything, and `show` needs none.
#[test]
fn passphrase_encrypted_operator_key() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tmp.path().join("net");
    let dir = net.to_str().unwrap();
    let run = |args: &[&str], pass: Option<&str>| {
        let mut all = vec!["--dir", dir];
        all.extend_from_slice(args);
        let env: Vec<(&str, &str)> = pass
            .map(|p| ("VIVIER_OPERATOR_PASSPHRASE", p))
            .into_iter()
            .collect();
        let out = admin_env(&all, &env);
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, out) = run(
        &["init", "--network-id", "vivier-test", "--passphrase"],
        Some("correct horse"),
    );
    assert_eq!(code, Some(0), "{out}");
    let key_path = net.join("operator.key");
    let key_text = std::fs::read_to_string(&key_path).unwrap();
    assert!(key_text.contains("vivier-key-v1-encrypted"), "{key_text}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let node_key = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
    let pk = node_key.public_key().to_b64();
    let add = |id: &'static str| -> Vec<String> {
        [
            "member",
            "add",
            id,
            "--name",
            "CD",
            "--kind",
            "departement",
            "--url",
            "https://vivier.example.fr",
            "--public-key",
            &pk,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let cd41 = add("cd41");
    let cd41: Vec<&str> = cd41.iter().map(String::as_str).collect();
    // Wrong passphrase, no passphrase at all: exit 1, nothing written.
    let (code, out) = run(&cd41, Some("wrong"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "error: wrong passphrase for {}",
            key_path.display()
        )),
        "{out}"
    );
    let (code, out) = run(&cd41, None);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("VIVIER_OPERATOR_PASSPHRASE"), "{out}");
    assert_eq!(current(&net).document.serial, 1);
    assert!(!net.join("documents/2.json").exists());
    // The right one signs.
    let (code, out) = run(&cd41, Some("correct horse"));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(current(&net).document.serial, 2);
    // `show` needs no passphrase.
    let (code, out) = run(&["show"], None);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("cd41"), "{out}");
    // The document verifies against the operator key listed in it.
    assert!(adm_ok(
        &net,
        &["verify", net.join("network.json").to_str().unwrap()]
    )
    .starts_with("valid"));
}
