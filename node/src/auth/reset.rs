//! « Mot de passe oublié » : password reset by e-mail.
//!
//! - `POST /api/v1/auth/password-reset` `{email}` (and the web form) always
//!   answers 202 with the same body: whether the account exists, is
//!   disabled, or was sent a link a moment ago is never told. It is
//!   throttled by the login limiters ([`super::throttle`]: per client
//!   address and per account), and an account is mailed at most one link
//!   per `[auth.password_reset] resend_after_secs`.
//! - The link carries `<id>.<expires_at>.<tag>`: a random id, the expiry
//!   (unix ms) and an HMAC-SHA256 of both under a node secret (kept in
//!   `node_meta`, shared by every process on one database). A forged or
//!   altered token is refused before any lookup; the store keeps only the
//!   token's SHA-256. A link works once, until it expires (read from
//!   `state.clock`), and only while it is the account's newest.
//! - `POST /api/v1/auth/password-reset/confirm` `{token, password}` checks
//!   the token, applies the password policy (field `password`), stores the
//!   new hash, marks the link used and ends every session of the account,
//!   in one transaction, and lifts a login lockout. Refusals name the field
//!   `token` with a stable code: `reset_token_invalid`,
//!   `reset_token_expired`, `reset_token_used`.
//! - Audited: `auth.password_reset_requested` (outcome: `queued`,
//!   `unknown_account`, `mail_disabled`, `recently_sent`,
//!   `undeliverable`), `auth.password_reset_refused` (reason) and
//!   `auth.password_reset`. Attempts refused by a rate limiter are not
//!   audited (see ARCHITECTURE.md).

use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::login::Via;
use super::throttle::{account_key, normalise_email, ClientAddr};
use super::{store, PasswordPolicy, User};
use crate::actor::Actor;
use crate::error::{ApiJson, Error, FieldError, Result};
use crate::mail::{Mail, Queued, Recipient};
use crate::server::AppState;
use crate::util::sha256_hex;

/// `node_meta` key of the HMAC secret.
const SECRET_KEY: &str = "password_reset_hmac_key";
/// Domain separation of the MAC.
const MAC_CONTEXT: &str = "vivier-password-reset-v1";
/// Longest token accepted (a real one is about 80 characters).
const MAX_TOKEN_CHARS: usize = 200;
/// Who the audit log names for a refused link (nobody signed in): the
/// node's password-reset service (`actor_role` `system`).
pub const ANONYMOUS: Actor = Actor::System("password_reset");
/// The path of the web page a link opens.
pub const RESET_PAGE: &str = "/ui/reinitialisation";

/// Why a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    /// Malformed, forged, superseded, or its account is disabled.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Already used.
    Used,
}

impl TokenProblem {
    /// Stable machine code.
    pub fn code(self) -> &'static str {
        match self {
            TokenProblem::Invalid => "reset_token_invalid",
            TokenProblem::Expired => "reset_token_expired",
            TokenProblem::Used => "reset_token_used",
        }
    }

    /// English explanation (API).
    pub fn english(self) -> &'static str {
        match self {
            TokenProblem::Invalid => "this password reset link is not valid; ask for a new one",
            TokenProblem::Expired => "this password reset link has expired; ask for a new one",
            TokenProblem::Used => "this password reset link has already been used",
        }
    }

    /// French explanation (web UI).
    pub fn french(self) -> &'static str {
        match self {
            TokenProblem::Invalid => {
                "Ce lien de réinitialisation n'est pas valide (ou un lien plus récent a été envoyé). \
                 Demandez-en un nouveau."
            }
            TokenProblem::Expired => {
                "Ce lien de réinitialisation a expiré. Demandez-en un nouveau."
            }
            TokenProblem::Used => {
                "Ce lien de réinitialisation a déjà servi. Demandez-en un nouveau si besoin."
            }
        }
    }

    fn error(self) -> Error {
        Error::Validation(vec![FieldError::coded(
            "token",
            self.code(),
            self.english(),
        )])
    }

    /// The problem behind `err`, when it is a token refusal.
    pub fn of(err: &Error) -> Option<TokenProblem> {
        let Error::Validation(errs) = err else {
            return None;
        };
        errs.iter()
            .filter(|e| e.field == "token")
            .find_map(|e| match e.code {
                Some("reset_token_invalid") => Some(TokenProblem::Invalid),
                Some("reset_token_expired") => Some(TokenProblem::Expired),
                Some("reset_token_used") => Some(TokenProblem::Used),
                _ => None,
            })
    }
}

