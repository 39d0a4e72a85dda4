//! Shared helpers for the node's HTTP tests: start a real node in-process on
//! port 0 with its own temporary data directory, on SQLite and (when
//! reachable) PostgreSQL in a fresh database, and talk to it over HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;

use serde_json::Value;
use tokio::sync::watch;
use vivier_node::auth::{NewUser, Role};
use vivier_node::config::Config;
use vivier_node::server::AppState;

/// Which database a test node uses.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// The PostgreSQL admin URL for tests: `VIVIER_TEST_POSTGRES`, or the local
/// server at 127.0.0.1:5432 (database `test`) when it accepts connections.
/// `VIVIER_TEST_POSTGRES=off` disables PostgreSQL tests; in CI
/// (`CI` set) an unreachable server is a failure, not a skip.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("VIVIER_TEST_POSTGRES") {
        Ok(v) if v == "off" => None,
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let reachable = std::net::TcpStream::connect_timeout(
                &"127.0.0.1:5432".parse().unwrap(),
                std::time::Duration::from_millis(300),
            )
            .is_ok();
            if reachable {
                Some("postgres://postgres@127.0.0.1:5432/test".to_string())
            } else if std::env::var("CI").is_ok() {
                panic!("CI: PostgreSQL is not reachable at 127.0.0.1:5432");
            } else {
                eprintln!("PostgreSQL not reachable: PostgreSQL variants skipped");
                None
            }
        }
    }
}

/// Backends to run a test on.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if let Some(url) = postgres_admin_url() {
        v.push(Backend::Postgres(url));
    }
    v
}

/// Create a fresh PostgreSQL database and return its URL.
pub async fn fresh_postgres_db(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("vivier_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect postgres");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.ok();
    let mut url = url::Url::parse(admin_url).expect("url");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A running node.
pub struct TestNode {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    shutdown: watch::Sender<bool>,
    stop_tx: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Start a node with default config on `backend`; `tweak` may adjust the config.
pub async fn start_node_with(backend: &Backend, tweak: impl FnOnce(&mut Config)) -> TestNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut config = Config {
        node_id: "test-node".into(),
        data_dir: dir.path().to_path_buf(),
        listen: addr,
        public_url: Some(format!("http://{addr}")),
        ..Config::default()
    };
    if let Backend::Postgres(admin) = backend {
        config.database_url = Some(fresh_postgres_db(admin).await);
    }
    tweak(&mut config);
    let (tx, rx) = watch::channel(false);
    let state = vivier_node::server::open(config, rx)
        .await
        .expect("open node");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    let task = tokio::spawn(async move {
        vivier_node::server::run(st, listener, async move {
            let _ = stop_rx.await;
        })
        .await
        .expect("serve");
    });
    TestNode {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        state,
        dir,
        backend: backend.clone(),
        shutdown: tx,
        stop_tx: Some(stop_tx),
        task: Some(task),
    }
}

/// Start a node with default config.
pub async fn start_node(backend: &Backend) -> TestNode {
    start_node_with(backend, |_| {}).await
}

impl TestNode {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Create a user directly in the store and return an API token.
    pub async fn user(&self, role: Role, email: &str) -> String {
        let user = vivier_node::auth::create_user(
            &self.state.db,
            NewUser {
                email: email.into(),
                display_name: format!("Test {email}"),
                role,
                password: "motdepasse-solide".into(),
                employer_name: (role == Role::Employer).then(|| "Entreprise Test".to_string()),
                employer_siret: None,
            },
        )
        .await
        .expect("create user");
        vivier_node::auth::issue_token(&self.state.db, &user.id, "api", Some("test"), None)
            .await
            .expect("token")
            .0
    }

    /// One authenticated request; the JSON answer (or null) and its status.
    pub async fn request(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, token, path, None).await
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        self.request(method, token, path, Some(body)).await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, token, path, Some(body))
            .await
    }

    pub async fn put(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.request(reqwest::Method::PUT, token, path, Some(body))
            .await
    }

    pub async fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::DELETE, token, path, None)
            .await
    }

    /// Stop the server and background tasks.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.state.search.shutdown();
        self.state.db.close().await;
    }
}

