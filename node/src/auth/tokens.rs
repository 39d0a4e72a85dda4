//! Session and API tokens.
//!
//! A token is a random 256-bit secret shown once; the node keeps its
//! SHA-256 and an `id` by which it is listed and revoked. API tokens have a
//! name and an expiry (`[auth.tokens]`: default and maximum lifetime in
//! days); sessions last [`SESSION_TTL_MS`](super::SESSION_TTL_MS).
//!
//! - `POST /api/v1/auth/tokens` `{name, expires_in_days?}` → 201 with the
//!   secret (only time it is shown);
//! - `GET /api/v1/auth/tokens` lists the caller's API tokens (never the
//!   secrets); an admin may add `?user_id=`;
//! - `DELETE /api/v1/auth/tokens/{id}` revokes one: one's own, or anyone's
//!   for an admin (others get 404, as if it did not exist).
//!
//! Creation and revocation are audited (`token.create`, `token.revoke`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{store, Role, User};
use crate::actor::Actor;
use crate::db::Db;
use crate::error::{ApiJson, Error, FieldError, Result};
use crate::server::AppState;
use crate::util::{new_id, new_token, sha256_hex};

/// `last_used_at` is written at most this often per token.
const LAST_USED_PRECISION_MS: i64 = 60_000;
/// Longest token name.
const MAX_NAME_CHARS: usize = 100;

/// Kinds of token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Web or API login session.
    Session,
    /// Named API token for scripts.
    Api,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }
}

/// A freshly issued token: the only time its secret is seen.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// Id, to list and revoke it.
    pub id: String,
    /// The secret (`viv_…`), for `Authorization: Bearer`.
    pub token: String,
    /// Name (API tokens).
    pub name: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
}

/// An API token as listed (never the secret).
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Name.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; `None` only for tokens that never expire (none are issued).
    pub expires_at: Option<i64>,
    /// Unix ms, to the minute.
    pub last_used_at: Option<i64>,
    /// Whether it has expired (an expired token authenticates nothing).
    pub expired: bool,
}

/// Store a new token for `user_id`, valid until `expires_at`.
pub async fn issue(
    db: &Db,
    now: i64,
    user_id: &str,
    kind: TokenKind,
    name: Option<&str>,
    expires_at: i64,
) -> Result<IssuedToken> {
    let mut conn = db.pool.acquire().await?;
    issue_in(&mut conn, now, user_id, kind, name, expires_at).await
}

/// [`issue`] on `conn` (a caller's transaction).
pub async fn issue_in(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    user_id: &str,
    kind: TokenKind,
    name: Option<&str>,
    expires_at: i64,
) -> Result<IssuedToken> {
    let token = new_token("viv");
    let id = new_id();
    store::insert_token(
        conn,
        &store::NewToken {
            token_hash: &sha256_hex(token.as_bytes()),
            id: &id,
            user_id,
            kind: kind.as_str(),
            name,
            created_at: now,
            expires_at,
        },
    )
    .await?;
    if kind == TokenKind::Session {
        // Sessions that ended long ago are of no use to anyone.
        store::prune_sessions(conn, now - 7 * 86_400_000).await?;
    }
    Ok(IssuedToken {
        id,
        token,
        name: name.map(str::to_string),
        created_at: now,
        expires_at,
    })
}

