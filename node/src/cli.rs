//! The `vivier-node` command line (also linked into the end-to-end test
//! binaries, which start real node processes).

use std::io::Write;
use std::path::PathBuf;

use crate::auth::{NewUser, Role};
use crate::config::Config;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::sync::watch;

/// A Vivier node: the candidathèque of a mission Emploi, its offers and its
/// place in the Vivier network.
#[derive(Parser)]
#[command(name = "vivier-node", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML). Without it the node runs on embedded
    /// defaults: data in ./vivier-data, SQLite, 127.0.0.1:8080.
    #[arg(short, long, global = true, env = "VIVIER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the node (HTTP API, web UI, federation workers).
    Serve {
        /// Listen on this address instead of the configured one
        /// (use 127.0.0.1:0 for a free port; the bound address is printed).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Manage node users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens: `token create|list|revoke`. The older form
    /// `token --email E [--label L]` still works: it is `token create` with
    /// the default lifetime, and prints only the token.
    Token(crate::auth::cli::TokenArgs),
    /// Rebuild the search indexes from the database.
    Reindex,
    /// The node's signing keys: `key show`, `key generate-next`, `key
    /// rotate --at T` (see README, "Rotating a node key").
    #[command(subcommand)]
    Key(KeyCommand),
    /// Import data from files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Start a demo network on this machine (three nodes in demo mode,
    /// fictional data) and print its URLs and accounts; ctrl-c stops it.
    Demo(crate::demo::DemoArgs),
    /// Internal: read one CV file on standard input and write its text,
    /// framed, on standard output. Run by the node itself, in a child
    /// process under OS limits, for every upload.
    #[command(hide = true)]
    Extract(crate::extract::child::ExtractArgs),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Print the node's keys with their validity, as published.
    Show,
    /// Write the next key (0600) and print its id and public key, for the
    /// operator's `vivier-admin member rotate-key`.
    GenerateNext,
    /// From `--at`, sign with the key made by `generate-next`; the current
    /// key stays published and valid for `--overlap-days` more. A running
    /// node picks this up without a restart.
    Rotate {
        /// When the new key takes over: `now`, unix milliseconds, or an
        /// RFC 3339 date-time (`2027-01-04T08:00:00+01:00`). Must be the
        /// `--valid-from-ms` given to `vivier-admin member rotate-key`.
        #[arg(long)]
        at: String,
        /// How long the current key stays valid after `--at` (days), as
        /// `--overlap-days` of `vivier-admin member rotate-key`.
        #[arg(long, default_value_t = 7)]
        overlap_days: i64,
        /// Rotate even though the membership document this node holds does
        /// not list the new key from `--at` (the other members will refuse
        /// what it signs until it does).
        #[arg(long)]
        force: bool,
    },
}

/// `key rotate` only once the network knows the new key: the membership
/// document this node holds must list `next` (same id and public key) as
/// valid at `at`. Without a document (a node on its own) there is nothing
/// to check; `force` skips the check.
fn rotation_listed(
    doc: Option<&vivier_protocol::SignedMembershipDocument>,
    node_id: &vivier_protocol::NodeId,
    next: &vivier_protocol::SigningKeyPair,
    at: i64,
    force: bool,
) -> anyhow::Result<()> {
    let Some(doc) = doc else { return Ok(()) };
    let Some(me) = doc.document.member(node_id) else {
        return Ok(());
    };
    let listed = me.keys.iter().find(|k| &k.key_id == next.key_id());
    let problem = match listed {
        None => format!(
            "the membership document this node holds (serial {}) does not list {}",
            doc.document.serial,
            next.key_id()
        ),
        Some(k) if k.public_key != next.public_key() => format!(
            "the membership document (serial {}) lists another public key as {}",
            doc.document.serial,
            next.key_id()
        ),
        Some(k) if k.valid_from > at => format!(
            "the membership document (serial {}) makes {} valid only from {} ms, after --at {at}",
            doc.document.serial,
            next.key_id(),
            k.valid_from
        ),
        Some(_) => return Ok(()),
    };
    if force {
        eprintln!("warning: {problem}; rotating anyway (--force)");
        return Ok(());
    }
    anyhow::bail!(
        "{problem}: the other members would refuse what this node signs with it. Ask the \
         operator to run `vivier-admin member rotate-key {node_id} --key-id {} --public-key {} \
         --valid-from-ms {at}` and publish, then run this again (or pass --force)",
        next.key_id(),
        next.public_key().to_b64()
    )
}