/// Poll `f` until it returns Some or `secs` pass.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// What a hostile-input test compares before and after: the number of rows
/// of every table that holds domain data, and a digest of their content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSnapshot(pub Vec<(String, i64, String)>);

/// Tables whose content a refused request must leave untouched (the audit
/// log is left out: refusals may be audited).
pub const DOMAIN_TABLES: &[&str] = &[
    "users",
    "candidates",
    "candidate_sensitive",
    "candidate_files",
    "placements",
    "offers",
    "referrals",
    "referral_events",
    "outbox",
    "inbox",
    "dead_letters",
    "broadcast_log",
];

impl TestNode {
    /// Row counts and a content digest of every domain table.
    pub async fn snapshot(&self) -> StoreSnapshot {
        use sha2::{Digest, Sha256};
        use sqlx::{Row, TypeInfo, ValueRef};
        let mut out = Vec::new();
        for table in DOMAIN_TABLES {
            let rows = sqlx::query(&format!("SELECT * FROM {table}"))
                .fetch_all(&self.state.db.pool)
                .await
                .expect("snapshot query");
            let mut lines: Vec<String> = rows
                .iter()
                .map(|r| {
                    (0..r.columns().len())
                        .map(|i| {
                            let raw = r.try_get_raw(i).expect("raw");
                            if raw.is_null() {
                                return "∅".to_string();
                            }
                            let ty = raw.type_info().name().to_ascii_uppercase();
                            if ty.contains("INT") {
                                r.try_get::<i64, _>(i).map(|v| v.to_string())
                            } else if ty.contains("BLOB") || ty.contains("BYTEA") {
                                r.try_get::<Vec<u8>, _>(i).map(hex::encode)
                            } else if ty.contains("REAL")
                                || ty.contains("FLOAT")
                                || ty.contains("DOUBLE")
                            {
                                r.try_get::<f64, _>(i).map(|v| v.to_string())
                            } else if ty.contains("BOOL") {
                                r.try_get::<bool, _>(i).map(|v| v.to_string())
                            } else {
                                r.try_get::<String, _>(i)
                            }
                            .unwrap_or_else(|e| format!("?{e}"))
                        })
                        .collect::<Vec<_>>()
                        .join("\u{1f}")
                })
                .collect();
            lines.sort();
            let digest = hex::encode(Sha256::digest(lines.join("\n").as_bytes()));
            out.push((
                table.to_string(),
                i64::try_from(rows.len()).unwrap_or(-1),
                digest,
            ));
        }
        StoreSnapshot(out)
    }

    /// The node still answers `/health` with 200.
    pub async fn assert_healthy(&self) {
        let r = self
            .client
            .get(self.url("/health"))
            .send()
            .await
            .expect("health request");
        assert_eq!(r.status().as_u16(), 200, "node no longer healthy");
    }

    /// The node is healthy and no domain data changed since `before`.
    pub async fn assert_alive_and_unchanged(&self, before: &StoreSnapshot) {
        self.assert_healthy().await;
        let after = self.snapshot().await;
        assert_eq!(&after, before, "stored data changed");
    }
}

impl TestNode {
    /// Logs in through the web form (with the password `user` sets) and
    /// returns the `Cookie` header value of the session.
    pub async fn ui_cookie(&self, email: &str) -> String {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let login = client
            .post(self.url("/ui/connexion"))
            .header("origin", self.base.clone())
            .form(&[("email", email), ("password", "motdepasse-solide")])
            .send()
            .await
            .expect("login");
        assert_eq!(login.status().as_u16(), 303, "login of {email}");
        login.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("cookie")
            .to_string()
    }

    /// A web page with a session cookie: its status and body.
    pub async fn ui_get(&self, cookie: &str, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("page");
        (r.status().as_u16(), r.text().await.expect("body"))
    }
}
