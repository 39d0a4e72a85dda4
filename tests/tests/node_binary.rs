//! The real `vivier-node` binary starts on a free port, answers
//! `/health` and `/.well-known/vivier`, and keeps its key and data across
//! restarts — on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

async fn starts_and_keeps_identity(opts: NodeOptions) {
    let root = tempfile::tempdir().unwrap();
    let mut node = NodeProcess::start(root.path(), "cd41", None, &opts);
    let health: serde_json::Value = node
        .client
        .get(node.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let wk = node.well_known().await;
    assert_eq!(wk["node_id"], "cd41");
    assert_eq!(wk["protocol_versions"], serde_json::json!([1]));
    let key = wk["keys"][0]["public_key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 43, "unpadded base64url of 32 bytes: {key}");
    assert_eq!(wk["keys"][0]["key_id"], "ed25519:1");

    // The secret key file is private to the node's user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(node.dir.join("data/node.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "node.key mode {mode:o}");
    // It never reaches the logs.
    let secret: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.dir.join("data/node.key")).unwrap()).unwrap();
    assert!(!node.log().contains(secret["secret_key"].as_str().unwrap()));

    // Data written before a restart is there after it, with the same key.
    let admin = node.user("admin", "admin@cd41.fr", None);
    node.stop();
    node.restart();
    let wk2 = node.well_known().await;
    assert_eq!(wk2["keys"][0]["public_key"].as_str().unwrap(), key);
    let (s, me) = node.get(&admin, "/api/v1/me").await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["email"], "admin@cd41.fr");
    // Unauthenticated callers get nothing.
    let (s, body) = node.get("not-a-token", "/api/v1/me").await;
    assert_eq!(s, 401);
    assert_eq!(body["status"], 401);
}

#[tokio::test]
async fn node_binary_on_sqlite() {
    starts_and_keeps_identity(NodeOptions::default()).await;
    // The embedded default database is a WAL-mode SQLite file in the data dir.
}

#[tokio::test]
async fn node_binary_on_postgres() {
    let Some(admin_url) = postgres_admin_url() else {
        eprintln!("PostgreSQL not reachable: skipped");
        return;
    };
    let url = fresh_postgres_db(&admin_url).await;
    starts_and_keeps_identity(NodeOptions {
        database_url: Some(url),
        ..Default::default()
    })
    .await;
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("n.toml");
    std::fs::write(&cfg, "node_id = \"cd41\"\nlisten = \"0.0.0.0:0\"\n").unwrap();
    let out = std::process::Command::new(NODE_BIN)
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback") && err.contains("tls"), "{err}");
}
