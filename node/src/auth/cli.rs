//! The account and token commands of `vivier-node` (wired in
//! [`crate::cli`]). They act as the node's operator: audited with no user
//! as actor and `"via": "cli"`.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::tokens::{self, TokenRequest};
use super::users::{self, UserUpdate};
use super::{user_by_email, PasswordPolicy, Role, User};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Db;

/// The operator at the node's command line: audited as the node
/// (`actor_role` `system`, `actor_id` `cli`).
const OPERATOR: crate::actor::Actor = crate::actor::Actor::System("cli");

/// `vivier-node token …`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: Option<TokenCommand>,
    /// Older form: the user's e-mail (same as `token create --email`).
    #[arg(long)]
    email: Option<String>,
    /// Older form: the token's name (default "cli").
    #[arg(long)]
    label: Option<String>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue an API token for a user. The token is printed once, alone on
    /// standard output; its id and expiry go to standard error.
    Create {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Lifetime in days (default and maximum: [auth.tokens]).
        #[arg(long)]
        days: Option<i64>,
    },
    /// List API tokens (never their secrets): one user's, or everyone's.
    List {
        /// Only this user's tokens.
        #[arg(long)]
        email: Option<String>,
    },
    /// Revoke an API token by its id (from `token list`).
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// Account changes under `vivier-node user …`.
#[derive(Subcommand)]
pub enum AccountCommand {
    /// Change a user's role or status (audited). The last active admin can
    /// be neither demoted nor disabled.
    Update {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
        /// New role: admin, counsellor or employer.
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        /// Disable the account (it cannot log in; its tokens are revoked).
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable a disabled account.
        #[arg(long)]
        enable: bool,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Set a user's password (read from VIVIER_USER_PASSWORD or, if unset,
    /// the first line of standard input; never trimmed). Ends their
    /// sessions and lifts a login lockout.
    Password {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
    },
    /// Lift a login lockout on an account.
    Unlock {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: use admin, counsellor or employer"))
}

/// A password from `VIVIER_USER_PASSWORD` or the first line of standard
/// input (only the line ending is removed: spaces are part of it).
pub fn read_password(email: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("VIVIER_USER_PASSWORD") {
        return Ok(p);
    }
    eprint!("password for {email}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn find_user(db: &Db, email: &str) -> anyhow::Result<User> {
    user_by_email(db, email)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("no active user with e-mail {email}"))
}

async fn find_any_user(db: &Db, email: &str) -> anyhow::Result<User> {
    super::list_users(db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .find(|u| u.email == email.trim().to_lowercase())
        .ok_or_else(|| anyhow::anyhow!("no user with e-mail {email}"))
}

fn date(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Run `vivier-node token …`.
pub async fn token(config: &Config, args: TokenArgs) -> anyhow::Result<()> {
    let command = match (args.command, args.email) {
        (Some(c), _) => c,
        (None, Some(email)) => TokenCommand::Create {
            email,
            name: args.label.unwrap_or_else(|| "cli".into()),
            days: None,
        },
        (None, None) => anyhow::bail!(
            "say what to do: token create --email E [--name N] [--days D], token list, \
             token revoke ID"
        ),
    };
    let db = crate::cli::open_db(config).await?;
    let result = run_token(config, &db, command).await;
    db.close().await;
    result
}

async fn run_token(config: &Config, db: &Db, command: TokenCommand) -> anyhow::Result<()> {
    let now = SystemClock.now_ms();
    match command {
        TokenCommand::Create { email, name, days } => {
            let owner = find_user(db, &email).await?;
            let issued = tokens::create_api_token(
                db,
                &config.auth.tokens,
                now,
                &OPERATOR,
                TokenRequest {
                    owner: &owner,
                    name: &name,
                    days,
                },
                "cli",
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", issued.token);
            eprintln!(
                "token {} for {} ({name}), expires {}",
                issued.id,
                owner.email,
                date(Some(issued.expires_at))
            );
        }
        TokenCommand::List { email } => {
            let owners = match email {
                Some(e) => vec![find_any_user(db, &e).await?],
                None => super::list_users(db)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            println!(
                "{:<36}  {:<32}  {:<24}  {:<20}  {:<20}  last used",
                "id", "user", "name", "created", "expires"
            );
            for owner in owners {
                for t in tokens::list(db, &owner.id, now)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                {
                    println!(
                        "{:<36}  {:<32}  {:<24}  {:<20}  {:<20}  {}",
                        t.id,
                        owner.email,
                        t.name,
                        date(Some(t.created_at)),
                        if t.expired {
                            "expired".to_string()
                        } else {
                            date(t.expires_at)
                        },
                        date(t.last_used_at)
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let info = tokens::revoke(db, now, &OPERATOR, &id, "cli")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("revoking token {id}"))?;
            println!("revoked token {} ({})", info.id, info.name);
        }
    }
    Ok(())
}

/// Run `vivier-node user update|password|unlock`.
pub async fn account(config: &Config, command: AccountCommand) -> anyhow::Result<()> {
    let db = crate::cli::open_db(config).await?;
    let result = run_account(config, &db, command).await;
    db.close().await;
    result
}

async fn run_account(config: &Config, db: &Db, command: AccountCommand) -> anyhow::Result<()> {
    match command {
        AccountCommand::Update {
            email,
            role,
            disable,
            enable,
            reason,
        } => {
            let user = find_any_user(db, &email).await?;
            let change = UserUpdate {
                role,
                disabled: if disable {
                    Some(true)
                } else if enable {
                    Some(false)
                } else {
                    None
                },
            };
            let updated =
                users::update_user(db, &OPERATOR, &user.id, &change, reason.as_deref(), "cli")
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{} is {}{}",
                updated.email,
                updated.role.as_str(),
                if updated.disabled { " (disabled)" } else { "" }
            );
        }
        AccountCommand::Password { email } => {
            let user = find_user(db, &email).await?;
            let password = read_password(&email)?;
            users::set_password(
                db,
                &PasswordPolicy::from_config(config),
                &OPERATOR,
                &user,
                &password,
                None,
                "cli",
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("password of {} changed; their sessions ended", user.email);
        }
        AccountCommand::Unlock { email } => {
            let user = find_any_user(db, &email).await?;
            let cleared = users::unlock(db, &OPERATOR, &user, "cli")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}: {}",
                user.email,
                if cleared {
                    "login failures cleared"
                } else {
                    "was not locked"
                }
            );
        }
    }
    Ok(())
}
