//! Shared helpers for the node's HTTP tests: start a real node in-process on
//! port 0 with its own temporary data directory, on SQLite and (when
//! reachable) PostgreSQL in a fresh database, and talk to it over HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;

use serde_json::Value;
use tokio::sync::watch;
use vivier_node::auth::{NewUser, Role};
use vivier_node::clock::{SharedClock, SystemClock};
use vivier_node::config::Config;
use vivier_node::server::AppState;

/// The real `vivier-node` binary, whose hidden `extract` subcommand reads
/// CV files for the in-process test nodes.
pub const EXTRACTOR: &str = env!("CARGO_BIN_EXE_vivier-node");

/// A consented candidate record at Blois, cariste (a `POST
/// /api/v1/candidates` body).
pub fn candidate_body(first: &str) -> Value {
    serde_json::json!({
        "first_name": first,
        "last_name": "Martin",
        "commune_insee": "41018",
        "rome_codes": ["N1101"],
        "cv_text": "Cariste CACES 3, préparation de commandes.",
        "consent_scope": "local",
    })
}

/// A CDI cariste offer at Blois (a `POST /api/v1/offers` body).
pub fn offer_body(title: &str) -> Value {
    serde_json::json!({
        "title": title,
        "description": "Chargement des camions, CACES 3.",
        "rome_code": "N1101",
        "contract_type": "CDI",
        "employer": {"name": "Logistique Val de Loire"},
        "workplaces": [{"commune_insee": "41018", "positions": 2}]
    })
}

/// The `field` of each error of a problem JSON body.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

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
    start_node_with_clock(backend, SystemClock::shared(), tweak).await
}

/// [`start_node_with`], the node reading time from `clock` (a
/// `ManualClock` lets a test move time instead of sleeping).
pub async fn start_node_with_clock(
    backend: &Backend,
    clock: SharedClock,
    tweak: impl FnOnce(&mut Config),
) -> TestNode {
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
    // The node runs inside this test binary: CV files are read by the real
    // node binary's `extract` subcommand, in a child process.
    config.uploads.extractor_path = Some(EXTRACTOR.into());
    if let Backend::Postgres(admin) = backend {
        config.database_url = Some(fresh_postgres_db(admin).await);
    }
    tweak(&mut config);
    serve(config, dir, backend, listener, clock).await
}

