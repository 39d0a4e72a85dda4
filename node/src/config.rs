//! The node's configuration: one typed struct, layered as
//! defaults → TOML file → `VIVIER_*` environment variables (`__` nests,
//! e.g. `VIVIER_FEDERATION__MAX_CLOCK_SKEW_SECS=120`).
//!
//! Every field is documented in `config/node.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Top-level keys accepted from `VIVIER_*` variables; other `VIVIER_*`
/// variables (e.g. `VIVIER_CONFIG`, `VIVIER_USER_PASSWORD`) are not config.
const ENV_KEYS: &[&str] = &[
    "node_id",
    "display_name",
    "data_dir",
    "listen",
    "public_url",
    "database_url",
    "sqlite_synchronous",
    "key_file",
    "tls",
    "federation",
    "search",
    "matching",
    "retention",
    "referrals",
    "uploads",
    "http",
    "lease",
    "auth",
    "mail",
    "demo",
    "network_search",
    "log_format",
];

/// The whole node configuration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This node's id in the network (e.g. `cd41`, `petr-montlucon`).
    pub node_id: String,
    /// Human name shown in the UI and in `/.well-known/vivier`.
    pub display_name: String,
    /// Where the database (SQLite default), the tantivy index, CV files and
    /// the node key live.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Base URL other nodes use to reach this one (defaults to
    /// `http(s)://<listen>`).
    pub public_url: Option<String>,
    /// `sqlite://…` or `postgres://…`; default: `sqlite://<data_dir>/vivier.db`.
    pub database_url: Option<String>,
    /// SQLite `synchronous` pragma: `full` (default; survives power loss) or
    /// `normal` (survives a process kill).
    pub sqlite_synchronous: String,
    /// The node's secret key file (created 0600 on first start);
    /// default `<data_dir>/node.key`.
    pub key_file: Option<PathBuf>,
    /// TLS termination with rustls; plain HTTP is refused on non-loopback
    /// addresses when this is absent.
    pub tls: Option<TlsConfig>,
    /// Federation settings.
    pub federation: FederationConfig,
    /// Search index settings.
    pub search: SearchConfig,
    /// Matching weights.
    pub matching: MatchingWeights,
    /// RGPD retention.
    pub retention: RetentionConfig,
    /// Referral flow.
    pub referrals: ReferralConfig,
    /// Upload limits.
    pub uploads: UploadConfig,
    /// Connection and request limits of the HTTP server.
    pub http: HttpConfig,
    /// Leadership among processes sharing one PostgreSQL database.
    pub lease: LeaseConfig,
    /// Account abuse limits: login throttling, passwords, API tokens.
    pub auth: crate::auth::settings::AuthConfig,
    /// Outgoing e-mail (off by default).
    pub mail: crate::mail::MailConfig,
    /// Demo mode (`vivier-node demo`): banner, guided tour, loopback peers
    /// only.
    pub demo: crate::demo::mode::DemoConfig,
    /// Reports: the hiring-aid rule and the small-count threshold.
    pub reports: crate::reports::ReportsConfig,
    /// Hiring-aid schemes the node follows (`[[aids]]`): each placement is
    /// assessed against each (see `crate::aids`). None by default.
    pub aids: Vec<crate::aids::AidScheme>,
    /// Time-boxed programmes the node runs (`[[programmes]]`, see
    /// `crate::programmes`). None by default.
    pub programmes: Vec<crate::programmes::Programme>,
    /// Network search: deadline, quotas, specificity, answers (see
    /// `crate::netsearch`).
    pub network_search: crate::netsearch::NetworkSearchConfig,
    /// The candidate space (`/moi/`): link lifetimes, erasure delay.
    pub candidate_space: crate::space::CandidateSpaceConfig,
    /// `text` or `json`.
    pub log_format: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The database URL may carry a password: never print it.
        f.debug_struct("Config")
            .field("node_id", &self.node_id)
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Certificate and key (PEM) for rustls.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_path: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
}

/// One trusted operator key, as configured before any membership document.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorKeyConfig {
    /// e.g. `ed25519:1`.
    pub key_id: String,
    /// Unpadded base64url of the 32-byte ed25519 public key.
    pub public_key: String,
}

