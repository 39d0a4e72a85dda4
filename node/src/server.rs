//! Start-up, application state and the axum router.
//!
//! The server takes an already-bound listener and a shutdown future, so tests
//! bind port 0 and stop cleanly (`run`). Everything long-lived (database
//! pool, search indexes, node identity, federation workers) hangs off
//! [`AppState`].

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Request;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::watch;
use tower_http::trace::TraceLayer;
use vivier_protocol::{KeyFile, KeyId, NodeId, SigningKeyPair, WellKnown, PROTOCOL_VERSION};

use crate::config::Config;
use crate::db::Db;
use crate::referentials::Referentials;
use crate::search::SearchIndexes;

/// The node's own identity: id and signing key.
pub struct Identity {
    /// This node's id.
    pub node_id: NodeId,
    /// Its keys (`crate::keys`): reloaded when `keyring.json` changes.
    ring: std::sync::RwLock<Arc<crate::keys::KeyRing>>,
    /// When the first key was created (unix ms), its validity start.
    pub key_created_at: i64,
}

impl Identity {
    /// An identity with its key ring.
    pub fn new(node_id: NodeId, ring: crate::keys::KeyRing, key_created_at: i64) -> Identity {
        Identity {
            node_id,
            ring: std::sync::RwLock::new(Arc::new(ring)),
            key_created_at,
        }
    }

