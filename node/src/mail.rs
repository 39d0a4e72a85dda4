//! Outgoing e-mail: a durable outbox and a background worker that sends it
//! over SMTP (lettre), never on a request's path.
//!
//! - A caller renders and queues a message **inside its own database
//!   transaction** with [`Mailer::enqueue`] (a row in `mail_outbox`), commits,
//!   then calls [`Mailer::wake`]. If the transaction rolls back, nothing is
//!   sent; once it commits, the message survives restarts.
//! - The worker ([`spawn_worker`]) sends due messages one by one
//!   ([`Mailer::deliver_due`]): success marks the row `sent`; a permanent
//!   refusal (SMTP 5xx, an address the server rejects) marks it `failed`;
//!   anything else (server down, timeout, 4xx) schedules another attempt
//!   after `backoff_initial_secs` doubled per failure up to
//!   `backoff_max_secs`, read from the node's clock, and ends the pass (one
//!   failing connection per pass, not one per queued message). After
//!   `max_attempts` the message is `failed`. A row is claimed with a lease
//!   (`locked_until`) before it is sent, so several node processes on one
//!   PostgreSQL never send the same row at once.
//! - Bodies are dropped from the row once it is sent or failed (they may
//!   hold a password-reset link): the outbox keeps who, what kind, when and
//!   how it went, for `keep_days`, then the row goes.
//! - `[mail] enabled = false` (the default): nothing is queued, no worker
//!   runs, and the node says so at start.
//!
//! Metrics: `vivier_mail_queued_total{kind}`, `vivier_mail_sent_total`,
//! `vivier_mail_retried_total`, `vivier_mail_failed_total{reason}`.

pub mod config;
pub(crate) mod store;
pub mod templates;

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::server::AppState;

pub use config::{MailConfig, Security};
pub use templates::{Mail, Rendered};

/// How long a claimed row is reserved for the process sending it.
const LEASE_MS: i64 = 5 * 60 * 1000;
/// Rows read per query by the worker.
const BATCH: i64 = 20;
/// Longest error text kept on a row.
const MAX_ERROR_CHARS: usize = 500;

/// Who a message goes to.
#[derive(Clone, Copy, Debug)]
pub struct Recipient<'a> {
    /// E-mail address.
    pub address: &'a str,
    /// Display name, if any.
    pub name: Option<&'a str>,
}

/// What [`Mailer::enqueue`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Queued {
    /// Queued under this outbox id.
    Queued(String),
    /// Mail is disabled on this node: nothing was written.
    Disabled,
}

/// What one [`Mailer::deliver_due`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Messages sent.
    pub sent: u32,
    /// Messages that failed for now and will be tried again.
    pub retried: u32,
    /// Messages given up (permanent refusal or too many attempts).
    pub failed: u32,
}