/// Federation settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Operator keys this node trusts for membership documents.
    pub operator_keys: Vec<OperatorKeyConfig>,
    /// How many operator signatures a document needs.
    pub operator_threshold: u32,
    /// A membership document to load at start if none is stored yet.
    pub membership_file: Option<PathBuf>,
    /// Accepted clock difference for message and request timestamps.
    pub max_clock_skew_secs: i64,
    /// Lifetime of emitted messages.
    pub message_ttl_days: i64,
    /// Days after which the candidate profiles a *suspended* member referred
    /// to this node's offers are purged, if it is still suspended (a revoked
    /// member's are purged at once).
    pub suspended_member_purge_days: i64,
    /// Allow plain `http://` peers on loopback addresses (dev and tests).
    pub allow_loopback_http: bool,
    /// Bearer secret with which Prometheus scrapes `GET /metrics` (at least
    /// 32 characters), separate from user tokens; unset: admin users only.
    pub metrics_token: Option<String>,
    /// Extra root CA (PEM) trusted for peers' HTTPS (tests, private PKI).
    pub ca_cert: Option<PathBuf>,
    /// Messages per `PUT /federation/v1/txn/{id}`.
    pub batch_size: i64,
    /// First retry delay after a transient failure.
    pub backoff_initial_secs: i64,
    /// Longest retry delay.
    pub backoff_max_secs: i64,
    /// Deliveries in flight at once, all destinations together.
    pub max_concurrent_deliveries: usize,
    /// How often the worker looks for work when idle (ms).
    pub poll_interval_ms: u64,
    /// How often a node asks peers' logs for missed broadcasts.
    pub catch_up_interval_secs: u64,
    /// Inbound federation requests per second per peer, charged once the
    /// request's signature verified (burst: twice this).
    pub inbox_rate_per_sec: u32,
    /// Store received batches with multi-row statements, signatures
    /// verified together, concurrent batches sharing one transaction
    /// (group commit). `false`: each message on its own statements (the
    /// previous path, kept to measure the difference in `vivier-bench inbox`).
    pub inbox_bulk: bool,
    /// Journal entries not yet in the search indexes beyond which the inbox
    /// refuses new batches (503 `index_behind`, the senders retry later)
    /// until the indexes have caught up below it; 0 = no bound. Received
    /// offers are accepted before they are indexed: this bounds how far
    /// behind a flood of them can put the offer index, whose threads only
    /// get the cores that requests leave. (A large local import, or an
    /// index that keeps failing, also holds the inbox back until the
    /// indexes catch up: the watch logs a warning when the bound is
    /// crossed.)
    pub inbox_max_index_backlog: u64,
    /// Node-to-node requests per second per client address, charged before
    /// anything is verified (burst: twice this).
    pub address_rate_per_sec: u32,
    /// Membership documents pushed per second per client address.
    pub membership_push_rate_per_sec: u32,
    /// HTTP timeout for one delivery.
    pub request_timeout_secs: u64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig {
            operator_keys: Vec::new(),
            operator_threshold: 1,
            membership_file: None,
            max_clock_skew_secs: 300,
            message_ttl_days: 30,
            suspended_member_purge_days: 30,
            metrics_token: None,
            allow_loopback_http: true,
            ca_cert: None,
            batch_size: 50,
            backoff_initial_secs: 30,
            backoff_max_secs: 3600,
            max_concurrent_deliveries: 8,
            poll_interval_ms: 500,
            catch_up_interval_secs: 60,
            inbox_rate_per_sec: 200,
            inbox_bulk: true,
            inbox_max_index_backlog: 100_000,
            address_rate_per_sec: 1000,
            membership_push_rate_per_sec: 5,
            request_timeout_secs: 30,
        }
    }
}