/// Check a token name: 1–100 characters after trimming, no control
/// characters. Returns it trimmed.
pub fn valid_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(Error::field("name", "must not be empty"));
    }
    if n.chars().count() > MAX_NAME_CHARS {
        return Err(Error::field(
            "name",
            format!("at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if n.chars().any(char::is_control) {
        return Err(Error::field("name", "must not contain control characters"));
    }
    Ok(n.to_string())
}

/// The lifetime asked for, checked against `[auth.tokens]`, in ms.
pub fn lifetime_ms(config: &crate::auth::settings::TokenConfig, days: Option<i64>) -> Result<i64> {
    let days = days.unwrap_or(i64::from(config.default_days));
    if days < 1 || days > i64::from(config.max_days) {
        return Err(Error::Validation(vec![FieldError::coded(
            "expires_in_days",
            "token_lifetime",
            format!("must be between 1 and {}", config.max_days),
        )]));
    }
    Ok(days * 86_400_000)
}

/// What a new API token is: whose, called what, for how long.
#[derive(Clone, Copy, Debug)]
pub struct TokenRequest<'a> {
    /// Owner.
    pub owner: &'a User,
    /// Name (checked by [`valid_name`]).
    pub name: &'a str,
    /// Lifetime in days (`None`: the configured default).
    pub days: Option<i64>,
}

/// Create a named API token at `now` as `actor`: the owner themself, or
/// the operator through the CLI (`Actor::System`); anyone else is refused.
/// Audited `token.create` in the token's transaction.
pub async fn create_api_token(
    db: &Db,
    config: &crate::auth::settings::TokenConfig,
    now: i64,
    actor: &Actor,
    req: TokenRequest<'_>,
    via: &str,
) -> Result<IssuedToken> {
    let owner = req.owner;
    match actor {
        Actor::System(_) => {}
        Actor::User(u) if u.id == owner.id => {}
        _ => return Err(Error::Forbidden),
    }
    let name = valid_name(req.name)?;
    let ttl = lifetime_ms(config, req.days)?;
    let mut tx = db.begin().await?;
    let issued = issue_in(
        &mut tx,
        now,
        &owner.id,
        TokenKind::Api,
        Some(&name),
        now + ttl,
    )
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "token.create",
        ("token", &issued.id),
        None,
        serde_json::json!({
            "user_id": owner.id, "name": name, "expires_at": issued.expires_at, "via": via,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(issued)
}

fn info_from_row(r: store::TokenRow, now: i64) -> TokenInfo {
    TokenInfo {
        expired: r.expires_at.is_some_and(|e| e <= now),
        id: r.id,
        user_id: r.user_id,
        name: r.label.unwrap_or_default(),
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_used_at: r.last_used_at,
    }
}

/// The API tokens of `user_id`, newest first.
pub async fn list(db: &Db, user_id: &str, now: i64) -> Result<Vec<TokenInfo>> {
    let mut conn = db.pool.acquire().await?;
    Ok(store::api_tokens_of(&mut conn, user_id)
        .await?
        .into_iter()
        .map(|r| info_from_row(r, now))
        .collect())
}

/// The API tokens of `owner` (the caller's own when `None`) as `actor`:
/// one's own, or anyone's for an admin (or the operator).
pub async fn list_as(
    db: &Db,
    actor: &Actor,
    owner: Option<&str>,
    now: i64,
) -> Result<Vec<TokenInfo>> {
    let own = actor.user().map(|u| u.id.as_str());
    let owner = match (owner, own) {
        (Some(id), Some(me)) if id == me => me,
        (Some(id), _) => {
            super::admin_or_operator(actor)?;
            id
        }
        (None, Some(me)) => me,
        (None, None) => return Err(Error::Forbidden),
    };
    list(db, owner, now).await
}

/// Revoke the API token `id`. A user may revoke their own; an admin
/// anyone's (and the operator, `Actor::System`, through the CLI). Anything
/// else is `NotFound`, so token ids cannot be probed. Audited
/// `token.revoke` in the revocation's transaction.
pub async fn revoke(db: &Db, now: i64, actor: &Actor, id: &str, via: &str) -> Result<TokenInfo> {
    let mut tx = db.begin().await?;
    let info = match store::api_token(&mut tx, id).await? {
        Some(r) => info_from_row(r, now),
        None => return Err(Error::NotFound("token")),
    };
    match actor {
        Actor::System(_) => {}
        Actor::User(a) if a.role == Role::Admin || a.id == info.user_id => {}
        _ => return Err(Error::NotFound("token")),
    }
    store::delete_token(&mut tx, id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "token.revoke",
        ("token", id),
        None,
        serde_json::json!({ "user_id": info.user_id, "name": info.name, "via": via }),
    )
    .await?;
    tx.commit().await?;
    Ok(info)
}

/// Revoke a token by its secret (logout). Unknown secrets are ignored.
pub async fn revoke_secret(db: &Db, token: &str) -> Result<()> {
    let mut conn = db.pool.acquire().await?;
    store::delete_token_by_hash(&mut conn, &sha256_hex(token.as_bytes())).await
}

/// Resolve a bearer or session token to its user at `now` (expired
/// tokens and disabled users resolve to nothing). Notes when the token was
/// last used, to the minute.
pub async fn user_for_token(db: &Db, token: &str, now: i64) -> Result<Option<User>> {
    let hash = sha256_hex(token.as_bytes());
    let mut conn = db.pool.acquire().await?;
    let Some((user, last)) = store::user_for_token_hash(&mut conn, &hash, now).await? else {
        return Ok(None);
    };
    if last.is_none_or(|l| now - l >= LAST_USED_PRECISION_MS) {
        store::touch_token(&mut conn, &hash, now).await?;
    }
    Ok(Some(user))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    /// What the token is for (`label` accepted for older clients).
    #[serde(alias = "label")]
    name: String,
    /// Lifetime in days (default and maximum in `[auth.tokens]`).
    #[serde(default)]
    expires_in_days: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/auth/tokens", tag = "auth", request_body = CreateRequest,
    responses((status = 201, description = "The token (its secret shown this once)", body = IssuedToken)))]
async fn create_handler(
    State(state): State<AppState>,
    user: User,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<IssuedToken>)> {
    let issued = create_api_token(
        &state.db,
        &state.config.auth.tokens,
        state.clock.now_ms(),
        &Actor::User(user.clone()),
        TokenRequest {
            owner: &user,
            name: &req.name,
            days: req.expires_in_days,
        },
        "api",
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Another account's tokens (admins).
    #[serde(default)]
    user_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/auth/tokens", tag = "auth", params(crate::http::PageParams, ListQuery),
    responses((status = 200, description = "The caller's tokens (admins: anyone's)", body = crate::http::Page<TokenInfo>)))]
async fn list_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, q): crate::http::Paged<ListQuery>,
) -> Result<Json<crate::http::Page<TokenInfo>>> {
    let tokens = list_as(
        &state.db,
        &Actor::User(user),
        q.user_id.as_deref(),
        state.clock.now_ms(),
    )
    .await?;
    Ok(Json(crate::http::Page::slice(tokens, paging)))
}

