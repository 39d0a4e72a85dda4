//! Accounts, roles and tokens.
//!
//! Users have one role: `admin` (runs the node, reads the audit log),
//! `counsellor` (conseiller: manages the candidathèque, refers candidates),
//! `employer` (posts offers, sees only the referrals made to its own offers).
//! The people in the candidathèque are a fourth, separate role: the
//! candidate (`crate::space`), with its own accounts, sessions and cookie;
//! the [`User`] extractor refuses them on every route it guards.
//! Passwords are argon2id hashes; session and API tokens are random 256-bit
//! secrets stored as SHA-256 hashes. Clients send `Authorization: Bearer
//! <token>` (API) or the `vivier_session` cookie (web UI).
//!
//! Abuse limits live in submodules: [`login`] (throttled, locked-out,
//! audited logins), [`throttle`] (limiters, lockout store, client address),
//! [`password`] (the one password policy), [`tokens`] (named, expiring,
//! listable, revocable API tokens), [`users`] (admin-only, audited role and
//! status changes; password changes), [`reset`] (password reset by e-mail),
//! [`settings`] (`[auth]` config).

pub mod cli;
pub mod login;
pub mod password;
pub mod reset;
pub mod settings;
pub(crate) mod store;
pub mod throttle;
pub mod tokens;
pub mod users;

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::db::Db;
use crate::error::{ApiJson, Error, Result};
use crate::server::AppState;
use crate::util::{new_id, now_ms};

pub use login::verify_password;
pub use password::{PasswordOwner, PasswordPolicy};
pub use tokens::{revoke_secret as revoke_token, user_for_token};

/// Session lifetime (web and API login).
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;
/// Prefix of the cookie carrying the session token for the web UI.
pub const SESSION_COOKIE: &str = "vivier_session";

/// The session cookie's name on node `node_id`: `vivier_session_<node_id>`.
/// Browsers keep cookies per host, not per port, so two nodes on one host
/// (the demo network, a mission running a test node beside its own) would
/// otherwise log each other's users out.
pub fn session_cookie_name(node_id: &str) -> String {
    format!("{SESSION_COOKIE}_{node_id}")
}

/// A user's role on this node. Stored by its snake_case name (`as_str`)
/// and read back through strum's `TryFrom<String>`: one mapping.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Node administrator.
    Admin,
    /// Conseiller of the mission Emploi.
    Counsellor,
    /// Employer posting offers.
    Employer,
}

impl Role {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The role in French, lower case, as a message names it
    /// (« conseiller »).
    pub fn label_fr(self) -> &'static str {
        match self {
            Role::Admin => "administrateur",
            Role::Counsellor => "conseiller",
            Role::Employer => "employeur",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Role> {
        s.parse().ok()
    }
}

impl TryFrom<String> for Role {
    type Error = strum::ParseError;

    fn try_from(s: String) -> std::result::Result<Role, strum::ParseError> {
        s.parse()
    }
}

/// Who may manage accounts: an admin, or the operator (the node's command
/// line, `Actor::System`). Anyone else is `Forbidden`.
pub(crate) fn admin_or_operator(actor: &Actor) -> Result<()> {
    match actor {
        Actor::System(_) => Ok(()),
        _ => actor.user_with(&[Role::Admin]).map(|_| ()),
    }
}

/// An authenticated user.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Identifier.
    pub id: String,
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Employer name (employers).
    pub employer_name: Option<String>,
    /// Employer SIRET (employers).
    pub employer_siret: Option<String>,
    /// Disabled accounts cannot log in and their tokens authenticate nothing.
    pub disabled: bool,
}

impl User {
    /// Fail with `Forbidden` unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }

    /// Admin or counsellor: the node's staff, who may see candidates.
    pub fn require_staff(&self) -> Result<()> {
        self.require(&[Role::Admin, Role::Counsellor])
    }
}

/// A user to create.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Password: checked by the node's [`PasswordPolicy`], never trimmed.
    /// Through the API it may be left out when the node sends e-mail: the
    /// account holder then receives a link to choose it
    /// ([`create_account`]).
    #[serde(default)]
    pub password: String,
    /// Employer name (required for employers).
    #[serde(default)]
    pub employer_name: Option<String>,
    /// Employer SIRET (14 digits).
    #[serde(default)]
    pub employer_siret: Option<String>,
}

