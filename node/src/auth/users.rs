//! Changes to existing accounts: who owns what and who sees what only
//! change through explicit, audited actions.
//!
//! - `PATCH /api/v1/users/{id}` `{role?, disabled?}`: admin only, audited
//!   `user.update` with the state before and after; the last active admin
//!   can be neither demoted nor disabled (409); disabling revokes the
//!   account's sessions and tokens. The CLI (`vivier-node user update`)
//!   calls the same function as the operator.
//! - `POST /api/v1/me/password` `{current_password, new_password}`: a user
//!   changes their own password (throttled like a login, checked by the
//!   password policy, audited `user.password_change`; other sessions end).
//!   The operator resets one with `vivier-node user password`.
//! - `POST /api/v1/users/{id}/unlock` (admin) and `vivier-node user unlock`
//!   clear a login lockout, audited `auth.unlock`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::throttle::{self, ClientAddr};
use super::{hash_password, user_by_id, user_from_row, Reason, Role, User, USER_COLUMNS};
use super::{PasswordOwner, PasswordPolicy};
use crate::db::{Backend, Db};
use crate::error::{ApiJson, Error, Result};
use crate::server::AppState;

/// What an admin may change on an account.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// Disable (true) or re-enable (false) the account.
    #[serde(default)]
    pub disabled: Option<bool>,
}

fn active_admin(role: Role, disabled: bool) -> bool {
    role == Role::Admin && !disabled
}

/// Change an account's role or status. `actor` must be an admin (`None`:
/// the operator through the CLI). Audited with the reason given.
pub async fn update_user(
    db: &Db,
    actor: Option<&User>,
    id: &str,
    change: &UserUpdate,
    reason: Option<&str>,
    via: &str,
) -> Result<User> {
    if let Some(a) = actor {
        a.require(&[Role::Admin])?;
    }
    let pg = db.backend == Backend::Postgres;
    let lock = if pg { " FOR UPDATE" } else { "" };
    let mut tx = db.begin().await?;
    // Lock the active admins (PostgreSQL; SQLite's write transaction is
    // already exclusive) so two demotions cannot both pass the check below.
    sqlx::query(&format!(
        "SELECT id FROM users WHERE role = 'admin' AND disabled = 0{lock}"
    ))
    .fetch_all(&mut *tx)
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let before = match row {
        Some(r) => user_from_row(&r)?,
        None => return Err(Error::NotFound("user")),
    };
    let role = change.role.unwrap_or(before.role);
    let disabled = change.disabled.unwrap_or(before.disabled);
    if role == before.role && disabled == before.disabled {
        return Ok(before);
    }
    if role == Role::Employer
        && before
            .employer_name
            .as_deref()
            .is_none_or(|n| n.trim().is_empty())
    {
        return Err(Error::field(
            "role",
            "an employer account needs an employer name; create a new employer account instead",
        ));
    }
    if active_admin(before.role, before.disabled) && !active_admin(role, disabled) {
        let others: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if others == 0 {
            return Err(Error::Refused {
                code: "last_admin",
                message: "the last active administrator can be neither demoted nor disabled".into(),
            });
        }
    }
    sqlx::query("UPDATE users SET role = $2, disabled = $3 WHERE id = $1")
        .bind(id)
        .bind(role.as_str())
        .bind(crate::db::b(disabled))
        .execute(&mut *tx)
        .await?;
    let revoked = if disabled && !before.disabled {
        sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
    } else {
        0
    };
    tx.commit().await?;
    crate::audit::record(
        db,
        actor,
        "user.update",
        "user",
        id,
        reason,
        serde_json::json!({
            "before": { "role": before.role, "disabled": before.disabled },
            "after": { "role": role, "disabled": disabled },
            "tokens_revoked": revoked,
            "via": via,
        }),
    )
    .await?;
    Ok(User {
        role,
        disabled,
        ..before
    })
}

/// Check `new_password` for `user` against `policy` and hash it (off the
/// async threads); a refusal is a validation error on `field`.
pub async fn checked_hash(
    policy: &PasswordPolicy,
    user: &User,
    new_password: &str,
    field: &'static str,
) -> Result<String> {
    let policy = policy.clone();
    let (pw, email, name, employer) = (
        new_password.to_string(),
        user.email.clone(),
        user.display_name.clone(),
        user.employer_name.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let owner = PasswordOwner {
            email: &email,
            display_name: &name,
            employer_name: employer.as_deref(),
        };
        policy.check(&pw, &owner).map_err(|p| p.into_error(field))?;
        hash_password(&pw)
    })
    .await?
}