/// Search index settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Rebuild the index at start even when it looks current.
    pub rebuild_on_start: bool,
    /// Memory budget of each index writer (MB; tantivy needs ≥ 15 per
    /// indexing thread). Two writers: candidates and offers.
    pub writer_heap_mb: usize,
    /// Indexing threads per writer (0 = one per core within the budget).
    pub writer_threads: usize,
    /// Delay between background commits (ms): how soon a write becomes
    /// searchable; writes never wait for it.
    pub commit_interval_ms: u64,
    /// How often the index follower looks for journal entries written by
    /// other processes (ms); local writes wake it at once.
    pub follow_interval_ms: u64,
    /// Scheduling niceness of the indexing threads (0–19; 0 = the same
    /// priority as requests). Indexing follows the journal asynchronously;
    /// above 0 it uses the CPU that requests leave, so a burst is accepted
    /// first and indexed as soon as the CPU is free.
    pub index_nice: i32,
    /// Linux: also run the offer index's indexing (its writer's indexing
    /// and commit threads, the follower's offer documents; merges stay at
    /// `index_nice`) under `SCHED_IDLE`, the smallest scheduler weight: it
    /// gets next to nothing of a core that requests want, and a request's
    /// thread that wakes takes the core back at once. Offers are what peers
    /// send in bursts; the candidate index (our own people's records and
    /// their erasures) stays at `index_nice` and follows the journal on a
    /// loop of its own. While the indexes are too far behind, the inbox
    /// refuses new batches (`[federation] inbox_max_index_backlog`), which
    /// stops a flood of received offers from adding to the lag. The offer
    /// index's follower also waits, before reading its next batch of the
    /// journal and of offers (reads that run at the requests' priority),
    /// while the inbox holds batches it has not answered: at most a second
    /// per batch, and not once the backlog is half that bound.
    pub index_idle: bool,
    /// How long the writer of the searches' audit entries waits for more
    /// entries before committing a batch (ms; 0 = commit as soon as one is
    /// queued). One disk flush then covers every search answered in that
    /// window; a crash can lose the entries of that window (reading the
    /// audit log and stopping the node commit them at once).
    pub audit_linger_ms: u64,
    /// Threads one matching pass or one search may use (0 = one per core,
    /// at most 4; 1 = never split). A pass visiting many documents splits
    /// them by document range. A search expected to match 8,192 documents
    /// or more (a common job title) is cut into about three parts per
    /// thread (segments, a large segment by document range); the request's
    /// own thread and `pass_threads - 1` helper threads per index take the
    /// parts in turn, so a helper busy with another search joins this one
    /// as soon as it is free. Each part is scored into its own heaps and
    /// counts, merged after: the same result, a shorter wait when cores are
    /// free.
    pub pass_threads: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            rebuild_on_start: false,
            writer_heap_mb: 50,
            writer_threads: 0,
            commit_interval_ms: 200,
            follow_interval_ms: 250,
            index_nice: 10,
            index_idle: true,
            audit_linger_ms: 10,
            pass_threads: 0,
        }
    }
}

impl SearchConfig {
    /// The search module's options.
    pub fn options(&self) -> crate::search::SearchOptions {
        crate::search::SearchOptions {
            writer_heap_bytes: self.writer_heap_mb.max(15) * 1_000_000,
            writer_threads: (self.writer_threads > 0).then_some(self.writer_threads),
            commit_interval: std::time::Duration::from_millis(self.commit_interval_ms.max(10)),
            index_nice: self.index_nice,
            index_idle: self.index_idle,
            pass_threads: crate::search::pass_threads(self.pass_threads),
            ..crate::search::SearchOptions::default()
        }
    }
}

/// Weights of the matching score (points; the score is their weighted sum,
/// each part being a fraction in 0..=1).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchingWeights {
    /// ROME relation: same code = 1, same parent = 0.75, same domain = 0.4.
    pub rome: f64,
    /// Text relevance: `1 − exp(−S / text_saturation)`, `S` the idf-weighted
    /// offer terms found in the candidate's titles, skills and CV.
    pub text: f64,
    /// Distance: 1 at the door, 0 at the candidate's own travel limit.
    pub distance: f64,
    /// Availability: 1 if available by the offer's start (or publication).
    pub availability: f64,
    /// Weekly hours wanted vs offered.
    pub hours: f64,
    /// Contract type accepted by the candidate.
    pub contract: f64,
    /// Vehicle when the offer needs a licence or is far from home.
    pub vehicle: f64,
    /// Desired (not required) certifications of the offer held: the share
    /// held, 1 when the offer desires none.
    pub certifications: f64,
    /// Travel limit used when a candidate has none recorded (km).
    pub default_max_travel_km: f64,
    /// Travel limit for candidates on public transport only (km), if lower.
    pub public_transport_max_km: f64,
    /// Weight of matched offer terms at which the text part reaches
    /// 1 − 1/e ≈ 0.63 (a title word weighs 2 × idf, a description word idf).
    pub text_saturation: f64,
    /// Without a ROME relation, a candidate is listed only with at least
    /// this many of the offer's meaningful words in their text.
    pub min_matched_terms: usize,
    /// Days after the offer's start by which a candidate may still become
    /// available; later is a failed constraint (`not_available_by_start`).
    pub availability_grace_days: i64,
}