#[utoipa::path(delete, path = "/api/v1/auth/tokens/{id}", tag = "auth", params(("id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked")))]
async fn revoke_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    revoke(
        &state.db,
        state.clock.now_ms(),
        &Actor::User(user),
        &id,
        "api",
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create_handler, list_handler, revoke_handler))]
pub(crate) struct Doc;

/// `POST`/`GET /api/v1/auth/tokens`, `DELETE /api/v1/auth/tokens/{id}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/auth/tokens",
            get(list_handler).post(create_handler),
        )
        .route("/api/v1/auth/tokens/{id}", delete(revoke_handler))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::settings::TokenConfig;

    #[test]
    fn names_and_lifetimes_are_checked() {
        assert_eq!(
            valid_name("  export nocturne ").expect("ok"),
            "export nocturne"
        );
        assert!(valid_name("   ").is_err());
        assert!(valid_name(&"x".repeat(101)).is_err());
        assert!(valid_name("a\u{7}b").is_err());
        let c = TokenConfig::default();
        assert_eq!(lifetime_ms(&c, None).expect("default"), 90 * 86_400_000);
        assert_eq!(lifetime_ms(&c, Some(365)).expect("max"), 365 * 86_400_000);
        assert!(lifetime_ms(&c, Some(366)).is_err());
        assert!(lifetime_ms(&c, Some(0)).is_err());
        assert!(lifetime_ms(&c, Some(-5)).is_err());
    }
}
