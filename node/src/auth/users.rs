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

use super::throttle::{self, ClientAddr};
use super::{admin_or_operator, hash_password, store, Reason, Role, User};
use super::{PasswordOwner, PasswordPolicy};
use crate::actor::Actor;
use crate::db::Db;
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

/// Change an account's role or status. `actor` must be an admin (or the
/// operator through the CLI, `Actor::System`): anyone else is refused
/// before anything is read or written. Audited `user.update` with the
/// reason given, in the change's transaction.
pub async fn update_user(
    db: &Db,
    actor: &Actor,
    id: &str,
    change: &UserUpdate,
    reason: Option<&str>,
    via: &str,
) -> Result<User> {
    admin_or_operator(actor)?;
    let mut tx = db.begin().await?;
    // Lock the active admins (PostgreSQL; SQLite's write transaction is
    // already exclusive) so two demotions cannot both pass the check below.
    store::lock_active_admins(&mut tx, db.backend).await?;
    let before = store::user_by_id(&mut tx, id, Some(db.backend))
        .await?
        .ok_or(Error::NotFound("user"))?;
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
    if active_admin(before.role, before.disabled)
        && !active_admin(role, disabled)
        && store::other_active_admins(&mut tx, id).await? == 0
    {
        return Err(Error::Refused {
            code: "last_admin",
            message: "the last active administrator can be neither demoted nor disabled".into(),
        });
    }
    store::set_role_and_status(&mut tx, id, role, disabled).await?;
    let revoked = if disabled && !before.disabled {
        store::delete_tokens_of(&mut tx, id).await?
    } else {
        0
    };
    crate::audit::append(
        &mut tx,
        actor,
        "user.update",
        ("user", id),
        reason,
        serde_json::json!({
            "before": { "role": before.role, "disabled": before.disabled },
            "after": { "role": role, "disabled": disabled },
            "tokens_revoked": revoked,
            "via": via,
        }),
    )
    .await?;
    tx.commit().await?;
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

/// Store `hash` as `user_id`'s password in `conn` (a transaction) and end
/// their sessions except `keep_session` (a token secret). Returns the
/// sessions ended.
pub async fn store_password(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    hash: &str,
    keep_session: Option<&str>,
) -> Result<u64> {
    let keep = keep_session
        .map(|t| crate::util::sha256_hex(t.as_bytes()))
        .unwrap_or_default();
    store::set_password_hash(conn, user_id, hash).await?;
    store::end_sessions_except(conn, user_id, &keep).await
}

/// Whether `actor` may set `user`'s password: the account holder, or the
/// operator (`Actor::System`, `vivier-node user password`).
fn own_or_operator(actor: &Actor, user: &User) -> Result<()> {
    match actor {
        Actor::System(_) => Ok(()),
        Actor::User(u) if u.id == user.id => Ok(()),
        _ => Err(Error::Forbidden),
    }
}

/// Set `user`'s password (checked by the node's policy), end their
/// sessions except `keep_session` (a token secret) and lift a lockout, as
/// `actor` (the account holder, or the operator): one transaction with its
/// `user.password_change` audit row.
pub async fn set_password(
    db: &Db,
    policy: &PasswordPolicy,
    actor: &Actor,
    user: &User,
    new_password: &str,
    keep_session: Option<&str>,
    via: &str,
) -> Result<()> {
    own_or_operator(actor, user)?;
    let hash = checked_hash(policy, user, new_password, "new_password").await?;
    let mut tx = db.begin().await?;
    let ended = store_password(&mut tx, &user.id, &hash, keep_session).await?;
    // A new password also lifts a lockout.
    store::clear_failures(&mut tx, &throttle::account_key(&user.email)).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "user.password_change",
        ("user", &user.id),
        None,
        serde_json::json!({ "sessions_ended": ended, "via": via }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lift a login lockout on `user` (an admin, or the operator). Returns
/// whether there was anything to lift; audited `auth.unlock` in the same
/// transaction.
pub async fn unlock(db: &Db, actor: &Actor, user: &User, via: &str) -> Result<bool> {
    admin_or_operator(actor)?;
    let mut tx = db.begin().await?;
    let cleared = store::clear_failures(&mut tx, &throttle::account_key(&user.email)).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "auth.unlock",
        ("user", &user.id),
        None,
        serde_json::json!({ "cleared": cleared, "via": via }),
    )
    .await?;
    tx.commit().await?;
    Ok(cleared)
}

/// [`unlock`] the account `id` (refused before the account is looked up).
pub async fn unlock_by_id(db: &Db, actor: &Actor, id: &str, via: &str) -> Result<bool> {
    admin_or_operator(actor)?;
    let target = super::user_by_id(db, id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    unlock(db, actor, &target, via).await
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
    let updated = update_user(
        &state.db,
        &Actor::User(user),
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
    unlock_by_id(&state.db, &Actor::User(user), &id, "api").await?;
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
    let hash = {
        let mut conn = state.db.pool.acquire().await?;
        store::password_hash(&mut conn, &user.id).await?
    };
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
        &Actor::User(user.clone()),
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