impl Default for MatchingWeights {
    fn default() -> Self {
        MatchingWeights {
            rome: 30.0,
            text: 20.0,
            distance: 25.0,
            availability: 5.0,
            hours: 5.0,
            contract: 5.0,
            vehicle: 5.0,
            certifications: 5.0,
            default_max_travel_km: 30.0,
            public_transport_max_km: 20.0,
            text_saturation: 10.0,
            min_matched_terms: 2,
            availability_grace_days: 14,
        }
    }
}

/// RGPD retention of candidate records.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Months without activity before a record is anonymised (CNIL: 24).
    pub inactive_months: i64,
    /// Days before that date when the counsellor is reminded.
    pub reminder_days: i64,
    /// How often the retention sweep runs (seconds).
    pub sweep_interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            inactive_months: 24,
            reminder_days: 30,
            sweep_interval_secs: 3600,
        }
    }
}

/// Referral flow settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferralConfig {
    /// Days without an answer before a referral is refused with `no_answer`.
    pub no_answer_days: i64,
}

impl Default for ReferralConfig {
    fn default() -> Self {
        ReferralConfig { no_answer_days: 60 }
    }
}

/// Upload limits, and the sandbox that reads CV files
/// ([`crate::extract::Extractor`]: a child process under OS limits).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// Largest CV file accepted, in bytes (10 MiB).
    pub max_cv_bytes: usize,
    /// Where uploaded CV files are kept; default `<data_dir>/files`. Several
    /// processes serving one member (scale-out on one PostgreSQL database)
    /// must all point at one shared directory.
    pub files_dir: Option<PathBuf>,
    /// The executable run as `<extractor_path> extract …` to read a CV
    /// file; default: the running executable (the node binary).
    pub extractor_path: Option<PathBuf>,
    /// Wall-clock time one extraction may take before it is killed (s).
    pub extract_timeout_secs: u64,
    /// CPU time one extraction may use (`RLIMIT_CPU`, s).
    pub extract_cpu_secs: u64,
    /// Address space of the extractor process (`RLIMIT_AS`, MiB).
    pub extract_memory_mb: u64,
    /// Extractions running at once; others wait up to the timeout, then get
    /// 503 `extraction_busy`.
    pub extract_max_concurrent: usize,
    /// Total size a file may inflate to (DOCX/ODT XML, all PDF streams), MiB.
    pub extract_max_decompressed_mb: u64,
    /// PDF page content parsed into operators, all pages together, MiB.
    pub extract_max_pdf_content_mb: u64,
    /// Largest text extracted from one file (bytes, before tidying).
    pub extract_max_text_bytes: usize,
    /// Read scanned PDFs (no text, only page pictures) with Tesseract when
    /// it is installed (Debian: `tesseract-ocr` + `tesseract-ocr-fra`).
    /// Tesseract runs inside the extraction sandbox. Start-up logs whether
    /// OCR is on and, if not, why.
    pub ocr: bool,
    /// The Tesseract executable; default: `tesseract` looked up in `PATH`.
    pub ocr_program: Option<PathBuf>,
    /// Tesseract language(s) (`fra`, `fra+eng`…); each must be installed.
    pub ocr_language: String,
    /// Pages of a scanned PDF read by OCR at most (the first ones).
    pub ocr_max_pages: usize,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            max_cv_bytes: 10 * 1024 * 1024,
            files_dir: None,
            extractor_path: None,
            extract_timeout_secs: 20,
            extract_cpu_secs: 10,
            extract_memory_mb: 512,
            extract_max_concurrent: 2,
            extract_max_decompressed_mb: 64,
            extract_max_pdf_content_mb: 2,
            extract_max_text_bytes: 1024 * 1024,
            ocr: true,
            ocr_program: None,
            ocr_language: "fra".into(),
            ocr_max_pages: 5,
        }
    }
}

/// Connection and request limits of the HTTP server (see
/// `crate::http::serve` and `crate::http::limits`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Open connections the node accepts in all; past it, new connections
    /// are closed at once.
    pub max_connections: usize,
    /// Open connections accepted from one client address.
    pub max_connections_per_address: usize,
    /// Requests handled at once; past it, 503 `overloaded` with
    /// `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Deadline of one request, reading its body included (408 past it).
    pub request_timeout_secs: u64,
    /// Time a client has to send a request's headers (also closes idle
    /// keep-alive connections).
    pub header_read_timeout_secs: u64,
    /// Time a client has to complete the TLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// Concurrent HTTP/2 streams per connection.
    pub max_streams_per_connection: u32,
}