    /// The key ring.
    pub fn ring(&self) -> Arc<crate::keys::KeyRing> {
        match self.ring.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The key to sign with at `now_ms`.
    pub fn key_at(&self, now_ms: i64) -> SigningKeyPair {
        self.ring().signing_key(now_ms).clone()
    }

    /// Re-read the key ring (after `vivier-node key rotate`).
    pub fn reload(&self, config: &Config) -> anyhow::Result<()> {
        let ring = crate::keys::load(config, &self.node_id, self.key_created_at)?;
        let ids: Vec<String> = ring
            .keys()
            .iter()
            .map(|k| k.key.key_id().to_string())
            .collect();
        match self.ring.write() {
            Ok(mut g) => *g = Arc::new(ring),
            Err(p) => *p.into_inner() = Arc::new(ring),
        }
        tracing::info!(keys = ?ids, "node key ring reloaded");
        Ok(())
    }
}

impl AppInner {
    /// The key this node signs with now.
    pub fn signing_key(&self) -> SigningKeyPair {
        self.identity.key_at(self.clock.now_ms())
    }
}

/// Everything the handlers and workers share.
pub struct AppInner {
    /// Configuration as loaded.
    pub config: Config,
    /// The store.
    pub db: Db,
    /// The tantivy indexes (derived from the store).
    pub search: Arc<SearchIndexes>,
    /// Communes and ROME codes.
    pub refs: &'static Referentials,
    /// Node id and key.
    pub identity: Identity,
    /// Federation state (membership, delivery wake-ups, HTTP client).
    pub federation: crate::federation::Federation,
    /// Where CV files are kept.
    pub files_dir: PathBuf,
    /// Reads uploaded CV files in sandboxed child processes.
    pub extractor: crate::extract::Extractor,
    /// Tells background tasks to stop.
    pub shutdown: watch::Receiver<bool>,
    /// The index follower's wake-up and applied position.
    pub follower: crate::journal::Follower,
    /// Whether this process holds the lease for once-only work (delivery,
    /// catch-up, sweeps).
    pub leader: crate::lease::Leadership,
    /// Time, for rules that depend on it (fake in tests).
    pub clock: crate::clock::SharedClock,
    /// Login throttling (per address, per account).
    pub login: crate::auth::throttle::LoginThrottle,
    /// Outgoing e-mail: the durable outbox and its SMTP transport.
    pub mail: crate::mail::Mailer,
    /// Group-commit writer of the searches' audit entries.
    pub read_audit: crate::audit::ReadAudit,
}

/// Cheap-to-clone handle on [`AppInner`].
#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// Load the node key, creating it (0600) on first start.
pub fn load_or_create_key(
    config: &Config,
    node_id: &NodeId,
) -> anyhow::Result<(SigningKeyPair, bool)> {
    let path = config.key_file();
    if path.exists() {
        let kf =
            KeyFile::read(&path).with_context(|| format!("reading node key {}", path.display()))?;
        if let Some(id) = &kf.node_id {
            if id != node_id {
                anyhow::bail!(
                    "node key {} belongs to node {id}, but this node is configured as {node_id}",
                    path.display()
                );
            }
        }
        Ok((kf.key, false))
    } else {
        let key_id = KeyId::parse("ed25519:1").context("key id")?;
        let key = SigningKeyPair::generate(key_id);
        let kf = KeyFile {
            node_id: Some(node_id.clone()),
            key,
        };
        kf.write(&path)
            .with_context(|| format!("writing node key {}", path.display()))?;
        let kf = KeyFile::read(&path).context("re-reading the new node key")?;
        Ok((kf.key, true))
    }
}

/// Open everything a node needs and spawn its background tasks.
pub async fn open(config: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<AppState> {
    open_with_clock(config, shutdown, crate::clock::SystemClock::shared()).await
}

/// [`open`], reading time from `clock` (tests pass a manual clock).
pub async fn open_with_clock(
    config: Config,
    shutdown: watch::Receiver<bool>,
    clock: crate::clock::SharedClock,
) -> anyhow::Result<AppState> {
    let state = open_offline_with_clock(config, shutdown, clock).await?;
    crate::journal::spawn_follower(&state);
    spawn_checkpointer(&state);
    crate::lease::spawn(&state);
    crate::federation::start(&state).await?;
    crate::candidates::spawn_retention_sweep(&state);
    crate::netsearch::interest::spawn_retries(&state);
    crate::mail::spawn_worker(&state);
    Ok(state)
}

/// On SQLite, checkpoint the WAL in the background every
/// [`crate::db::CHECKPOINT_EVERY`] (see `db.rs`); nothing on PostgreSQL.
fn spawn_checkpointer(state: &AppState) {
    if state.db.backend != crate::db::Backend::Sqlite {
        return;
    }
    let st = state.clone();
    tokio::spawn(async move {
        let mut shutdown = st.shutdown.clone();
        let mut tick = tokio::time::interval(crate::db::CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = st.db.checkpoint().await {
                tracing::warn!(error = %e, "background WAL checkpoint failed; commits checkpoint past the bound");
            }
        }
    });
}

/// Open the store, indexes and identity without starting any background
/// task (for CLI commands such as `import` and `reindex`).
pub async fn open_offline(
    config: Config,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<AppState> {
    open_offline_with_clock(config, shutdown, crate::clock::SystemClock::shared()).await
}

/// [`open_offline`], reading time from `clock`.
pub async fn open_offline_with_clock(
    config: Config,
    shutdown: watch::Receiver<bool>,
    clock: crate::clock::SharedClock,
) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let node_id = NodeId::parse(&config.node_id).context("node_id")?;
    let (_, created) = load_or_create_key(&config, &node_id)?;
    let db = Db::connect(&config.database_url(), &config.sqlite_synchronous)
        .await
        .context("opening the database")?;
    let key_created_at = match db.meta("key_created_at").await? {
        Some(v) if !created => v.parse().unwrap_or(0),
        _ => {
            let now = crate::util::now_ms();
            db.set_meta("key_created_at", &now.to_string()).await?;
            now
        }
    };
    let ring = crate::keys::load(&config, &node_id, key_created_at)?;
    {
        let key = ring.signing_key(clock.now_ms());
        tracing::info!(node_id = %node_id, key_id = %key.key_id(), public_key = %key.public_key().to_b64(), "node identity");
    }

    let refs = Referentials::global();
    let index_dir = config.data_dir.join("index");
    let options = config.search.options();
    let (search, cand_rebuild, offer_rebuild) =
        tokio::task::spawn_blocking(move || SearchIndexes::open_with(&index_dir, options))
            .await??;
    let search = Arc::new(search);
    let files_dir = config
        .uploads
        .files_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("files"));
    std::fs::create_dir_all(&files_dir).context("creating files directory")?;

    let federation = crate::federation::Federation::new(&config)?;
    let login = crate::auth::throttle::LoginThrottle::new(&config, clock.clone());
    let mail = crate::mail::Mailer::new(&config, clock.clone()).context("mail settings")?;
    let extractor = crate::extract::Extractor::from_config(&config.uploads)
        .context("locating the CV text extractor")?;
    let read_audit = crate::audit::ReadAudit::spawn(
        db.clone(),
        std::time::Duration::from_millis(config.search.audit_linger_ms),
    );
    let state = AppState(Arc::new(AppInner {
        clock,
        login,
        mail,
        identity: Identity::new(node_id, ring, key_created_at),
        federation,
        config,
        read_audit,
        db,
        search,
        refs,
        files_dir,
        extractor,
        shutdown,
        follower: crate::journal::Follower::default(),
        leader: crate::lease::Leadership::new(),
    }));
    let rebuild_all = state.config.search.rebuild_on_start;
    if cand_rebuild || rebuild_all {
        let n = crate::candidates::reindex(&state, None).await?;
        tracing::info!(documents = n, "candidate index rebuilt from the database");
    }
    if offer_rebuild || rebuild_all {
        let n = crate::offers::reindex(&state, None).await?;
        tracing::info!(documents = n, "offer index rebuilt from the database");
    }
    // Bring the indexes up to the database: whatever was committed after
    // their last index commit (a crash, a CLI import, another process).
    let applied = crate::journal::catch_up(&state).await?;
    if applied > 0 {
        tracing::info!(
            entries = applied,
            "search indexes caught up with the journal"
        );
    }
    Ok(state)
}

async fn well_known(State(state): State<AppState>) -> Json<WellKnown> {
    Json(WellKnown {
        node_id: state.identity.node_id.to_string(),
        display_name: state.config.display_name.clone(),
        base_url: state.config.public_url(),
        protocol_versions: vec![PROTOCOL_VERSION],
        keys: state.identity.ring().published(state.clock.now_ms()),
        membership_serial: state.federation.membership_serial(),
        software: format!("vivier-node {}", env!("CARGO_PKG_VERSION")),
    })
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
}

async fn health(State(state): State<AppState>) -> (axum::http::StatusCode, Json<Health>) {
    let ok = state.db.ping().await;
    let code = if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Health {
            status: if ok { "ok" } else { "degraded" },
            database: if ok { "ok" } else { "unreachable" },
        }),
    )
}

