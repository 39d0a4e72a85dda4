//! Shared helpers for the end-to-end tests: a test CA (rcgen), real
//! `vivier-node` processes on loopback ports with their own data
//! directories, the operator's `vivier-admin`, and HTTP helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const NODE_BIN: &str = env!("CARGO_BIN_EXE_vivier-node-e2e");
pub const ADMIN_BIN: &str = env!("CARGO_BIN_EXE_vivier-admin-e2e");

/// A certificate authority for the test network, and leaf certificates
/// for `localhost` / 127.0.0.1 signed by it.
pub struct TestCa {
    pub dir: PathBuf,
    pub ca_pem: PathBuf,
    ca_cert: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Vivier test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, ca_cert.pem()).unwrap();
        TestCa {
            dir: dir.to_path_buf(),
            ca_pem,
            ca_cert,
            ca_key,
        }
    }

    /// Issue a leaf for localhost and 127.0.0.1; returns (cert, key) paths.
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        let c = self.dir.join(format!("{name}.crt"));
        let k = self.dir.join(format!("{name}.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    /// A reqwest client trusting this CA.
    pub fn client(&self) -> reqwest::Client {
        client_for(Some(&self.ca_pem))
    }
}

/// An HTTP client trusting the test CA when given.
fn client_for(ca_pem: Option<&Path>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(30));
    if let Some(p) = ca_pem {
        let pem = std::fs::read(p).unwrap();
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// Options for a node process.
#[derive(Clone, Default)]
pub struct NodeOptions {
    /// Operator public key (unpadded base64url) trusted by the node.
    pub operator_public_key: Option<String>,
    /// PostgreSQL URL (fresh database); SQLite when None.
    pub database_url: Option<String>,
    /// Extra TOML appended to the config.
    pub extra_toml: String,
    /// The node key to use (another process of the same member).
    pub key_file: Option<PathBuf>,
}

/// A real `vivier-node` process.
pub struct NodeProcess {
    pub node_id: String,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub base_url: String,
    pub client: reqwest::Client,
    ca_pem: Option<PathBuf>,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

fn toml_str(s: &str) -> String {
    format!("{s:?}")
}

impl NodeProcess {
    /// Start a node under `root/<node_id>` with TLS from `ca` (HTTPS) or plain
    /// HTTP on loopback when `ca` is None.
    pub fn start(
        root: &Path,
        node_id: &str,
        ca: Option<&TestCa>,
        opts: &NodeOptions,
    ) -> NodeProcess {
        NodeProcess::start_full(root, node_id, ca, opts, &[])
    }

    /// [`NodeProcess::start`] over plain HTTP with extra environment
    /// variables for the node process.
    pub fn start_with_env(
        root: &Path,
        node_id: &str,
        opts: &NodeOptions,
        env: &[(&str, &str)],
    ) -> NodeProcess {
        NodeProcess::start_full(root, node_id, None, opts, env)
    }

    fn start_full(
        root: &Path,
        node_id: &str,
        ca: Option<&TestCa>,
        opts: &NodeOptions,
        env: &[(&str, &str)],
    ) -> NodeProcess {
        let dir = root.join(node_id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut toml = format!(
            "node_id = {}\ndisplay_name = {}\ndata_dir = {}\nlisten = \"127.0.0.1:0\"\nlog_format = \"text\"\n",
            toml_str(node_id),
            toml_str(&format!("Mission Emploi {node_id}")),
            toml_str(&dir.join("data").display().to_string()),
        );
        if let Some(url) = &opts.database_url {
            toml.push_str(&format!("database_url = {}\n", toml_str(url)));
        }
        if let Some(key) = &opts.key_file {
            toml.push_str(&format!(
                "key_file = {}\n",
                toml_str(&key.display().to_string())
            ));
        }
        if let Some(ca) = ca {
            let (c, k) = ca.issue(node_id);
            toml.push_str(&format!(
                "[tls]\ncert_path = {}\nkey_path = {}\n",
                toml_str(&c.display().to_string()),
                toml_str(&k.display().to_string())
            ));
        }
        toml.push_str("[federation]\npoll_interval_ms = 100\ncatch_up_interval_secs = 2\nbackoff_initial_secs = 1\nbackoff_max_secs = 4\n");
        if let Some(ca) = ca {
            toml.push_str(&format!(
                "ca_cert = {}\n",
                toml_str(&ca.ca_pem.display().to_string())
            ));
        }
        if let Some(pk) = &opts.operator_public_key {
            toml.push_str(&format!(
                "operator_keys = [{{ key_id = \"ed25519:1\", public_key = {} }}]\n",
                toml_str(pk)
            ));
        }
        toml.push_str(&opts.extra_toml);
        let config_path = dir.join("node.toml");
        std::fs::write(&config_path, &toml).unwrap();
        let ca_pem = ca.map(|c| c.ca_pem.clone());
        let client = client_for(ca_pem.as_deref());
        let mut node = NodeProcess {
            node_id: node_id.to_string(),
            dir,
            config_path,
            base_url: String::new(),
            client,
            ca_pem,
            child: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        node.spawn();
        // Pin the port for restarts: the membership document names it.
        let port = url::Url::parse(&node.base_url).unwrap().port().unwrap();
        let mut toml = std::fs::read_to_string(&node.config_path).unwrap();
        toml = toml.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        );
        std::fs::write(&node.config_path, toml).unwrap();
        node
    }

    fn spawn(&mut self) {
        // A fresh connection pool: connections kept alive to a previous
        // process on the same port are dead.
        self.client = client_for(self.ca_pem.as_deref());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))
            .unwrap();
        let mut child = Command::new(NODE_BIN)
            .arg("--config")
            .arg(&self.config_path)
            .arg("serve")
            .env("VIVIER_LOG", "info,vivier_node=debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn vivier-node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "node {} did not start; see {}",
                    self.node_id,
                    self.dir.join("node.log").display()
                )
            });
        let url = line
            .strip_prefix("listening on ")
            .expect("listening line")
            .trim()
            .to_string();
        self.base_url = url
            .replace("127.0.0.1", "localhost")
            .replace("http://localhost", "http://127.0.0.1");
        self.child = Some(child);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL (no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe_sigterm(c.id());
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Start again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Run a `vivier-node` CLI command against this node's config.
    pub fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(NODE_BIN);
        cmd.arg("--config").arg(&self.config_path).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run vivier-node")
    }

    /// Create a user through the CLI and return an API token for it.
    pub fn user(&self, role: &str, email: &str, employer_name: Option<&str>) -> String {
        let mut args = vec![
            "user", "add", "--email", email, "--name", email, "--role", role,
        ];
        if let Some(n) = employer_name {
            args.push("--employer-name");
            args.push(n);
        }
        let out = self.cli(&args, &[("VIVIER_USER_PASSWORD", "motdepasse-solide")]);
        assert!(
            out.status.success(),
            "user add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = self.cli(&["token", "--email", email], &[]);
        assert!(
            out.status.success(),
            "token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Log in through the web form as `email` and post `form` to `path` as
    /// a browser does (session cookie, same origin); the answer's status.
    pub async fn ui_post(&self, email: &str, path: &str, form: &[(&str, &str)]) -> u16 {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        if let Some(p) = &self.ca_pem {
            let pem = std::fs::read(p).unwrap();
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        let client = b.build().unwrap();
        let origin = self.url("");
        let login = client
            .post(self.url("/ui/connexion"))
            .header("origin", &origin)
            .form(&[("email", email), ("password", "motdepasse-solide")])
            .send()
            .await
            .expect("login");
        let cookie = login
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .expect("session cookie")
            .to_string();
        client
            .post(self.url(path))
            .header("origin", &origin)
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .expect("post")
            .status()
            .as_u16()
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
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Upload a CV file (`POST /api/v1/candidates/{id}/cv`, multipart).
    pub async fn upload_cv(
        &self,
        token: &str,
        id: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string());
        let r = self
            .client
            .post(self.url(&format!("/api/v1/candidates/{id}/cv")))
            .bearer_auth(token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, token, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, token, path, Some(body))
            .await
    }

    pub async fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::DELETE, token, path, None)
            .await
    }

    /// The node's `/.well-known/vivier`.
    pub async fn well_known(&self) -> Value {
        self.client
            .get(self.url("/.well-known/vivier"))
            .send()
            .await
            .expect("well-known")
            .json()
            .await
            .expect("json")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn unsafe_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// Run `vivier-admin` with args; returns the output.
pub fn admin(args: &[&str]) -> std::process::Output {
    Command::new(ADMIN_BIN)
        .args(args)
        .output()
        .expect("run vivier-admin")
}

/// Run `vivier-admin`, assert success, return stdout.
pub fn admin_ok(args: &[&str]) -> String {
    let out = admin(args);
    assert!(
        out.status.success(),
        "vivier-admin {:?} failed:\n{}\n{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// PostgreSQL admin URL when reachable (as node/tests/support): under CI
/// an unreachable server fails the test instead of skipping its
/// PostgreSQL variant silently; `VIVIER_TEST_POSTGRES=off` skips on purpose.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("VIVIER_TEST_POSTGRES") {
        Ok(v) if v == "off" => None,
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let reachable = std::net::TcpStream::connect_timeout(
                &"127.0.0.1:5432".parse().unwrap(),
                Duration::from_millis(300),
            )
            .is_ok();
            if reachable {
                Some("postgres://postgres@127.0.0.1:5432/test".to_string())
            } else if std::env::var_os("CI").is_some() {
                panic!("CI: PostgreSQL is not reachable at 127.0.0.1:5432");
            } else {
                eprintln!("PostgreSQL not reachable: PostgreSQL variants skipped");
                None
            }
        }
    }
}

/// Create a fresh PostgreSQL database; returns its URL.
pub async fn fresh_postgres_db(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("vivier_e2e_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect postgres");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create db");
    conn.close().await.ok();
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Poll until `f` returns Some, or panic with `what` after `secs`.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Run `vivier-admin` with args and extra environment variables (standard
/// input closed); returns the output.
pub fn admin_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(ADMIN_BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run vivier-admin")
}

/// A small network: a CA, an operator directory and running nodes.
/// How a [`Network`] is started.
#[derive(Default)]
pub struct NetworkOptions {
    /// Appended to each node's `[federation]` section.
    pub federation_toml: String,
    /// Members whose database is PostgreSQL (this URL); SQLite otherwise.
    pub postgres: Vec<(String, String)>,
    /// List the members' keys as valid since the epoch (instead of since
    /// each node's first start): tests that build messages dated in the
    /// past need not wait for a key's validity window.
    pub backdate_keys: bool,
}

pub struct Network {
    pub root: tempfile::TempDir,
    pub ca: TestCa,
    pub admin_dir: PathBuf,
    pub nodes: Vec<NodeProcess>,
}

impl Network {
    pub async fn start(ids: &[&str]) -> Network {
        Network::start_with(ids, "").await
    }

    /// `federation_toml` is appended to each node's `[federation]` section.
    pub async fn start_with(ids: &[&str], federation_toml: &str) -> Network {
        Network::start_custom(
            ids,
            NetworkOptions {
                federation_toml: federation_toml.to_string(),
                ..Default::default()
            },
        )
        .await
    }

    /// A network started with `options`.
    pub async fn start_custom(ids: &[&str], options: NetworkOptions) -> Network {
        let federation_toml = options.federation_toml.as_str();
        let database = |id: &str| {
            options
                .postgres
                .iter()
                .find(|(n, _)| n == id)
                .map(|(_, url)| url.clone())
        };
        let root = tempfile::tempdir().unwrap();
        let ca = TestCa::new(&root.path().join("ca"));
        let admin_dir = root.path().join("operator");
        let d = admin_dir.display().to_string();
        admin_ok(&["--dir", &d, "init", "--network-id", "vivier-test"]);
        let op = vivier_protocol::KeyFile::read(admin_dir.join("operator.key")).unwrap();
        let opts = NodeOptions {
            operator_public_key: Some(op.key.public_key().to_b64()),
            extra_toml: federation_toml.to_string(),
            ..Default::default()
        };
        let mut nodes = Vec::new();
        for id in ids {
            let opts = NodeOptions {
                database_url: database(id),
                ..opts.clone()
            };
            nodes.push(NodeProcess::start(root.path(), id, Some(&ca), &opts));
        }
        let net = Network {
            root,
            ca,
            admin_dir,
            nodes,
        };
        let backdate = options.backdate_keys;
        for n in &net.nodes {
            let name = format!("Mission Emploi {}", n.node_id);
            let ca = net.ca.ca_pem.display().to_string();
            if backdate {
                // Keys valid since forever: tests that build messages dated
                // in the past need no wait for a key's validity window.
                let wk = n.well_known().await;
                let key = wk["keys"][0]["public_key"].as_str().unwrap().to_string();
                net.admin(&[
                    "member",
                    "add",
                    &n.node_id,
                    "--name",
                    &name,
                    "--kind",
                    "city_mission",
                    "--url",
                    &n.base_url,
                    "--public-key",
                    &key,
                    "--key-id",
                    "ed25519:1",
                    "--valid-from-ms",
                    "0",
                ]);
            } else {
                net.admin(&[
                    "member",
                    "add",
                    &n.node_id,
                    "--name",
                    &name,
                    "--kind",
                    "city_mission",
                    "--url",
                    &n.base_url,
                    "--from-node",
                    &n.base_url,
                    "--ca-cert",
                    &ca,
                ]);
            }
        }
        net.publish().await;
        net
    }

    pub fn admin(&self, args: &[&str]) -> String {
        let mut full = vec!["--dir", self.admin_dir.to_str().unwrap()];
        full.extend_from_slice(args);
        admin_ok(&full)
    }

    pub async fn publish(&self) {
        self.admin(&[
            "publish",
            "--ca-cert",
            &self.ca.ca_pem.display().to_string(),
        ]);
        let doc: Value =
            serde_json::from_slice(&std::fs::read(self.admin_dir.join("network.json")).unwrap())
                .unwrap();
        let serial = doc["document"]["serial"].as_i64().unwrap();
        for n in &self.nodes {
            wait_for(60, "membership serial", || async {
                (n.well_known().await["membership_serial"].as_i64() == Some(serial)).then_some(())
            })
            .await;
        }
    }

    pub fn node(&self, id: &str) -> &NodeProcess {
        self.nodes.iter().find(|n| n.node_id == id).unwrap()
    }

    pub fn node_mut(&mut self, id: &str) -> &mut NodeProcess {
        self.nodes.iter_mut().find(|n| n.node_id == id).unwrap()
    }
}