/// Leadership among node processes sharing one PostgreSQL database (see
/// `crate::lease`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaseConfig {
    /// How often a process that does not lead tries to take the lease (s).
    pub retry_secs: u64,
    /// How often the leader checks the connection that holds the lease (s).
    pub check_secs: u64,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            retry_secs: 2,
            check_secs: 2,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_connections: 2048,
            max_connections_per_address: 256,
            max_concurrent_requests: 512,
            request_timeout_secs: 60,
            header_read_timeout_secs: 10,
            tls_handshake_timeout_secs: 10,
            max_streams_per_connection: 64,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: "local".into(),
            display_name: "Vivier (nœud local)".into(),
            data_dir: PathBuf::from("./vivier-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: None,
            sqlite_synchronous: "full".into(),
            key_file: None,
            tls: None,
            federation: FederationConfig::default(),
            search: SearchConfig::default(),
            matching: MatchingWeights::default(),
            retention: RetentionConfig::default(),
            referrals: ReferralConfig::default(),
            uploads: UploadConfig::default(),
            http: HttpConfig::default(),
            lease: LeaseConfig::default(),
            auth: Default::default(),
            mail: Default::default(),
            demo: Default::default(),
            reports: Default::default(),
            aids: Vec::new(),
            programmes: Vec::new(),
            network_search: Default::default(),
            candidate_space: Default::default(),
            log_format: "text".into(),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Parse or type error, with figment's explanation (file, key, expected).
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Load defaults, then `file` if given (it must exist), then `VIVIER_*`.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(
            Env::prefixed("VIVIER_")
                .filter(|k| {
                    let first = k.as_str().split("__").next().unwrap_or("");
                    ENV_KEYS.contains(&first.to_ascii_lowercase().as_str())
                })
                .split("__"),
        );
        let cfg: Config = fig
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks that do not fit serde's types.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0..=19).contains(&self.search.index_nice) {
            return Err(ConfigError::Invalid(format!(
                "search.index_nice: must be 0 to 19, got {}",
                self.search.index_nice
            )));
        }
        if self.search.pass_threads > 64 {
            return Err(ConfigError::Invalid(format!(
                "search.pass_threads: must be 0 to 64, got {}",
                self.search.pass_threads
            )));
        }
        vivier_protocol::NodeId::parse(&self.node_id)
            .map_err(|e| ConfigError::Invalid(format!("node_id: {e}")))?;
        if let Some(t) = &self.federation.metrics_token {
            if t.chars().count() < 32 {
                return Err(ConfigError::Invalid(
                    "federation.metrics_token: at least 32 characters".into(),
                ));
            }
        }
        match self.sqlite_synchronous.as_str() {
            "full" | "normal" | "extra" => {}
            other => {
                return Err(ConfigError::Invalid(format!(
                    "sqlite_synchronous: expected full, normal or extra, got {other:?}"
                )))
            }
        }
        if self.tls.is_none() && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "listen: {} is not a loopback address; configure [tls] cert_path and key_path \
                 (plain HTTP is accepted only on loopback)",
                self.listen
            )));
        }
        if let Some(url) = &self.public_url {
            url::Url::parse(url).map_err(|e| ConfigError::Invalid(format!("public_url: {e}")))?;
        }
        self.auth.validate().map_err(ConfigError::Invalid)?;
        crate::aids::validate(&self.aids).map_err(ConfigError::Invalid)?;
        crate::programmes::validate(&self.programmes).map_err(ConfigError::Invalid)?;
        self.mail.validate().map_err(ConfigError::Invalid)?;
        crate::demo::mode::validate(self).map_err(ConfigError::Invalid)?;
        let u = &self.uploads;
        if u.extract_timeout_secs == 0
            || u.extract_cpu_secs == 0
            || u.extract_max_concurrent == 0
            || u.extract_max_decompressed_mb == 0
            || u.extract_max_pdf_content_mb == 0
            || u.extract_max_text_bytes == 0
        {
            return Err(ConfigError::Invalid(
                "uploads: extract_* limits must be positive".into(),
            ));
        }
        if u.extract_memory_mb < 64 {
            return Err(ConfigError::Invalid(
                "uploads.extract_memory_mb: at least 64 (the extractor binary itself needs address space)"
                    .into(),
            ));
        }
        if self.federation.batch_size < 1 || self.federation.batch_size > 50 {
            return Err(ConfigError::Invalid(
                "federation.batch_size: must be between 1 and 50".into(),
            ));
        }
        Ok(())
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("vivier.db").display()
            ),
        }
    }

    /// The node key file path.
    pub fn key_file(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("node.key"))
    }

    /// Base URL as seen by others.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}", self.listen)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        c.validate().expect("defaults valid");
        assert!(c.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn toml_unknown_field_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("n.toml");
        std::fs::write(&p, "node_id = \"cd41\"\nnot_a_field = 1\n").expect("write");
        let err = Config::load(Some(&p)).expect_err("must fail");
        assert!(err.to_string().contains("not_a_field"), "{err}");
    }

    #[test]
    fn toml_and_nested_values_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("n.toml");
        std::fs::write(
            &p,
            "node_id = \"cd41\"\n[federation]\nmax_clock_skew_secs = 42\n[matching]\ntext = 3.5\n",
        )
        .expect("write");
        let c = Config::load(Some(&p)).expect("load");
        assert_eq!(c.node_id, "cd41");
        assert_eq!(c.federation.max_clock_skew_secs, 42);
        assert_eq!(c.matching.text, 3.5);
        assert_eq!(c.federation.batch_size, 50);
    }

    #[test]
    fn bad_node_id_and_public_listen_refused() {
        let c = Config {
            node_id: "Not Valid".into(),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            listen: "0.0.0.0:8080".parse().expect("addr"),
            ..Config::default()
        };
        assert!(c
            .validate()
            .expect_err("refused")
            .to_string()
            .contains("loopback"));
    }

    #[test]
    fn aid_schemes_load_from_a_file_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("node.toml");
        let scheme = |code: &str| {
            format!(
                "[[aids]]\ncode = \"{code}\"\nname = \"CIED\"\nfunder = \"Allier\"\n\
                 outcomes = [\"cdi\", \"cdd_6_months_or_more\"]\nmin_months = 12\n\
                 min_weekly_hours = 26\npublic = [\"rsa\"]\ndepartements = [\"03\"]\namount_eur = 4000\n"
            )
        };
        std::fs::write(&path, scheme("cied-03")).expect("write");
        let c = Config::load(Some(&path)).expect("loads");
        assert_eq!(c.aids.len(), 1);
        assert_eq!(c.aids[0].min_weekly_hours, Some(26));
        std::fs::write(&path, format!("{}{}", scheme("cied-03"), scheme("cied-03")))
            .expect("write");
        let err = Config::load(Some(&path)).expect_err("twice").to_string();
        assert!(err.contains("used twice"), "{err}");
        std::fs::write(&path, scheme("cied-03").replace("rsa", "retraités")).expect("write");
        assert!(Config::load(Some(&path)).is_err(), "unknown public");
    }

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/node.example.toml");
        let text = std::fs::read_to_string(&path).expect("example config");
        let parsed: Config = toml::from_str(&text).expect("example parses");
        // The example shows the defaults, every one of them.
        assert_eq!(
            serde_json::to_value(&parsed).expect("json"),
            serde_json::to_value(Config::default()).expect("json"),
            "config/node.example.toml differs from Config::default()"
        );
        let example: toml::Value = toml::from_str(&text).expect("toml");
        let defaults = serde_json::to_value(Config::default()).expect("json");
        let mut missing = Vec::new();
        documented(&defaults, &example, "", &mut missing);
        assert!(
            missing.is_empty(),
            "fields not documented in config/node.example.toml: {missing:?}"
        );
    }

    /// Every key of `defaults` (JSON) appears in `example` (TOML), except
    /// optional values that are unset by default (commented out there).
    fn documented(
        defaults: &serde_json::Value,
        example: &toml::Value,
        prefix: &str,
        missing: &mut Vec<String>,
    ) {
        let Some(map) = defaults.as_object() else {
            return;
        };
        for (k, v) in map {
            let path = format!("{prefix}{k}");
            if v.is_null() {
                // Optional and unset: documented as a comment.
                let commented = std::fs::read_to_string(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../config/node.example.toml"),
                )
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with(&format!("# {k} =")) || l == format!("# [{k}]"));
                if !commented && example.get(k).is_none() {
                    missing.push(path);
                }
                continue;
            }
            match example.get(k) {
                None => missing.push(path),
                Some(sub) => documented(v, sub, &format!("{path}."), missing),
            }
        }
    }

    #[test]
    fn redacts_password() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}