type HmacSha256 = Hmac<Sha256>;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The node's HMAC secret, created on first use (every process on one
/// database reads the same), read on `conn` (a caller's transaction must
/// pass its own: SQLite has one writer).
async fn secret_in(conn: &mut sqlx::AnyConnection) -> Result<Vec<u8>> {
    let read = |v: String| {
        hex::decode(v)
            .map_err(|e| Error::Internal(anyhow::anyhow!("{SECRET_KEY} in node_meta: {e}")))
    };
    if let Some(v) = store::meta(&mut *conn, SECRET_KEY).await? {
        return read(v);
    }
    let mut fresh = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut fresh);
    // Two processes racing: the first insert wins, both read it back.
    store::meta_insert_if_absent(&mut *conn, SECRET_KEY, &hex::encode(fresh)).await?;
    read(
        store::meta(&mut *conn, SECRET_KEY)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("{SECRET_KEY} not in node_meta")))?,
    )
}

async fn secret(state: &AppState) -> Result<Vec<u8>> {
    let mut conn = state.db.pool.acquire().await?;
    secret_in(&mut conn).await
}

fn mac(secret: &[u8], id: &str, expires_at: i64) -> Result<HmacSha256> {
    let mut m = HmacSha256::new_from_slice(secret)
        .map_err(|e| Error::Internal(anyhow::anyhow!("hmac key: {e}")))?;
    m.update(format!("{MAC_CONTEXT}:{id}:{expires_at}").as_bytes());
    Ok(m)
}

/// A token's parts, once its signature checked.
#[derive(Debug)]
struct Verified {
    id: String,
    expires_at: i64,
}

fn split(token: &str) -> Option<(&str, i64, &str)> {
    if token.len() > MAX_TOKEN_CHARS {
        return None;
    }
    let mut parts = token.split('.');
    let (id, exp, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some((id, exp.parse().ok()?, tag))
}

async fn verify_signature(state: &AppState, token: &str) -> Result<Verified, TokenProblem> {
    let (id, expires_at, tag) = split(token).ok_or(TokenProblem::Invalid)?;
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenProblem::Invalid)?;
    let secret = secret(state).await.map_err(|_| TokenProblem::Invalid)?;
    mac(&secret, id, expires_at)
        .map_err(|_| TokenProblem::Invalid)?
        .verify_slice(&tag)
        .map_err(|_| TokenProblem::Invalid)?;
    Ok(Verified {
        id: id.to_string(),
        expires_at,
    })
}

/// Issue a reset token for `user_id`, valid `ttl_ms`, inside `tx`; it
/// supersedes the account's earlier unused links. Returns the token (for
/// the link; it is not stored). Also for account creation mails.
pub async fn issue_token(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    ttl_ms: i64,
) -> Result<String> {
    let now = state.clock.now_ms();
    let expires_at = now.saturating_add(ttl_ms);
    let mut raw = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut raw);
    let id = b64(&raw);
    let tag = mac(&secret_in(&mut *tx).await?, &id, expires_at)?
        .finalize()
        .into_bytes();
    let token = format!("{id}.{expires_at}.{}", b64(&tag));
    // Superseded links, and anyone's links a day past their expiry.
    store::prune_resets(&mut *tx, user_id, now.saturating_sub(86_400_000)).await?;
    store::insert_reset(
        &mut *tx,
        (&id, user_id, &sha256_hex(token.as_bytes())),
        now,
        expires_at,
    )
    .await?;
    Ok(token)
}

/// The link a token opens.
pub fn link(state: &AppState, token: &str) -> String {
    state.mail.link(&format!("{RESET_PAGE}?jeton={token}"))
}

/// A reset request for `email` from `client`. Never says whether the
/// account exists; fails only when throttled (429) or on a store error.
/// The link, its mail and the `auth.password_reset_requested` audit row
/// are written in one transaction (the actor is the account the request
/// names, or [`ANONYMOUS`] when none does).
pub async fn request(state: &AppState, client: IpAddr, email: &str, via: Via) -> Result<()> {
    let key = account_key(email);
    state.login.admit(client, &key)?;
    let now = state.clock.now_ms();
    let normalised = normalise_email(email);
    let user = if normalised.len() <= 254 && !normalised.chars().any(char::is_control) {
        let mut conn = state.db.pool.acquire().await?;
        store::active_by_email(&mut conn, &normalised).await?
    } else {
        None
    };
    let settings = &state.config.auth.password_reset;
    let mut tx = state.db.begin().await?;
    let outcome = match &user {
        None => "unknown_account",
        Some(_) if !state.mail.enabled() => "mail_disabled",
        Some(u) => {
            let last = store::last_reset_at(&mut tx, &u.id).await?;
            let resend_ms = i64::from(settings.resend_after_secs) * 1000;
            if last.is_some_and(|t| now - t < resend_ms) {
                "recently_sent"
            } else {
                send_link(state, &mut tx, u).await?
            }
        }
    };
    if outcome == "mail_disabled" {
        tracing::warn!("password reset asked for an account, but mail is disabled on this node");
    }
    let (actor, kind, id) = match &user {
        Some(u) => (Actor::User(u.clone()), "user", u.id.clone()),
        None => (ANONYMOUS, "account", key),
    };
    crate::audit::append(
        &mut tx,
        &actor,
        "auth.password_reset_requested",
        (kind, &id),
        None,
        serde_json::json!({ "address": client.to_string(), "via": via.as_str(), "outcome": outcome }),
    )
    .await?;
    tx.commit().await?;
    if outcome == "queued" {
        state.mail.wake();
    }
    Ok(())
}