/// The node's mail service (in [`crate::server::AppInner`]).
pub struct Mailer {
    config: MailConfig,
    node_name: String,
    base_url: String,
    clock: SharedClock,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<Mailbox>,
    authenticated: bool,
    wake: tokio::sync::Notify,
    /// One delivery pass at a time in this process.
    pass: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("enabled", &self.config.enabled)
            .field("host", &self.config.host)
            .field("port", &self.config.port)
            .field("security", &self.config.security)
            .field("authenticated", &self.authenticated)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mail service for `config` (validated); credentials are read from
    /// the environment here.
    pub fn new(config: &Config, clock: SharedClock) -> anyhow::Result<Mailer> {
        let mc = config.mail.clone();
        let base_url = mc
            .base_url
            .clone()
            .unwrap_or_else(|| config.public_url())
            .trim_end_matches('/')
            .to_string();
        let (transport, from, authenticated) = if mc.enabled {
            let credentials =
                config::Credentials::from_env().map_err(|e| anyhow::anyhow!("mail: {e}"))?;
            let from = Mailbox::new(
                Some(mc.from_name.clone()).filter(|n| !n.is_empty()),
                mc.from_address
                    .parse()
                    .map_err(|e| anyhow::anyhow!("mail.from_address: {e}"))?,
            );
            let mut builder = match mc.security {
                Security::Starttls => {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&mc.host)?
                }
                Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&mc.host)?,
                Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&mc.host),
            }
            .port(mc.port)
            .timeout(Some(Duration::from_secs(mc.timeout_secs)));
            let authenticated = credentials.is_some();
            if let Some(c) = credentials {
                builder = builder.credentials(SmtpCredentials::new(c.username, c.password));
            }
            (Some(builder.build()), Some(from), authenticated)
        } else {
            (None, None, false)
        };
        Ok(Mailer {
            node_name: config.display_name.clone(),
            base_url,
            clock,
            transport,
            from,
            authenticated,
            config: mc,
            wake: tokio::sync::Notify::new(),
            pass: tokio::sync::Mutex::new(()),
        })
    }

    /// Whether this node sends mail.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// `base_url` + `path` (`/ui/…`): the links put in messages.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Queue the mail `build` makes (given the account holder's name) for
    /// user `user_id`, inside the caller's transaction — when mail is
    /// enabled and the account exists and is not disabled. An address the
    /// mail system refuses is logged and skipped: it must not undo the
    /// change the mail reports. True when a mail was queued.
    pub async fn enqueue_to_user(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: &str,
        build: impl FnOnce(String) -> Mail,
    ) -> Result<bool> {
        if !self.enabled() {
            return Ok(false);
        }
        let Some((email, name)) = crate::auth::store::mail_contact(tx, user_id).await? else {
            return Ok(false);
        };
        let mail = build(name.clone());
        let to = Recipient {
            address: &email,
            name: Some(&name),
        };
        match self.enqueue(tx, to, &mail).await {
            Ok(q) => Ok(matches!(q, Queued::Queued(_))),
            Err(Error::Validation(_)) => {
                tracing::warn!(
                    kind = mail.kind(),
                    "mail not queued: the account's address cannot be mailed to"
                );
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the mail system can use `to`'s address (what [`enqueue`]
    /// checks first; a caller may ask before writing what the mail is
    /// about).
    ///
    /// [`enqueue`]: Mailer::enqueue
    pub fn deliverable(&self, to: Recipient<'_>) -> bool {
        recipient_mailbox(to.address, to.name).is_ok()
    }

    /// Render `mail` and queue it for `to` inside the caller's transaction
    /// (nothing is written when mail is disabled). Call [`Mailer::wake`]
    /// after the commit. An address the mail system cannot use is a
    /// validation error on `email`.
    pub async fn enqueue(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        to: Recipient<'_>,
        mail: &Mail,
    ) -> Result<Queued> {
        if !self.config.enabled {
            return Ok(Queued::Disabled);
        }
        recipient_mailbox(to.address, to.name)
            .map_err(|e| Error::field("email", format!("cannot be mailed to: {e}")))?;
        let rendered = templates::render(mail, &self.node_name)?;
        let id = crate::util::new_id();
        let now = self.clock.now_ms();
        store::insert(
            tx,
            &store::NewMail {
                id: &id,
                kind: mail.kind(),
                recipient: to.address,
                recipient_name: to.name,
                subject: &rendered.subject,
                body_text: &rendered.text,
                body_html: &rendered.html,
                now,
            },
        )
        .await?;
        metrics::counter!("vivier_mail_queued_total", "kind" => mail.kind()).increment(1);
        Ok(Queued::Queued(id))
    }

    /// Tell the worker that messages were committed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The delay before attempt `attempts + 1`, after `attempts` failures.
    pub fn backoff_ms(&self, attempts: i64) -> i64 {
        let doublings = u32::try_from(attempts.saturating_sub(1).max(0))
            .unwrap_or(u32::MAX)
            .min(30);
        let secs = self
            .config
            .backoff_initial_secs
            .saturating_mul(1u64 << doublings)
            .min(self.config.backoff_max_secs);
        i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Send every message due now (by the node's clock), one pass.
    pub async fn deliver_due(&self, db: &Db) -> Result<DeliveryReport> {
        let mut report = DeliveryReport::default();
        let Some(transport) = &self.transport else {
            return Ok(report);
        };
        let _pass = self.pass.lock().await;
        loop {
            let now = self.clock.now_ms();
            let ids = {
                let mut conn = db.pool.acquire().await?;
                store::due(&mut conn, now, BATCH).await?
            };
            if ids.is_empty() {
                self.prune(db, now).await?;
                return Ok(report);
            }
            for id in ids {
                match self.deliver_one(db, transport, &id).await? {
                    Outcome::Sent => report.sent += 1,
                    Outcome::Failed => report.failed += 1,
                    Outcome::NotMine => {}
                    Outcome::Retry => {
                        // The server is likely down: leave the rest for
                        // the next pass instead of one refusal per message.
                        report.retried += 1;
                        return Ok(report);
                    }
                }
            }
        }
    }

    /// Delete sent and failed rows older than `keep_days`.
    async fn prune(&self, db: &Db, now: i64) -> Result<u64> {
        let keep_ms = i64::from(self.config.keep_days).saturating_mul(86_400_000);
        let mut conn = db.pool.acquire().await?;
        store::prune(&mut conn, now.saturating_sub(keep_ms)).await
    }

    async fn deliver_one(
        &self,
        db: &Db,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        id: &str,
    ) -> Result<Outcome> {
        let now = self.clock.now_ms();
        let mut conn = db.pool.acquire().await?;
        if !store::claim(&mut conn, id, now.saturating_add(LEASE_MS), now).await? {
            return Ok(Outcome::NotMine);
        }
        let row = store::get(&mut conn, id).await?;
        // Not held across the SMTP exchange.
        drop(conn);
        let kind = row.kind.clone();
        let attempts = row.attempts;
        let message = self.message(row);
        let result = match message {
            Ok(m) => transport.send(m).await.map(|_| ()).map_err(|e| {
                let permanent = e.is_permanent();
                (permanent, e.to_string())
            }),
            Err(e) => Err((true, e)),
        };
        let now = self.clock.now_ms();
        let mut conn = db.pool.acquire().await?;
        match result {
            Ok(()) => {
                store::mark_sent(&mut conn, id, now).await?;
                metrics::counter!("vivier_mail_sent_total").increment(1);
                tracing::info!(mail_id = id, kind, attempts, "mail sent");
                Ok(Outcome::Sent)
            }
            Err((permanent, error)) => {
                let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
                let give_up = permanent || attempts >= i64::from(self.config.max_attempts);
                if give_up {
                    store::mark_failed(&mut conn, id, &error, now).await?;
                    let reason = if permanent { "refused" } else { "attempts" };
                    metrics::counter!("vivier_mail_failed_total", "reason" => reason).increment(1);
                    tracing::warn!(mail_id = id, kind, attempts, error = %error, "mail given up");
                    Ok(Outcome::Failed)
                } else {
                    let next = now.saturating_add(self.backoff_ms(attempts));
                    store::reschedule(&mut conn, id, next, &error).await?;
                    metrics::counter!("vivier_mail_retried_total").increment(1);
                    tracing::warn!(mail_id = id, kind, attempts, next_attempt_at = next, error = %error, "mail not sent; will retry");
                    Ok(Outcome::Retry)
                }
            }
        }
    }

    /// The lettre message for an outbox row; an error is permanent.
    fn message(&self, row: store::OutboxRow) -> std::result::Result<Message, String> {
        let to = recipient_mailbox(&row.recipient, row.recipient_name.as_deref())?;
        let from = self.from.clone().ok_or("mail is disabled")?;
        Message::builder()
            .from(from)
            .to(to)
            .subject(row.subject)
            .message_id(None)
            .multipart(MultiPart::alternative_plain_html(
                row.body_text,
                row.body_html,
            ))
            .map_err(|e| e.to_string())
    }
}

enum Outcome {
    Sent,
    Retry,
    Failed,
    NotMine,
}

fn recipient_mailbox(address: &str, name: Option<&str>) -> std::result::Result<Mailbox, String> {
    let address: lettre::Address = address.parse().map_err(|e| format!("{e}"))?;
    let name = name
        .map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|n| !n.trim().is_empty());
    Ok(Mailbox::new(name, address))
}

/// Say at start whether mail is sent, and start the worker when it is.
pub fn spawn_worker(state: &AppState) {
    let mail = &state.mail;
    if !mail.enabled() {
        tracing::info!(
            "mail is disabled ([mail] enabled = false): no e-mail will be sent \
             (password reset links, notifications)"
        );
        return;
    }
    tracing::info!(
        host = %mail.config.host,
        port = mail.config.port,
        security = %mail.config.security,
        authenticated = mail.authenticated,
        from = %mail.config.from_address,
        "mail enabled: sending through the SMTP server"
    );
    let state = state.clone();
    let poll = Duration::from_secs(state.mail.config.poll_interval_secs);
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = state.mail.deliver_due(&state.db).await {
                tracing::warn!(error = %e, "mail delivery pass failed");
            }
            tokio::select! {
                _ = state.mail.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// An outbox row as listed for operators and tests.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxEntry {
    /// Id.
    pub id: String,
    /// Template (`password_reset`, …).
    pub kind: String,
    /// To.
    pub recipient: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// Next attempt (unix ms) when pending.
    pub next_attempt_at: i64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Every outbox row, oldest first.
pub async fn outbox(db: &Db) -> Result<Vec<OutboxEntry>> {
    let mut conn = db.pool.acquire().await?;
    store::list(&mut conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut config = Config::default();
        config.mail.backoff_initial_secs = 60;
        config.mail.backoff_max_secs = 300;
        let m = Mailer::new(&config, crate::clock::SystemClock::shared()).expect("mailer");
        assert_eq!(m.backoff_ms(1), 60_000);
        assert_eq!(m.backoff_ms(2), 120_000);
        assert_eq!(m.backoff_ms(3), 240_000);
        assert_eq!(m.backoff_ms(4), 300_000);
        assert_eq!(m.backoff_ms(1000), 300_000);
    }

    #[test]
    fn recipients_are_checked_and_names_cleaned() {
        assert!(recipient_mailbox("pas une adresse", None).is_err());
        let m = recipient_mailbox("claire@mission-emploi.fr", Some("Claire\r\nBcc: x@y.fr"))
            .expect("ok");
        assert!(!m.to_string().contains('\n'));
        let link = Mailer::new(&Config::default(), crate::clock::SystemClock::shared())
            .expect("mailer")
            .link("/ui/x");
        assert_eq!(link, "http://127.0.0.1:8080/ui/x");
    }
}