/// Check an e-mail address loosely (one `@`, a dot in the domain).
pub fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !email.contains(' ')
                && !email.chars().any(char::is_control)
        }
        _ => false,
    }
}

/// Check a SIRET: 14 digits.
pub fn valid_siret(siret: &str) -> bool {
    siret.len() == 14 && siret.bytes().all(|b| b.is_ascii_digit())
}

fn validate_new_user(u: &NewUser, policy: &PasswordPolicy) -> Result<()> {
    let mut errs = Vec::new();
    if !valid_email(&u.email) {
        errs.push(crate::error::FieldError::new(
            "email",
            "not a valid e-mail address",
        ));
    }
    if u.display_name.trim().is_empty() {
        errs.push(crate::error::FieldError::new(
            "display_name",
            "must not be empty",
        ));
    }
    for (field, value) in [
        ("display_name", Some(&u.display_name)),
        ("employer_name", u.employer_name.as_ref()),
    ] {
        if value.is_some_and(|v| v.chars().any(char::is_control)) {
            errs.push(crate::error::FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
    }
    let owner = PasswordOwner {
        email: &u.email,
        display_name: &u.display_name,
        employer_name: u.employer_name.as_deref(),
    };
    if let Err(problem) = policy.check(&u.password, &owner) {
        errs.push(problem.field_error("password"));
    }
    if u.role == Role::Employer
        && u.employer_name
            .as_deref()
            .is_none_or(|n| n.trim().is_empty())
    {
        errs.push(crate::error::FieldError::new(
            "employer_name",
            "required for employers",
        ));
    }
    if let Some(s) = &u.employer_siret {
        if !valid_siret(s) {
            errs.push(crate::error::FieldError::new(
                "employer_siret",
                "must be 14 digits",
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errs))
    }
}

/// Hash a password with argon2id (blocking; call from `spawn_blocking`).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("argon2: {e}")))
}

/// Create a user (validated, the password by `policy`; duplicate e-mail is
/// a conflict). For the operator's CLI, the demo and tests, who act as the
/// node itself: audited `user.create` by the system actor in the same
/// transaction; people create accounts through [`create_account`].
pub async fn create_user(db: &Db, policy: &PasswordPolicy, new: NewUser) -> Result<User> {
    let (new, hash) = checked_new_user(policy, new, true).await?;
    let mut tx = db.begin().await?;
    let user = insert_user(&mut tx, &new, &hash).await?;
    crate::audit::append(
        &mut tx,
        &Actor::System("cli"),
        "user.create",
        ("user", &user.id),
        None,
        serde_json::json!({"role": user.role, "password": "set"}),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Validates `new` and hashes its password off the async threads (zxcvbn
/// and argon2 are CPU-bound). Without `password_required`, an empty
/// password stands for "the holder chooses it by e-mail": a random one is
/// hashed instead, that nobody knows.
async fn checked_new_user(
    policy: &PasswordPolicy,
    mut new: NewUser,
    password_required: bool,
) -> Result<(NewUser, String)> {
    let policy = policy.clone();
    tokio::task::spawn_blocking(move || {
        let by_mail = !password_required && new.password.is_empty();
        if by_mail {
            new.password = random_password();
        }
        validate_new_user(&new, &policy)?;
        let hash = hash_password(&new.password)?;
        if by_mail {
            new.password.clear();
        }
        Ok::<_, Error>((new, hash))
    })
    .await?
}

fn random_password() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    format!(
        "!{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
    )
}

async fn insert_user(conn: &mut sqlx::AnyConnection, new: &NewUser, hash: &str) -> Result<User> {
    let email = new.email.trim().to_lowercase();
    let id = new_id();
    store::insert_user(
        conn,
        &store::NewUserRow {
            id: &id,
            email: &email,
            display_name: new.display_name.trim(),
            role: new.role,
            password_hash: hash,
            employer_name: new.employer_name.as_deref(),
            employer_siret: new.employer_siret.as_deref(),
            created_at: now_ms(),
        },
    )
    .await?;
    Ok(User {
        id,
        email,
        display_name: new.display_name.trim().to_string(),
        role: new.role,
        employer_name: new.employer_name.clone(),
        employer_siret: new.employer_siret.clone(),
        disabled: false,
    })
}

/// How long the « choose your password » link of a new account is valid.
pub const ACCOUNT_LINK_HOURS: i64 = 72;

/// What [`create_account`] did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedAccount {
    /// The account.
    #[serde(flatten)]
    pub user: User,
    /// Whether an « account created » e-mail was queued (always when no
    /// password was given).
    pub welcome_mail: bool,
}

/// Create an account as `actor` (an admin): validated, audited `user.create`
/// in the same transaction and, when mail is enabled, an « account created »
/// e-mail queued in it too — with a link to choose the password (valid
/// [`ACCOUNT_LINK_HOURS`]) when none was given. Without mail, a password is
/// required (field error).
pub async fn create_account(
    state: &AppState,
    actor: &Actor,
    new: NewUser,
) -> Result<CreatedAccount> {
    actor.user_with(&[Role::Admin])?;
    let mailing = state.mail.enabled();
    if new.password.is_empty() && !mailing {
        return Err(Error::Validation(vec![crate::error::FieldError::new(
            "password",
            "required: this node sends no e-mail, so the account holder cannot choose it by link",
        )]));
    }
    let (new, hash) =
        checked_new_user(&PasswordPolicy::from_config(&state.config), new, false).await?;
    let mut tx = state.db.begin().await?;
    let user = insert_user(&mut tx, &new, &hash).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "user.create",
        ("user", &user.id),
        None,
        serde_json::json!({"role": user.role, "password": if new.password.is_empty() { "by_mail" } else { "set" }}),
    )
    .await?;
    let mut welcome_mail = false;
    if mailing {
        let link = if new.password.is_empty() {
            let token =
                reset::issue_token(state, &mut tx, &user.id, ACCOUNT_LINK_HOURS * 3_600_000)
                    .await?;
            reset::link(state, &token)
        } else {
            state.mail.link("/ui/connexion")
        };
        let mail = crate::mail::Mail::AccountCreated {
            display_name: user.display_name.clone(),
            email: user.email.clone(),
            role: user.role.label_fr().to_string(),
            link,
            valid_hours: ACCOUNT_LINK_HOURS,
        };
        let to = crate::mail::Recipient {
            address: &user.email,
            name: Some(&user.display_name),
        };
        state.mail.enqueue(&mut tx, to, &mail).await?;
        welcome_mail = true;
    }
    tx.commit().await?;
    if welcome_mail {
        state.mail.wake();
    }
    Ok(CreatedAccount { user, welcome_mail })
}

/// Find a user by e-mail.
pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    let mut conn = db.pool.acquire().await?;
    store::active_by_email(&mut conn, &email.trim().to_lowercase()).await
}

/// Find a user by id.
pub async fn user_by_id(db: &Db, id: &str) -> Result<Option<User>> {
    let mut conn = db.pool.acquire().await?;
    store::user_by_id(&mut conn, id, None).await
}

/// A staff member's work phone (`None` when not given).
pub async fn user_phone(db: &Db, id: &str) -> Result<Option<String>> {
    let mut conn = db.pool.acquire().await?;
    store::phone(&mut conn, id).await
}

/// Set (or clear, with a blank) one's own work phone, the number employers
/// see on the referrals one makes. Checked like a candidate's phone;
/// audited `user.phone`.
pub async fn set_own_phone(db: &Db, user: &User, phone: &str) -> Result<Option<String>> {
    let phone = Some(phone.trim().to_string()).filter(|p| !p.is_empty());
    if let Some(p) = &phone {
        if !crate::candidates::valid_phone(p) {
            return Err(Error::field(
                "phone",
                "expected 6 to 20 digits (spaces, +, ., -, parentheses allowed)",
            ));
        }
    }
    let mut tx = db.begin().await?;
    store::set_phone(&mut tx, &user.id, phone.as_deref()).await?;
    crate::audit::append(
        &mut tx,
        &crate::actor::Actor::User(user.clone()),
        "user.phone",
        ("user", &user.id),
        None,
        serde_json::json!({ "set": phone.is_some() }),
    )
    .await?;
    tx.commit().await?;
    Ok(phone)
}

/// List users (the operator's command line and the node's own pages; people
/// list them through [`list_users_as`]).
pub async fn list_users(db: &Db) -> Result<Vec<User>> {
    let mut conn = db.pool.acquire().await?;
    store::list_users(&mut conn).await
}

/// List users as `actor`: admins (or the operator) only.
pub async fn list_users_as(db: &Db, actor: &Actor) -> Result<Vec<User>> {
    admin_or_operator(actor)?;
    list_users(db).await
}

/// The raw token of a request, from `Authorization: Bearer` or the session
/// cookie of node `node_id` ([`session_cookie_name`]).
pub fn token_from_headers(headers: &axum::http::HeaderMap, node_id: &str) -> Option<String> {
    let cookie_name = session_cookie_name(node_id);
    if let Some(v) = headers.get(axum::http::header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        return v
            .strip_prefix("Bearer ")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
    }
    for cookie in headers.get_all(axum::http::header::COOKIE) {
        let Ok(s) = cookie.to_str() else { continue };
        for pair in s.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == cookie_name && !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

impl FromRequestParts<AppState> for User {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<User>() {
            return Ok(user.clone());
        }
        let user = match token_from_headers(&parts.headers, &state.config.node_id) {
            Some(token) => user_for_token(&state.db, &token, state.clock.now_ms()).await?,
            None => None,
        };
        let Some(user) = user else {
            // The one gate between the candidate space and every staff or
            // employer route: a candidate session is refused here (403,
            // audited `access.refused`), never resolved to a user.
            return Err(crate::space::refuse_staff_route(parts, state).await);
        };
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// The "why" of a read, from the `X-Vivier-Reason` header (recorded in the
/// audit log).
#[derive(Clone, Debug, Default)]
pub struct Reason(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Reason {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let r = parts
            .headers
            .get("x-vivier-reason")
            // UTF-8 accepted (French reasons have accents).
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(|s| s.chars().take(500).collect::<String>())
            .filter(|s| !s.trim().is_empty());
        Ok(Reason(r))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct LoginResponse {
    token: String,
    expires_at: i64,
    user: User,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, description = "A session token", body = LoginResponse)))]
async fn login_handler(
    State(state): State<AppState>,
    throttle::ClientAddr(client): throttle::ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>> {
    let done = login::login(&state, client, &req.email, &req.password, login::Via::Api).await?;
    Ok(Json(LoginResponse {
        token: done.session.token,
        expires_at: done.session.expires_at,
        user: done.user,
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "The session or token is revoked")))]
async fn logout_handler(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::http::StatusCode> {
    if let Some(t) = token_from_headers(&headers, &state.config.node_id) {
        revoke_token(&state.db, &t).await?;
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, description = "The caller's account", body = User)))]
async fn me_handler(user: User) -> Json<User> {
    Json(user)
}

#[utoipa::path(get, path = "/api/v1/users", tag = "auth", params(crate::http::PageParams),
    responses((status = 200, description = "Accounts by e-mail (admins)", body = crate::http::Page<User>)))]
async fn list_users_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, _): crate::http::Paged<crate::http::page::NoFilter>,
) -> Result<Json<crate::http::Page<User>>> {
    Ok(Json(crate::http::Page::slice(
        list_users_as(&state.db, &Actor::User(user)).await?,
        paging,
    )))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body = NewUser,
    responses((status = 201, description = "The account (admins)", body = CreatedAccount)))]