/// An admin sends account `user_id` a password reset link (the « send a
/// reset link » button of the users page): not throttled like the public
/// form, refused (409 `mail_disabled`) when the node sends no mail,
/// audited `user.password_reset_sent` in the link's transaction.
pub async fn send_by_admin(state: &AppState, actor: &Actor, user_id: &str) -> Result<()> {
    actor.user_with(&[super::Role::Admin])?;
    if !state.mail.enabled() {
        return Err(Error::Refused {
            code: "mail_disabled",
            message: "this node sends no e-mail: set the password with `vivier-node user password`"
                .into(),
        });
    }
    let user = super::user_by_id(&state.db, user_id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if user.disabled {
        return Err(Error::Refused {
            code: "account_disabled",
            message: "the account is disabled: re-enable it first".into(),
        });
    }
    let mut tx = state.db.begin().await?;
    match send_link(state, &mut tx, &user).await? {
        "queued" => {}
        "undeliverable" => {
            return Err(Error::field("email", "cannot be mailed to"));
        }
        other => {
            return Err(Error::Internal(anyhow::anyhow!(
                "reset link not sent: {other}"
            )));
        }
    }
    crate::audit::append(
        &mut tx,
        actor,
        "user.password_reset_sent",
        ("user", &user.id),
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    state.mail.wake();
    Ok(())
}

/// Issue a link for `user` and queue the mail in `tx` (the caller commits,
/// then wakes the mailer when `queued`). Nothing is written unless the
/// outcome is `queued`.
async fn send_link(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: &User,
) -> Result<&'static str> {
    let to = Recipient {
        address: &user.email,
        name: Some(&user.display_name),
    };
    if !state.mail.enabled() {
        return Ok("mail_disabled");
    }
    if !state.mail.deliverable(to) {
        return Ok("undeliverable");
    }
    let minutes = i64::from(state.config.auth.password_reset.link_ttl_minutes);
    let token = issue_token(state, tx, &user.id, minutes * 60_000).await?;
    let mail = Mail::PasswordReset {
        display_name: user.display_name.clone(),
        link: link(state, &token),
        valid_minutes: minutes,
    };
    match state.mail.enqueue(tx, to, &mail).await? {
        Queued::Queued(_) => Ok("queued"),
        Queued::Disabled => Err(Error::Internal(anyhow::anyhow!(
            "mail disabled while queueing a reset link"
        ))),
    }
}

/// The account a token would reset, if it may be used now (the web page
/// checks before showing its form; nothing is consumed).
pub async fn check(state: &AppState, token: &str) -> Result<User> {
    let v = verify_signature(state, token)
        .await
        .map_err(TokenProblem::error)?;
    let (user, _) = usable(state, &v, token).await?;
    Ok(user)
}

/// The stored reset of a verified token, if it may be used at `now`.
async fn usable(state: &AppState, v: &Verified, token: &str) -> Result<(User, i64)> {
    let now = state.clock.now_ms();
    if v.expires_at <= now {
        return Err(TokenProblem::Expired.error());
    }
    let row = {
        let mut conn = state.db.pool.acquire().await?;
        store::reset_by_id(&mut conn, &v.id).await?
    };
    let Some(row) = row else {
        return Err(TokenProblem::Invalid.error());
    };
    if row.token_hash != sha256_hex(token.as_bytes()) {
        return Err(TokenProblem::Invalid.error());
    }
    if row.used_at.is_some() {
        return Err(TokenProblem::Used.error());
    }
    if row.reset_expires_at <= now {
        return Err(TokenProblem::Expired.error());
    }
    let user = row.user();
    if user.disabled {
        return Err(TokenProblem::Invalid.error());
    }
    Ok((user, now))
}

/// Set a new password with a reset token, from `client`.
pub async fn confirm(
    state: &AppState,
    client: IpAddr,
    token: &str,
    password: &str,
    via: Via,
) -> Result<User> {
    // Each token (forged ones included) has its own bucket; the client
    // address's bucket bounds guessing.
    let bucket =
        sha256_hex(format!("password-reset:{}", token.split('.').next().unwrap_or("")).as_bytes());
    state.login.admit(client, &bucket)?;
    let details = |reason: &str| serde_json::json!({ "address": client.to_string(), "via": via.as_str(), "reason": reason });
    // A refusal changes nothing: its audit row alone, in its own
    // transaction.
    let refused = |problem: TokenProblem, target: Option<String>| async move {
        let mut tx = state.db.begin().await?;
        crate::audit::append(
            &mut tx,
            &ANONYMOUS,
            "auth.password_reset_refused",
            ("password_reset", target.as_deref().unwrap_or("-")),
            None,
            details(problem.code()),
        )
        .await?;
        tx.commit().await?;
        Err::<User, Error>(problem.error())
    };
    let v = match verify_signature(state, token).await {
        Ok(v) => v,
        Err(problem) => return refused(problem, None).await,
    };
    let (user, _) = match usable(state, &v, token).await {
        Ok(found) => found,
        Err(e) => match TokenProblem::of(&e) {
            Some(problem) => return refused(problem, Some(v.id.clone())).await,
            None => return Err(e),
        },
    };
    let policy = PasswordPolicy::from_config(&state.config);
    let hash = super::users::checked_hash(&policy, &user, password, "password").await?;
    let mut tx = state.db.begin().await?;
    let now = state.clock.now_ms();
    if !store::claim_reset(&mut tx, &v.id, now).await? {
        // Used by a concurrent request between the check and now.
        drop(tx);
        return refused(TokenProblem::Used, Some(v.id.clone())).await;
    }
    let ended = super::users::store_password(&mut tx, &user.id, &hash, None).await?;
    // A new password also lifts a lockout.
    store::clear_failures(&mut tx, &account_key(&user.email)).await?;
    crate::audit::append(
        &mut tx,
        &Actor::User(user.clone()),
        "auth.password_reset",
        ("user", &user.id),
        None,
        serde_json::json!({
            "address": client.to_string(), "via": via.as_str(), "reset_id": v.id, "sessions_ended": ended,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

/// The one answer to every reset request.
#[derive(Serialize, utoipa::ToSchema)]
struct Accepted {
    status: &'static str,
    detail: &'static str,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", security(()), request_body = ResetRequest,
    responses((status = 202, description = "Always accepted (never says whether the account exists)", body = Accepted)))]
async fn request_handler(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<(StatusCode, Json<Accepted>)> {
    request(&state, client, &req.email, Via::Api).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted",
            detail:
                "if an active account has this e-mail address, a reset link has been sent to it",
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    token: String,
    password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", security(()), request_body = ConfirmRequest,
    responses((status = 204, description = "Password set")))]
async fn confirm_handler(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> Result<StatusCode> {
    confirm(&state, client, &req.token, &req.password, Via::Api).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(request_handler, confirm_handler))]
pub(crate) struct Doc;

/// `POST /api/v1/auth/password-reset`, `POST /api/v1/auth/password-reset/confirm`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/password-reset", post(request_handler))
        .route("/api/v1/auth/password-reset/confirm", post(confirm_handler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_strictly() {
        assert_eq!(
            split("abc_-9.1700000000000.tag"),
            Some(("abc_-9", 1_700_000_000_000, "tag"))
        );
        assert_eq!(split("abc.notanumber.tag"), None);
        assert_eq!(split("abc.1.tag.extra"), None);
        assert_eq!(split(".1.tag"), None);
        assert_eq!(split("a b.1.tag"), None);
        assert_eq!(split(&format!("{}.1.t", "a".repeat(300))), None);
    }

    #[test]
    fn a_tag_binds_id_and_expiry() {
        let secret = [7u8; 32];
        let tag = mac(&secret, "abc", 42)
            .expect("mac")
            .finalize()
            .into_bytes();
        assert!(mac(&secret, "abc", 42)
            .expect("mac")
            .verify_slice(&tag)
            .is_ok());
        assert!(mac(&secret, "abc", 43)
            .expect("mac")
            .verify_slice(&tag)
            .is_err());
        assert!(mac(&secret, "abd", 42)
            .expect("mac")
            .verify_slice(&tag)
            .is_err());
        assert!(mac(&[8u8; 32], "abc", 42)
            .expect("mac")
            .verify_slice(&tag)
            .is_err());
    }

    #[test]
    fn problems_round_trip_through_errors() {
        for p in [
            TokenProblem::Invalid,
            TokenProblem::Expired,
            TokenProblem::Used,
        ] {
            assert_eq!(TokenProblem::of(&p.error()), Some(p));
            assert!(!p.french().is_empty());
        }
        assert_eq!(TokenProblem::of(&Error::field("password", "weak")), None);
    }
}
