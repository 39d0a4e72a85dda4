//! The `vivier-node` command line (also linked into the end-to-end test
//! binaries, which start real node processes).

use std::io::{BufRead, Write};
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
    /// Issue an API token for a user (printed once).
    Token {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// Rebuild the search indexes from the database.
    Reindex,
    /// Import data from files.
    #[command(subcommand)]
    Import(ImportCommand),
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

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("VIVIER_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tantivy=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
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
    let config = Config::load(cli.config.as_deref())?;
    init_tracing(config.log_format == "json");
    match cli.command {
        Command::Serve { listen } => serve(config, listen).await,
        Command::User(UserCommand::Add {
            email,
            name,
            role,
            employer_name,
            employer_siret,
        }) => {
            let password = match std::env::var("VIVIER_USER_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprint!("password for {email}: ");
                    let _ = std::io::stderr().flush();
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let db = open_db(&config).await?;
            let user = crate::auth::create_user(
                &db,
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
        Command::Token { email, label } => {
            let db = open_db(&config).await?;
            let user = crate::auth::user_by_email(&db, &email)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .ok_or_else(|| anyhow::anyhow!("no user with e-mail {email}"))?;
            let (token, _) = crate::auth::issue_token(&db, &user.id, "api", Some(&label), None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{token}");
            db.close().await;
            Ok(())
        }
        Command::Reindex => {
            let (_tx, rx) = watch::channel(false);
            let mut cfg = config;
            // `reindex` rebuilds below, with a progress bar.
            cfg.search.rebuild_on_start = false;
            let state = crate::server::open_offline(cfg, rx).await?;
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
        Command::Import(ImportCommand::Candidates { file, counsellor }) => {
            let (_tx, rx) = watch::channel(false);
            let state = crate::server::open_offline(config, rx).await?;
            let bar = progress_bar("import");
            let report =
                crate::candidates::import_file(&state, &file, counsellor.as_deref(), Some(&bar))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            bar.finish_and_clear();
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
            state.search.shutdown();
            state.db.close().await;
            if report.created + report.updated == 0 && !report.rejected.is_empty() {
                anyhow::bail!("no row imported");
            }
            Ok(())
        }
        Command::Import(ImportCommand::Offers { file, owner }) => {
            let (_tx, rx) = watch::channel(false);
            let state = crate::server::open_offline(config, rx).await?;
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

async fn open_db(config: &Config) -> anyhow::Result<crate::db::Db> {
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