async fn create_user_handler(
    State(state): State<AppState>,
    user: User,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<(axum::http::StatusCode, Json<CreatedAccount>)> {
    let created = create_account(&state, &Actor::User(user), new).await?;
    Ok((axum::http::StatusCode::CREATED, Json(created)))
}

/// The OpenAPI paths of the accounts API (this module and its children).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    login_handler,
    logout_handler,
    me_handler,
    list_users_handler,
    create_user_handler
))]
struct Doc;

/// The OpenAPI document of `/api/v1/auth…`, `/me…` and `/users…`.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = Doc::openapi();
    doc.merge(tokens::Doc::openapi());
    doc.merge(users::Doc::openapi());
    doc.merge(reset::Doc::openapi());
    doc
}

/// Routes: login, logout, me, tokens, users.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login_handler))
        .route("/api/v1/auth/logout", post(logout_handler))
        .route("/api/v1/me", get(me_handler))
        .route(
            "/api/v1/users",
            get(list_users_handler).post(create_user_handler),
        )
        .merge(tokens::routes())
        .merge(users::routes())
        .merge(reset::routes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_and_siret_checks() {
        assert!(valid_email("conseillere@mission-emploi.fr"));
        assert!(!valid_email("pas une adresse"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("nul\u{0}@exemple.fr"));
        assert!(valid_siret("12345678901234"));
        assert!(!valid_siret("1234"));
    }

    #[test]
    fn password_hash_roundtrip() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
    }
}
