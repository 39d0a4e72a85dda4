//! The real `vivier-node` binary starts on a free port, answers
//! `/health` and `/.well-known/vivier`, and keeps its key and data across
//! restarts — on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

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
    // Mail is off unless configured, and the node says so.
    assert!(
        node.log()
            .contains("mail is disabled ([mail] enabled = false)"),
        "{}",
        node.log()
    );

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

#[test]
fn bad_mail_settings_stop_the_node_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("n.toml");
    let base = format!(
        "node_id = \"cd41\"\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\n[mail]\nenabled = true\n",
        dir.path().join("data").display().to_string()
    );
    let run = |extra: &str, env: &[(&str, &str)]| {
        std::fs::write(&cfg, format!("{base}{extra}")).unwrap();
        let out = std::process::Command::new(NODE_BIN)
            .args(["--config", cfg.to_str().unwrap(), "serve"])
            .env_remove("VIVIER_SMTP_USERNAME")
            .env_remove("VIVIER_SMTP_PASSWORD")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    // Plain SMTP to a remote server would send passwords and links in clear.
    let err = run("security = \"none\"\nhost = \"smtp.example.fr\"\n", &[]);
    assert!(
        err.contains("mail.security") && err.contains("loopback"),
        "{err}"
    );
    let err = run("from_address = \"pas une adresse\"\n", &[]);
    assert!(err.contains("mail.from_address"), "{err}");
    // Half the credentials, never echoed.
    let err = run("", &[("VIVIER_SMTP_PASSWORD", "s3cret-smtp")]);
    assert!(err.contains("VIVIER_SMTP_USERNAME"), "{err}");
    assert!(!err.contains("s3cret-smtp"), "{err}");
}

#[tokio::test]
async fn a_node_with_mail_says_where_it_sends_and_never_logs_the_password() {
    let root = tempfile::tempdir().unwrap();
    let opts = NodeOptions {
        extra_toml:
            "[mail]\nenabled = true\nsecurity = \"none\"\nhost = \"127.0.0.1\"\nport = 2525\n"
                .into(),
        ..Default::default()
    };
    let node = NodeProcess::start_with_env(
        root.path(),
        "cd41",
        &opts,
        &[
            ("VIVIER_SMTP_USERNAME", "vivier"),
            ("VIVIER_SMTP_PASSWORD", "s3cret-smtp"),
        ],
    );
    // Without the terminal colours.
    let mut log = String::new();
    let mut in_escape = false;
    for c in node.log().chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (true, 'm') => in_escape = false,
            (false, c) => log.push(c),
            (true, _) => {}
        }
    }
    assert!(
        log.contains("mail enabled: sending through the SMTP server"),
        "{log}"
    );
    assert!(log.contains("authenticated=true"), "{log}");
    assert!(!log.contains("s3cret-smtp"), "{log}");
}