async fn serve(
    config: Config,
    dir: tempfile::TempDir,
    backend: &Backend,
    listener: TcpListener,
    clock: SharedClock,
) -> TestNode {
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = watch::channel(false);
    let state = vivier_node::server::open_with_clock(config, rx, clock)
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
            &vivier_node::auth::PasswordPolicy::from_config(&self.state.config),
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
        let now = self.state.clock.now_ms();
        vivier_node::auth::tokens::issue(
            &self.state.db,
            now,
            &user.id,
            vivier_node::auth::tokens::TokenKind::Api,
            Some("test"),
            now + 30 * 86_400_000,
        )
        .await
        .expect("token")
        .token
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

    /// Upload a CV file (`POST /api/v1/candidates/{id}/cv`, multipart
    /// field `file`); the JSON answer (or null) and its status.
    pub async fn upload_cv(
        &self,
        token: &str,
        id: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()),
        );
        let r = self
            .client
            .post(self.url(&format!("/api/v1/candidates/{id}/cv")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Post a web form as a browser would (same `Origin`, redirects not
    /// followed): status, `Retry-After`, body.
    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(self.url(path))
            .header("origin", self.base.clone())
            .form(fields)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (status, retry, r.text().await.unwrap())
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
        self.halt().await;
    }

    async fn halt(&mut self) {
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

    /// Stop the node and start it again on the same data directory and
    /// database (on a new port), its time read from `clock`.
    pub async fn restart(mut self, clock: SharedClock) -> TestNode {
        self.halt().await;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = self.state.config.clone();
        config.listen = addr;
        config.public_url = Some(format!("http://{addr}"));
        let backend = self.backend.clone();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        serve(config, dir, &backend, listener, clock).await
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
    "mail_outbox",
    "password_resets",
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

    /// Apply every committed journal entry to the search indexes and commit
    /// them: what was written is searchable when this returns.
    pub async fn sync_index(&self) {
        vivier_node::journal::catch_up(&self.state)
            .await
            .expect("journal catch-up");
        self.state.search.candidates.commit_now().expect("commit");
        self.state.search.offers.commit_now().expect("commit");
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

/// A member of a test network, reachable at `base_url`, with `key`.
pub fn member_entry(
    id: &str,
    base_url: &str,
    key: &vivier_protocol::SigningKeyPair,
) -> vivier_protocol::Member {
    vivier_protocol::Member {
        node_id: vivier_protocol::NodeId::parse(id).unwrap(),
        display_name: format!("Mission {id}"),
        kind: vivier_protocol::MemberKind::CityMission,
        territory: vivier_protocol::Territory {
            departements: vec!["41".into()],
            communes: vec![],
        },
        base_url: base_url.into(),
        keys: vec![vivier_protocol::MemberKey {
            key_id: key.key_id().clone(),
            public_key: key.public_key(),
            valid_from: 0,
            valid_until: None,
        }],
        status: vivier_protocol::MemberStatus::Active,
    }
}

/// The member entry of a running test node.
pub fn member_of(node: &TestNode) -> vivier_protocol::Member {
    member_entry(
        node.state.identity.node_id.as_str(),
        &node.base,
        &node.state.signing_key(),
    )
}

/// Configuration of a federated test node: its id, the operator key it
/// trusts, quick delivery polling, no periodic catch-up.
pub fn federated(
    id: &'static str,
    operator: &vivier_protocol::SigningKeyPair,
) -> impl FnOnce(&mut Config) {
    let public_key = operator.public_key().to_b64();
    let key_id = operator.key_id().to_string();
    move |c: &mut Config| {
        c.node_id = id.into();
        c.federation.operator_keys =
            vec![vivier_node::config::OperatorKeyConfig { key_id, public_key }];
        c.federation.poll_interval_ms = 100;
        c.federation.catch_up_interval_secs = 3600;
    }
}

/// Sign a membership document (serial 1) naming `members` with `operator`
/// and push it to every node of `nodes`.
pub async fn publish_membership(
    operator: &vivier_protocol::SigningKeyPair,
    nodes: &[&TestNode],
    members: Vec<vivier_protocol::Member>,
) {
    let bytes = membership_bytes(operator, members);
    for n in nodes {
        let r = push_membership(n, bytes.clone()).await;
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    }
}

/// Push membership document bytes to `node`, as `vivier-admin publish`
/// does; its answer.
pub async fn push_membership(node: &TestNode, bytes: Vec<u8>) -> reqwest::Response {
    node.client
        .post(node.url("/federation/v1/membership"))
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// A membership document (serial 1) naming `members`, signed by
/// `operator`, as bytes.
pub fn membership_bytes(
    operator: &vivier_protocol::SigningKeyPair,
    members: Vec<vivier_protocol::Member>,
) -> Vec<u8> {
    membership_bytes_serial(operator, 1, members)
}

/// [`membership_bytes`] with a given serial (a later document).
pub fn membership_bytes_serial(
    operator: &vivier_protocol::SigningKeyPair,
    serial: i64,
    members: Vec<vivier_protocol::Member>,
) -> Vec<u8> {
    let now = chrono::Utc::now().timestamp_millis();
    let doc = vivier_protocol::MembershipDocument {
        network_id: "test".into(),
        serial,
        issued_at: now,
        expires_at: now + 86_400_000,
        operator_keys: vec![vivier_protocol::OperatorKey {
            key_id: operator.key_id().clone(),
            public_key: operator.public_key(),
        }],
        threshold: 1,
        members,
        network_search: None,
    };
    vivier_protocol::SignedMembershipDocument::sign(doc, &[operator])
        .unwrap()
        .to_bytes()
        .unwrap()
}
impl TestNode {
    /// Logs in through the web form (with the password `user` sets) and
    /// returns the `Cookie` header value of the session.
    pub async fn ui_cookie(&self, email: &str) -> String {
        ui_login(self, email).await
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

// ---------------------------------------------------------------------------
// Web forms as a browser sends them (the UI and the candidate space)

/// A browser-like client: no automatic redirects, so each one is checked.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Log in through the web form with the password [`TestNode::user`] sets;
/// returns the `Cookie` header value.
pub async fn ui_login(node: &TestNode, email: &str) -> String {
    let p = post(
        node,
        None,
        "/ui/connexion",
        &[("email", email), ("password", "motdepasse-solide")],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/ui/"));
    let cookie = p.set_cookie.expect("session cookie");
    cookie.split(';').next().expect("a cookie pair").to_string()
}

/// A page as answered: status, redirect, cookie, headers, body.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

/// Read an answer.
pub async fn page(resp: reqwest::Response) -> Page {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let location = headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let set_cookie = headers
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    Page {
        status,
        location,
        set_cookie,
        headers,
        body: resp.text().await.unwrap_or_default(),
    }
}

/// `GET path` with an optional `Cookie` header, redirects not followed.
pub async fn get(node: &TestNode, cookie: Option<&str>, path: &str) -> Page {
    let mut req = browser().get(node.url(path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    page(req.send().await.expect("send")).await
}

/// Post a form as a browser does (same `Origin`), with an optional
/// `Cookie` header, redirects not followed.
pub async fn post(
    node: &TestNode,
    cookie: Option<&str>,
    path: &str,
    form: &[(&str, &str)],
) -> Page {
    let mut req = browser()
        .post(node.url(path))
        .header("origin", node.base.clone())
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    page(req.send().await.expect("send")).await
}

/// The signed-in user behind API token `token`, as a service's actor (to
/// call a service directly, as its adapters do).
pub async fn actor_of(node: &TestNode, token: &str) -> vivier_node::actor::Actor {
    let (st, me) = node.get(token, "/api/v1/me").await;
    assert_eq!(st, 200, "{me}");
    let id = me["id"].as_str().expect("user id");
    let user = vivier_node::auth::user_by_id(&node.state.db, id)
        .await
        .expect("user lookup")
        .expect("user exists");
    vivier_node::actor::Actor::User(user)
}
