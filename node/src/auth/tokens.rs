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
use sqlx::Row;

use super::{user_from_row, Role, User, USER_COLUMNS};
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
    let token = new_token("viv");
    let id = new_id();
    sqlx::query(
        "INSERT INTO auth_tokens (token_hash, id, user_id, kind, label, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(sha256_hex(token.as_bytes()))
    .bind(&id)
    .bind(user_id)
    .bind(kind.as_str())
    .bind(name)
    .bind(now)
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    if kind == TokenKind::Session {
        // Sessions that ended long ago are of no use to anyone.
        sqlx::query("DELETE FROM auth_tokens WHERE kind = 'session' AND expires_at < $1")
            .bind(now - 7 * 86_400_000)
            .execute(&db.pool)
            .await?;
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

/// Create a named API token at `now`, audited as done by `actor` (`None`:
/// the operator, through the CLI).
pub async fn create_api_token(
    db: &Db,
    config: &crate::auth::settings::TokenConfig,
    now: i64,
    actor: Option<&User>,
    req: TokenRequest<'_>,
    via: &str,
) -> Result<IssuedToken> {
    let owner = req.owner;
    let name = valid_name(req.name)?;
    let ttl = lifetime_ms(config, req.days)?;
    let issued = issue(db, now, &owner.id, TokenKind::Api, Some(&name), now + ttl).await?;
    crate::audit::record(
        db,
        actor,
        "token.create",
        "token",
        &issued.id,
        None,
        serde_json::json!({
            "user_id": owner.id, "name": name, "expires_at": issued.expires_at, "via": via,
        }),
    )
    .await?;
    Ok(issued)
}

fn info_from_row(r: &sqlx::any::AnyRow, now: i64) -> Result<TokenInfo> {
    let expires_at: Option<i64> = r.try_get("expires_at")?;
    Ok(TokenInfo {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get::<Option<String>, _>("label")?.unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        expires_at,
        last_used_at: r.try_get("last_used_at")?,
        expired: expires_at.is_some_and(|e| e <= now),
    })
}

const INFO_COLUMNS: &str = "id, user_id, label, created_at, expires_at, last_used_at";

/// The API tokens of `user_id`, newest first.
pub async fn list(db: &Db, user_id: &str, now: i64) -> Result<Vec<TokenInfo>> {
    let rows = sqlx::query(&format!(
        "SELECT {INFO_COLUMNS} FROM auth_tokens WHERE user_id = $1 AND kind = 'api' \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| info_from_row(r, now)).collect()
}

/// Revoke the API token `id`. A user may revoke their own; an admin
/// anyone's (`actor` `None`: the operator through the CLI). Anything else
/// is `NotFound`, so token ids cannot be probed.
pub async fn revoke(
    db: &Db,
    now: i64,
    actor: Option<&User>,
    id: &str,
    via: &str,
) -> Result<TokenInfo> {
    let row = sqlx::query(&format!(
        "SELECT {INFO_COLUMNS} FROM auth_tokens WHERE id = $1 AND kind = 'api'"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    let info = match row {
        Some(r) => info_from_row(&r, now)?,
        None => return Err(Error::NotFound("token")),
    };
    if let Some(a) = actor {
        if a.role != Role::Admin && a.id != info.user_id {
            return Err(Error::NotFound("token"));
        }
    }
    sqlx::query("DELETE FROM auth_tokens WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    crate::audit::record(
        db,
        actor,
        "token.revoke",
        "token",
        id,
        None,
        serde_json::json!({ "user_id": info.user_id, "name": info.name, "via": via }),
    )
    .await?;
    Ok(info)
}

/// Revoke a token by its secret (logout). Unknown secrets are ignored.
pub async fn revoke_secret(db: &Db, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
        .bind(sha256_hex(token.as_bytes()))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Resolve a bearer or session token to its user at `now` (expired
/// tokens and disabled users resolve to nothing). Notes when the token was
/// last used, to the minute.
pub async fn user_for_token(db: &Db, token: &str, now: i64) -> Result<Option<User>> {
    let hash = sha256_hex(token.as_bytes());
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, t.last_used_at AS token_last_used FROM auth_tokens t \
         JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND u.disabled = 0 AND (t.expires_at IS NULL OR t.expires_at > $2)"
    ))
    .bind(&hash)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let last: Option<i64> = row.try_get("token_last_used")?;
    if last.is_none_or(|l| now - l >= LAST_USED_PRECISION_MS) {
        sqlx::query("UPDATE auth_tokens SET last_used_at = $2 WHERE token_hash = $1")
            .bind(&hash)
            .bind(now)
            .execute(&db.pool)
            .await?;
    }
    user_from_row(&row).map(Some)
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
        Some(&user),
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
    let owner = match q.user_id {
        Some(id) if id != user.id => {
            user.require(&[Role::Admin])?;
            id
        }
        _ => user.id.clone(),
    };
    Ok(Json(crate::http::Page::slice(
        list(&state.db, &owner, state.clock.now_ms()).await?,
        paging,
    )))
}

#[utoipa::path(delete, path = "/api/v1/auth/tokens/{id}", tag = "auth", params(("id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked")))]
async fn revoke_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    revoke(&state.db, state.clock.now_ms(), Some(&user), &id, "api").await?;
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