/// Store `hash` as `user_id`'s password in `tx` and end their sessions
/// except `keep_session` (a token secret). Returns the sessions ended.
pub async fn store_password(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    hash: &str,
    keep_session: Option<&str>,
) -> Result<u64> {
    let keep = keep_session
        .map(|t| crate::util::sha256_hex(t.as_bytes()))
        .unwrap_or_default();
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(&mut **tx)
        .await?;
    Ok(sqlx::query(
        "DELETE FROM auth_tokens WHERE user_id = $1 AND kind = 'session' AND token_hash <> $2",
    )
    .bind(user_id)
    .bind(&keep)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Set `user`'s password (checked by the node's policy), end their
/// sessions except `keep_session` (a token secret), audit it as done by
/// `actor` (`None`: the operator).
pub async fn set_password(
    db: &Db,
    policy: &PasswordPolicy,
    actor: Option<&User>,
    user: &User,
    new_password: &str,
    keep_session: Option<&str>,
    via: &str,
) -> Result<()> {
    let hash = checked_hash(policy, user, new_password, "new_password").await?;
    let mut tx = db.begin().await?;
    let ended = store_password(&mut tx, &user.id, &hash, keep_session).await?;
    tx.commit().await?;
    // A new password also lifts a lockout.
    throttle::clear_failures(db, &throttle::account_key(&user.email)).await?;
    crate::audit::record(
        db,
        actor,
        "user.password_change",
        "user",
        &user.id,
        None,
        serde_json::json!({ "sessions_ended": ended, "via": via }),
    )
    .await
}

/// Lift a login lockout on `user` (admin, or the operator when `actor` is
/// `None`). Returns whether there was anything to lift.
pub async fn unlock(db: &Db, actor: Option<&User>, user: &User, via: &str) -> Result<bool> {
    if let Some(a) = actor {
        a.require(&[Role::Admin])?;
    }
    let cleared = throttle::clear_failures(db, &throttle::account_key(&user.email)).await?;
    crate::audit::record(
        db,
        actor,
        "auth.unlock",
        "user",
        &user.id,
        None,
        serde_json::json!({ "cleared": cleared, "via": via }),
    )
    .await?;
    Ok(cleared)
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "auth", params(("id" = String, Path, description = "Account id")),
    request_body = UserUpdate,
    responses((status = 200, description = "The account after the change (admins)", body = User)))]
async fn update_handler(
    State(state): State<AppState>,
    user: User,
    Reason(reason): Reason,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<UserUpdate>,
) -> Result<Json<User>> {
    user.require(&[Role::Admin])?;
    let updated = update_user(
        &state.db,
        Some(&user),
        &id,
        &change,
        reason.as_deref(),
        "api",
    )
    .await?;
    Ok(Json(updated))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/unlock", tag = "auth", params(("id" = String, Path, description = "Account id")),
    responses((status = 204, description = "Login lockout lifted (admins)")))]
async fn unlock_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    user.require(&[Role::Admin])?;
    let target = user_by_id(&state.db, &id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    unlock(&state.db, Some(&user), &target, "api").await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Check `user`'s current password, throttled like a login attempt from
/// `client` (a stolen session must not become a password oracle).
pub async fn check_current_password(
    state: &AppState,
    client: std::net::IpAddr,
    user: &User,
    password: &str,
) -> Result<()> {
    state
        .login
        .admit(client, &throttle::account_key(&user.email))?;
    let hash: String = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(&user.id)
        .fetch_one(&state.db.pool)
        .await?
        .try_get("password_hash")?;
    let pw = password.to_string();
    let _slot = state.login.verification_slot().await?;
    let ok = tokio::task::spawn_blocking(move || super::verify_password(&pw, &hash)).await?;
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "current_password",
            "is not the current password",
        ))
    }
}

#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "Password changed; other sessions revoked")))]
async fn change_password_handler(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    user: User,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode> {
    check_current_password(&state, client, &user, &req.current_password).await?;
    let current = super::token_from_headers(&headers, &state.config.node_id);
    set_password(
        &state.db,
        &PasswordPolicy::from_config(&state.config),
        Some(&user),
        &user,
        &req.new_password,
        current.as_deref(),
        "api",
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(update_handler, unlock_handler, change_password_handler))]
pub(crate) struct Doc;

/// `PATCH /api/v1/users/{id}`, `POST /api/v1/users/{id}/unlock`,
/// `POST /api/v1/me/password`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/{id}", patch(update_handler))
        .route("/api/v1/users/{id}/unlock", post(unlock_handler))
        .route("/api/v1/me/password", post(change_password_handler))
}
