//! Logging in, for the API (`POST /api/v1/auth/login`) and the web form
//! alike: throttled, locked out after repeated failures, audited.
//!
//! Order of checks for one attempt:
//! 1. the client address's and the account's governor buckets (429);
//! 2. the account's persisted lockout (429; the password is not checked);
//! 3. the password (argon2, a bounded number at once; an unknown account
//!    costs the same as a known one);
//! 4. failure: counted, maybe locking the account (then 429 at once),
//!    audited `auth.login_failed` (and `auth.lockout`); success: the count
//!    is cleared, a session issued, audited `auth.login`.
//!
//! Answers never tell whether the account exists: unknown e-mails are
//! counted, locked and answered exactly like known ones.

use std::net::IpAddr;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;

use super::throttle::{self, account_key, ceil_secs, normalise_email};
use super::tokens::{self, IssuedToken, TokenKind};
use super::{store, User, SESSION_TTL_MS};
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::server::AppState;

/// An e-mail longer than this matches no account (RFC 5321 limit).
const MAX_EMAIL_BYTES: usize = 254;

/// A hash verified when the account does not exist, so that the answer
/// takes as long as for a real account (default argon2id parameters).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3Kq3lJq0r9m3m0sJj6Xl1w";

/// Who the audit log names for an attempt made by someone not signed in
/// (a failed or refused login, a lockout): nobody is known yet, so the
/// node's login service itself (`actor_role` `system`, `actor_id`
/// `login`), never the account the attempt names.
pub const ANONYMOUS: Actor = Actor::System("login");

/// Where a login comes from, for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `POST /api/v1/auth/login`.
    Api,
    /// The web form.
    Ui,
    /// The candidate space's form (`/moi/connexion`).
    CandidateSpace,
}

impl Via {
    /// As recorded in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Ui => "ui",
            Via::CandidateSpace => "candidate_space",
        }
    }
}

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    /// The session token.
    pub session: IssuedToken,
    /// Who.
    pub user: User,
}

/// Check a password against a PHC hash (blocking: call from
/// `spawn_blocking`).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// One login attempt from `client`.
pub async fn login(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: &str,
    via: Via,
) -> Result<LoggedIn> {
    let key = account_key(email);
    state.login.admit(client, &key)?;
    let normalised = normalise_email(email);
    // Too long or with control characters (PostgreSQL refuses NUL in
    // text): no account has such an address.
    let found = if plausible_email(&normalised) {
        let mut conn = state.db.pool.acquire().await?;
        store::login_account(&mut conn, &normalised).await?
    } else {
        None
    };
    let account = found.as_ref().map(|(u, hash)| Account {
        kind: "user",
        id: u.id.clone(),
        password_hash: Some(hash.clone()),
    });
    check_password(state, client, &key, password, via, account).await?;
    let Some((user, _)) = found else {
        return Err(Error::Unauthenticated);
    };
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let session = tokens::issue_in(
        &mut tx,
        now,
        &user.id,
        TokenKind::Session,
        None,
        now + SESSION_TTL_MS,
    )
    .await?;
    crate::audit::append(
        &mut tx,
        &Actor::User(user.clone()),
        "auth.login",
        ("user", &user.id),
        None,
        serde_json::json!({ "address": client.to_string(), "via": via.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(LoggedIn { session, user })
}

/// Whether a normalised e-mail could belong to an account at all.
pub(crate) fn plausible_email(normalised: &str) -> bool {
    normalised.len() <= MAX_EMAIL_BYTES && !normalised.chars().any(char::is_control)
}

/// The account a login attempt names, as the password check needs it.
pub(crate) struct Account {
    /// Audit target kind (`user`, `candidate_account`).
    pub kind: &'static str,
    /// Its id.
    pub id: String,
    /// Its argon2 hash; `None` when it has no password (links only).
    pub password_hash: Option<String>,
}

/// Steps 2 to 4 of a login (after the caller's `admit`): the persisted
/// lockout, the password (against a dummy hash when `account` is `None`),
/// then the failure count and audit, or the count cleared. `Ok` only when
/// `account` exists and the password is right. Staff and candidate logins
/// both go through here, keyed by [`account_key`].
pub(crate) async fn check_password(
    state: &AppState,
    client: IpAddr,
    key: &str,
    password: &str,
    via: Via,
    account: Option<Account>,
) -> Result<()> {
    let guard = &state.login;
    let now = state.clock.now_ms();
    let (target_kind, target_id) = match &account {
        Some(a) => (a.kind, a.id.clone()),
        None => ("account", key.to_string()),
    };

    if let Some(until) = throttle::locked_until(&state.db, key, now).await? {
        // A refusal, not a change: the audit row alone, in its own
        // transaction.
        let mut tx = state.db.begin().await?;
        audit_failure(
            &mut tx,
            client,
            via,
            (target_kind, &target_id),
            "locked",
            None,
        )
        .await?;
        tx.commit().await?;
        return Err(Error::TooManyAttempts {
            retry_after_secs: ceil_secs(until - now),
        });
    }

    let ok = if password.len() > state.config.auth.passwords.max_bytes {
        // Longer than any password the node accepts: no need to hash it.
        false
    } else {
        let known = account.as_ref().and_then(|a| a.password_hash.clone());
        let has_hash = known.is_some();
        let hash = known.unwrap_or_else(|| DUMMY_HASH.to_string());
        let pw = password.to_string();
        let _slot = guard.verification_slot().await?;
        tokio::task::spawn_blocking(move || verify_password(&pw, &hash)).await? && has_hash
    };

    if ok && account.is_some() {
        throttle::clear_failures(&state.db, key).await?;
        return Ok(());
    }
    // The failure count, the lock and their audit rows: one transaction.
    let mut tx = state.db.begin().await?;
    let failure = throttle::record_failure_in(&mut tx, guard, key, now).await?;
    audit_failure(
        &mut tx,
        client,
        via,
        (target_kind, &target_id),
        "bad_credentials",
        Some(failure.failures),
    )
    .await?;
    if let Some(until) = failure.locked_until {
        crate::audit::append(
            &mut tx,
            &ANONYMOUS,
            "auth.lockout",
            (target_kind, &target_id),
            None,
            serde_json::json!({
                "address": client.to_string(),
                "via": via.as_str(),
                "failures": failure.failures,
                "locked_until": until,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    match failure.locked_until {
        Some(until) => {
            tracing::warn!(client = %client, failures = failure.failures, "account locked after failed logins");
            Err(Error::TooManyAttempts {
                retry_after_secs: ceil_secs(until - now),
            })
        }
        None => Err(Error::Unauthenticated),
    }
}

async fn audit_failure(
    conn: &mut sqlx::AnyConnection,
    client: IpAddr,
    via: Via,
    target: (&str, &str),
    reason: &str,
    failures: Option<i64>,
) -> Result<()> {
    crate::audit::append(
        conn,
        &ANONYMOUS,
        "auth.login_failed",
        target,
        None,
        serde_json::json!({
            "address": client.to_string(),
            "via": via.as_str(),
            "reason": reason,
            "failures": failures,
        }),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_is_a_valid_argon2_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("anything", DUMMY_HASH));
    }
}