/// The whole HTTP application: every adapter's routes behind the request
/// limits of [`crate::http::limits`] (per-route body ceilings, bounded
/// concurrency, a deadline per request).
pub fn router(state: AppState) -> Router {
    let limits = crate::http::limits::RequestLimits::new(&state.config);
    Router::new()
        .route("/health", get(health))
        .route("/.well-known/vivier", get(well_known))
        .merge(crate::auth::routes())
        .merge(crate::audit::routes())
        .merge(crate::maintenance::routes())
        .merge(crate::candidates::routes())
        .merge(crate::space::routes())
        .merge(crate::referentials_api::routes())
        .merge(crate::offers::routes())
        .merge(crate::matching::routes())
        .merge(crate::stats::routes())
        .merge(crate::reports::routes())
        .merge(crate::aids::http::routes())
        .merge(crate::programmes::http::routes())
        .merge(crate::opportunities::http::routes())
        .merge(crate::netsearch::http::routes())
        .merge(crate::referrals::routes())
        .merge(crate::notifications::routes())
        .merge(crate::openapi::routes())
        .merge(crate::federation::routes(&state))
        .merge(
            crate::ui::routes()
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    crate::ui::membership_scope,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    crate::demo::mode::scope,
                )),
        )
        // A known path with another method: a problem document, not an
        // empty body.
        .method_not_allowed_fallback(|| async { crate::error::Error::MethodNotAllowed })
        .route_layer(axum::middleware::from_fn_with_state(
            limits.clone(),
            crate::http::limits::limit_body,
        ))
        // The per-route ceiling above replaces axum's default of 2 MB.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            limits,
            crate::http::limits::guard,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                tracing::info_span!(
                    "request",
                    method = %req.method(),
                    path = %req.uri().path(),
                    request_id = %crate::util::new_id(),
                )
            }),
        )
        .with_state(state)
}

/// Serve `state` on an already-bound listener until `shutdown` resolves.
/// With `[tls]` configured the node terminates TLS itself (rustls).
pub async fn run(
    state: AppState,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tls = match &state.config.tls {
        Some(tls) => Some(crate::http::serve::tls_config(
            &tls.cert_path,
            &tls.key_path,
        )?),
        None => None,
    };
    let app = router(state.clone());
    crate::http::serve::serve(app, listener, tls, state.config.http.clone(), shutdown).await
}