/// `--at` of `key rotate`.
fn parse_at(s: &str, now_ms: i64) -> anyhow::Result<i64> {
    let s = s.trim();
    if s == "now" {
        return Ok(now_ms);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| {
            anyhow::anyhow!(
                "--at {s:?}: give `now`, unix milliseconds or an RFC 3339 date-time \
                 (2027-01-04T08:00:00+01:00)"
            )
        })
}

async fn key_command(config: &Config, cmd: KeyCommand) -> anyhow::Result<()> {
    let node_id = vivier_protocol::NodeId::parse(&config.node_id).context("node_id")?;
    let db = open_db(config).await?;
    let first: i64 = db
        .meta("key_created_at")
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let now = crate::util::now_ms();
    let result = match cmd {
        KeyCommand::Show => {
            let ring = crate::keys::load(config, &node_id, first)?;
            let signing = ring.signing_key(now).key_id().to_string();
            for k in ring.published(now) {
                println!(
                    "{} {} valid from {} until {}{}",
                    k.key_id,
                    k.public_key,
                    k.valid_from,
                    k.valid_until.map(|u| u.to_string()).unwrap_or("-".into()),
                    if k.key_id == signing {
                        " (signing)"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        KeyCommand::GenerateNext => {
            let next = crate::keys::generate_next(config, &node_id, first)?;
            println!(
                "next key {} written to {}",
                next.key_id,
                next.file.display()
            );
            println!("public key: {}", next.public_key);
            println!(
                "give it to the network operator:\n  vivier-admin member rotate-key {node_id} --key-id {} \
                 --public-key {} --valid-from-ms <T> --overlap-days 7\nthen, once the document is \
                 published: vivier-node key rotate --at <T> --overlap-days 7",
                next.key_id, next.public_key
            );
            Ok(())
        }
        KeyCommand::Rotate {
            at,
            overlap_days,
            force,
        } => {
            let at = parse_at(&at, now)?;
            let doc = match crate::federation::store::stored_membership(&db).await? {
                Some(stored) => Some(
                    vivier_protocol::SignedMembershipDocument::from_bytes(
                        stored.document.as_bytes(),
                    )
                    .map_err(|e| anyhow::anyhow!("stored membership document: {e}"))?,
                ),
                None => None,
            };
            let listed = |next: &vivier_protocol::SigningKeyPair| {
                rotation_listed(doc.as_ref(), &node_id, next, at, force)
            };
            let r = crate::keys::rotate(
                config,
                &node_id,
                first,
                at,
                overlap_days * 86_400_000,
                listed,
            )?;
            // A running node (every process on this database) reloads.
            let mut tx = db.begin().await?;
            crate::journal::append(&mut tx, crate::journal::Kind::Keys, &r.key_id, now).await?;
            tx.commit().await?;
            println!(
                "from {} this node signs with {}; {} stays valid until {}",
                r.active_from, r.key_id, r.previous_key_id, r.previous_valid_until
            );
            Ok(())
        }
    };
    db.close().await;
    result
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from VIVIER_USER_PASSWORD or,
    /// if unset, from the first line of standard input.
    Add {
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// admin, counsellor or employer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Employer name (employers only).
        #[arg(long)]
        employer_name: Option<String>,
        /// Employer SIRET (14 digits).
        #[arg(long)]
        employer_siret: Option<String>,
    },
    /// List users.
    List,
    /// Account changes (role, status, password, lockout), audited.
    #[command(flatten)]
    Account(crate::auth::cli::AccountCommand),
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import candidates from CSV or JSON Lines (by extension: .csv, .jsonl).
    /// Rows are validated one by one; rejected rows are reported with their
    /// line number and reason; the rest is imported. Idempotent on
    /// `external_id`.
    Candidates {
        /// The file.
        file: PathBuf,
        /// E-mail of the counsellor the candidates are assigned to.
        #[arg(long)]
        counsellor: Option<String>,
    },
    /// Import offers in France Travail's JSON offer format (one array, or
    /// JSON Lines), published as this node's offers.
    Offers {
        /// The file.
        file: PathBuf,
        /// E-mail of the employer or counsellor who owns the offers.
        #[arg(long)]
        owner: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: use admin, counsellor or employer"))
}

fn init_tracing(json: bool, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("VIVIER_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colour codes only on a terminal: a log file or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}

/// Parse the command line and run; exits the process on error.
pub fn main() {
    let cli = Cli::parse();
    // The extractor child: no configuration, no runtime, no threads.
    if let Command::Extract(args) = &cli.command {
        std::process::exit(crate::extract::child::run(args));
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(real_main(cli)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn real_main(cli: Cli) -> anyhow::Result<()> {
    let config = if let Command::Demo(_) = &cli.command {
        // The demo writes its nodes' configurations itself; its own output
        // is the table (the nodes log to their node.log).
        init_tracing(false, "warn");
        Config::default()
    } else {
        let config = Config::load(cli.config.as_deref())?;
        init_tracing(
            config.log_format == "json",
            "info,sqlx=warn,tantivy=warn,hyper=warn",
        );
        config
    };
    match cli.command {
        Command::Serve { listen } => serve(config, listen).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Extract(args) => {
            std::process::exit(crate::extract::child::run(&args));
        }
        Command::User(UserCommand::Add {
            email,
            name,
            role,
            employer_name,
            employer_siret,
        }) => {
            let password = crate::auth::cli::read_password(&email)?;
            let db = open_db(&config).await?;
            let user = crate::auth::create_user(
                &db,
                &crate::auth::PasswordPolicy::from_config(&config),
                NewUser {
                    email,
                    display_name: name,
                    role,
                    password,
                    employer_name,
                    employer_siret,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created {} user {} ({})",
                user.role.as_str(),
                user.email,
                user.id
            );
            db.close().await;
            Ok(())
        }
        Command::User(UserCommand::List) => {
            let db = open_db(&config).await?;
            for u in crate::auth::list_users(&db)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!("{:<12} {:<40} {}", u.role.as_str(), u.email, u.display_name);
            }
            db.close().await;
            Ok(())
        }
        Command::Token(args) => crate::auth::cli::token(&config, args).await,
        Command::User(UserCommand::Account(cmd)) => crate::auth::cli::account(&config, cmd).await,
        Command::Reindex => reindex(config).await,
        Command::Key(cmd) => key_command(&config, cmd).await,
        Command::Import(ImportCommand::Candidates { file, counsellor }) => {
            // Rows and journal entries only: a running node's index follows,
            // and a stopped node catches up when it starts. The index is
            // never opened here, so this works while the node serves.
            let db = open_db(&config).await?;
            let bar = progress_bar("import");
            bar.set_style(byte_style());
            let report =
                crate::candidates::import_into_db(&db, &file, counsellor.as_deref(), Some(&bar))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            bar.finish_and_clear();
            db.close().await;
            for r in &report.rejected {
                eprintln!("line {}: {}", r.line, r.reason);
            }
            println!(
                "{} imported ({} created, {} updated), {} rejected",
                report.created + report.updated,
                report.created,
                report.updated,
                report.rejected.len()
            );
            if report.created + report.updated == 0 && !report.rejected.is_empty() {
                anyhow::bail!("no row imported");
            }
            Ok(())
        }
        Command::Import(ImportCommand::Offers { file, owner }) => {
            let (_tx, rx) = watch::channel(false);
            let state = crate::server::open_offline(config, rx)
                .await
                .map_err(running_node_hint)?;
            let bar = progress_bar("import");
            let report =
                crate::offers::import_france_travail_file(&state, &file, &owner, Some(&bar))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            bar.finish_and_clear();
            for r in &report.rejected {
                eprintln!("offer {}: {}", r.line, r.reason);
            }
            println!(
                "{} imported, {} rejected",
                report.imported,
                report.rejected.len()
            );
            state.search.shutdown();
            state.db.close().await;
            Ok(())
        }
    }
}

/// `reindex`: rebuild both indexes. When a node runs on this data (it holds
/// the index), the rebuild is asked of it through the journal and this
/// command follows its progress; otherwise it rebuilds here.
async fn reindex(mut config: Config) -> anyhow::Result<()> {
    let (_tx, rx) = watch::channel(false);
    // The rebuild happens below, with a progress bar.
    config.search.rebuild_on_start = false;
    match crate::server::open_offline(config.clone(), rx).await {
        Ok(state) => {
            let bar = progress_bar("candidats");
            let n = crate::candidates::reindex(&state, Some(&bar)).await?;
            bar.finish_with_message(format!("{n} candidats indexés"));
            let bar = progress_bar("offres");
            let m = crate::offers::reindex(&state, Some(&bar)).await?;
            bar.finish_with_message(format!("{m} offres indexées"));
            state.search.shutdown();
            state.db.close().await;
            Ok(())
        }
        Err(e) if is_busy(&e) => {
            let db = open_db(&config).await?;
            eprintln!("the node is running: asking it to rebuild its indexes");
            let (candidates, offers) = crate::journal::request_rebuild(&db).await?;
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            loop {
                let (c, o) = crate::journal::rebuilt_through(&db).await?;
                if c >= candidates && o >= offers {
                    break;
                }
                if let Some(p) = db.meta(crate::journal::REBUILD_PROGRESS_KEY).await? {
                    bar.set_message(p);
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            bar.finish_with_message("indexes rebuilt by the running node");
            db.close().await;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn is_busy(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::search::SearchError>(),
            Some(crate::search::SearchError::Busy)
        )
    })
}

/// Turn "index in use" into a sentence that tells the operator what to do.
fn running_node_hint(e: anyhow::Error) -> anyhow::Error {
    if is_busy(&e) {
        anyhow::anyhow!(
            "a node is running on this data directory and holds its search index; \
             stop it for this command, or post the offers through its API"
        )
    } else {
        e
    }
}

fn byte_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, reste {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
}

fn progress_bar(prefix: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, reste {eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(prefix.to_string());
    bar
}

pub(crate) async fn open_db(config: &Config) -> anyhow::Result<crate::db::Db> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    Ok(crate::db::Db::connect(&config.database_url(), &config.sqlite_synchronous).await?)
}

async fn serve(mut config: Config, listen: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    if let Some(addr) = listen {
        config.listen = addr;
        config.validate()?;
    }
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    let bound = listener.local_addr()?;
    if config.public_url.is_none() {
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        config.public_url = Some(format!("{scheme}://{bound}"));
    }
    let (tx, rx) = watch::channel(false);
    let state = crate::server::open(config, rx).await?;
    // Tests and scripts read this line to learn the port.
    println!("listening on {}", state.config.public_url());
    let _ = std::io::stdout().flush();
    let _ = std::fs::write(
        state.config.data_dir.join("listening"),
        state.config.public_url(),
    );
    tracing::info!(addr = %bound, node_id = %state.identity.node_id, "vivier node started");
    crate::demo::mode::announce(&state.config);
    let shutdown = async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    };
    crate::server::run(state.clone(), listener, shutdown).await?;
    state.read_audit.flush().await;
    state.search.shutdown();
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}
