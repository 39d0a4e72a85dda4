//! The accounts' store: every SQL statement on `users`, `auth_tokens`,
//! `password_resets`, `login_failures` and the password-reset secret in
//! `node_meta`, as typed functions over a connection — a transaction's
//! (`&mut tx`) or one taken from the pool. Rows come back as `FromRow`
//! structs ([`UserRow`], [`TokenRow`], [`ResetRow`]); the role is stored
//! through one mapping ([`Role`]'s `as_str` in, its `TryFrom<String>` out).
//! Nothing here knows about policy, audit or HTTP: the services in
//! `auth.rs`, `users.rs`, `tokens.rs`, `reset.rs`, `login.rs` and
//! `throttle.rs` decide and audit.

use sqlx::AnyConnection;

use super::{Role, User};
use crate::db::Backend;
use crate::error::{Error, Result};

/// Columns of `users` (alias `u`) that make a [`UserRow`].
const USER_COLUMNS: &str =
    "u.id, u.email, u.display_name, u.role, u.employer_name, u.employer_siret, u.disabled";

/// One row of `users`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    display_name: String,
    #[sqlx(try_from = "String")]
    role: Role,
    employer_name: Option<String>,
    employer_siret: Option<String>,
    disabled: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            role: r.role,
            employer_name: r.employer_name,
            employer_siret: r.employer_siret,
            disabled: r.disabled != 0,
        }
    }
}

/// A user and their password hash (login).
#[derive(Debug, sqlx::FromRow)]
struct LoginRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

/// A new account's columns.
pub(crate) struct NewUserRow<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub employer_name: Option<&'a str>,
    pub employer_siret: Option<&'a str>,
    pub created_at: i64,
}

/// Insert an account; a taken e-mail is a `Conflict`.
pub(crate) async fn insert_user(conn: &mut AnyConnection, new: &NewUserRow<'_>) -> Result<()> {
    let res = sqlx::query(
        "INSERT INTO users (id, email, display_name, role, password_hash, employer_name, employer_siret, disabled, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)",
    )
    .bind(new.id)
    .bind(new.email)
    .bind(new.display_name)
    .bind(new.role.as_str())
    .bind(new.password_hash)
    .bind(new.employer_name)
    .bind(new.employer_siret)
    .bind(new.created_at)
    .execute(conn)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::Conflict(format!(
            "a user with e-mail {} already exists",
            new.email
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The active account with this (normalised) e-mail.
pub(crate) async fn active_by_email(conn: &mut AnyConnection, email: &str) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1 AND u.disabled = 0"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(User::from))
}

/// The active account with this (normalised) e-mail and its password hash.
pub(crate) async fn login_account(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<(User, String)>> {
    let row: Option<LoginRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = $1 AND u.disabled = 0"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (User::from(r.user), r.password_hash)))
}

/// The account `id` (disabled or not); `lock` takes its row lock on
/// PostgreSQL (SQLite's write transaction is already exclusive).
pub(crate) async fn user_by_id(
    conn: &mut AnyConnection,
    id: &str,
    lock: Option<Backend>,
) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1{}",
        for_update(lock)
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(User::from))
}

fn for_update(lock: Option<Backend>) -> &'static str {
    if lock == Some(Backend::Postgres) {
        " FOR UPDATE"
    } else {
        ""
    }
}

/// Every account, by e-mail.
pub(crate) async fn list_users(conn: &mut AnyConnection) -> Result<Vec<User>> {
    let rows: Vec<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u ORDER BY u.email"
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(User::from).collect())
}

/// Lock the active admins (PostgreSQL) so two demotions cannot both pass
/// the last-admin check.
pub(crate) async fn lock_active_admins(conn: &mut AnyConnection, backend: Backend) -> Result<()> {
    sqlx::query(&format!(
        "SELECT id FROM users WHERE role = 'admin' AND disabled = 0{}",
        for_update(Some(backend))
    ))
    .fetch_all(conn)
    .await?;
    Ok(())
}

/// The active admins other than `id`.
pub(crate) async fn other_active_admins(conn: &mut AnyConnection, id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await?)
}

/// Set an account's role and status.
pub(crate) async fn set_role_and_status(
    conn: &mut AnyConnection,
    id: &str,
    role: Role,
    disabled: bool,
) -> Result<()> {
    sqlx::query("UPDATE users SET role = $2, disabled = $3 WHERE id = $1")
        .bind(id)
        .bind(role.as_str())
        .bind(crate::db::b(disabled))
        .execute(conn)
        .await?;
    Ok(())
}

/// A staff member's work phone.
pub(crate) async fn phone(conn: &mut AnyConnection, id: &str) -> Result<Option<String>> {
    let phone: Option<Option<String>> = sqlx::query_scalar("SELECT phone FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(phone.flatten())
}

/// Set (or clear) a work phone.
pub(crate) async fn set_phone(
    conn: &mut AnyConnection,
    id: &str,
    phone: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE users SET phone = $2 WHERE id = $1")
        .bind(id)
        .bind(phone)
        .execute(conn)
        .await?;
    Ok(())
}

/// A user's password hash.
pub(crate) async fn password_hash(conn: &mut AnyConnection, id: &str) -> Result<String> {
    Ok(
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(conn)
            .await?,
    )
}

/// Store a password hash.
pub(crate) async fn set_password_hash(
    conn: &mut AnyConnection,
    id: &str,
    hash: &str,
) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether account `id` exists.
pub(crate) async fn user_exists(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// Where to mail account `id`: its address and name, if it exists and is
/// not disabled.
pub(crate) async fn mail_contact(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(String, String)>> {
    let row: Option<(String, String, i64)> =
        sqlx::query_as("SELECT email, display_name, disabled FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row
        .filter(|(_, _, disabled)| *disabled == 0)
        .map(|(email, name, _)| (email, name)))
}

// ---- tokens ----

/// A token to store (its secret's hash only).
pub(crate) struct NewToken<'a> {
    pub token_hash: &'a str,
    pub id: &'a str,
    pub user_id: &'a str,
    pub kind: &'static str,
    pub name: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Insert a token.
pub(crate) async fn insert_token(conn: &mut AnyConnection, t: &NewToken<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO auth_tokens (token_hash, id, user_id, kind, label, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(t.token_hash)
    .bind(t.id)
    .bind(t.user_id)
    .bind(t.kind)
    .bind(t.name)
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Delete sessions that expired before `before`.
pub(crate) async fn prune_sessions(conn: &mut AnyConnection, before: i64) -> Result<()> {
    sqlx::query("DELETE FROM auth_tokens WHERE kind = 'session' AND expires_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(())
}

/// One API token as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub id: String,
    pub user_id: String,
    pub label: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, user_id, label, created_at, expires_at, last_used_at";

/// The API tokens of `user_id`, newest first.
pub(crate) async fn api_tokens_of(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<TokenRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM auth_tokens WHERE user_id = $1 AND kind = 'api' \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}

/// The API token `id`.
pub(crate) async fn api_token(conn: &mut AnyConnection, id: &str) -> Result<Option<TokenRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM auth_tokens WHERE id = $1 AND kind = 'api'"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Delete the token `id`.
pub(crate) async fn delete_token(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM auth_tokens WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Delete the token whose secret hashes to `hash`.
pub(crate) async fn delete_token_by_hash(conn: &mut AnyConnection, hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Delete every token (sessions and API) of `user_id`; how many.
pub(crate) async fn delete_tokens_of(conn: &mut AnyConnection, user_id: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}

/// End `user_id`'s sessions except the one hashing to `keep_hash`; how
/// many.
pub(crate) async fn end_sessions_except(
    conn: &mut AnyConnection,
    user_id: &str,
    keep_hash: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM auth_tokens WHERE user_id = $1 AND kind = 'session' AND token_hash <> $2",
    )
    .bind(user_id)
    .bind(keep_hash)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A token's user, with when the token was last used.
#[derive(Debug, sqlx::FromRow)]
struct TokenUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    token_last_used: Option<i64>,
}

/// The active user of a live token (hash), and the token's last use.
pub(crate) async fn user_for_token_hash(
    conn: &mut AnyConnection,
    hash: &str,
    now: i64,
) -> Result<Option<(User, Option<i64>)>> {
    let row: Option<TokenUserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS}, t.last_used_at AS token_last_used FROM auth_tokens t \
         JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND u.disabled = 0 AND (t.expires_at IS NULL OR t.expires_at > $2)"
    ))
    .bind(hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (User::from(r.user), r.token_last_used)))
}

/// Note when a token was last used.
pub(crate) async fn touch_token(conn: &mut AnyConnection, hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE auth_tokens SET last_used_at = $2 WHERE token_hash = $1")
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

// ---- password resets ----

/// A `node_meta` value.
pub(crate) async fn meta(conn: &mut AnyConnection, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM node_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?,
    )
}

/// Set a `node_meta` value unless one is there (the first writer wins).
pub(crate) async fn meta_insert_if_absent(
    conn: &mut AnyConnection,
    key: &str,
    value: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO node_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

/// Delete `user_id`'s unused links, and anyone's that expired before
/// `expired_before`.
pub(crate) async fn prune_resets(
    conn: &mut AnyConnection,
    user_id: &str,
    expired_before: i64,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM password_resets WHERE (user_id = $1 AND used_at IS NULL) OR expires_at < $2",
    )
    .bind(user_id)
    .bind(expired_before)
    .execute(conn)
    .await?;
    Ok(())
}

/// Store a reset link (its token's hash only).
pub(crate) async fn insert_reset(
    conn: &mut AnyConnection,
    (id, user_id, token_hash): (&str, &str, &str),
    created_at: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(user_id)
    .bind(token_hash)
    .bind(created_at)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// When `user_id` was last sent a link.
pub(crate) async fn last_reset_at(conn: &mut AnyConnection, user_id: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT MAX(created_at) FROM password_resets WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(conn)
            .await?,
    )
}

/// A stored reset link with its account.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ResetRow {
    #[sqlx(flatten)]
    user: UserRow,
    pub token_hash: String,
    pub used_at: Option<i64>,
    pub reset_expires_at: i64,
}

impl ResetRow {
    /// The account the link resets.
    pub fn user(&self) -> User {
        User::from(self.user.clone())
    }
}

/// The reset link `id` and its account.
pub(crate) async fn reset_by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<ResetRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS}, r.token_hash, r.used_at, r.expires_at AS reset_expires_at \
         FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Mark link `id` used at `now` if it still may be; whether it was.
pub(crate) async fn claim_reset(conn: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE password_resets SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

// ---- login failures ----

/// The end of `key`'s lock, if any was set.
pub(crate) async fn locked_until(conn: &mut AnyConnection, key: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE account_key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?,
    )
}

/// Count a failure on `key` at `now` (restarting from 1 when the last one
/// is older than `forget_before`); the count.
pub(crate) async fn bump_failures(
    conn: &mut AnyConnection,
    key: &str,
    now: i64,
    forget_before: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO login_failures (account_key, failures, last_failure_at, locked_until) \
         VALUES ($1, 1, $2, 0) \
         ON CONFLICT (account_key) DO UPDATE SET \
           failures = CASE WHEN login_failures.last_failure_at < $3 THEN 1 \
                           ELSE login_failures.failures + 1 END, \
           last_failure_at = $2 \
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(forget_before)
    .fetch_one(conn)
    .await?)
}

/// Lock `key` until `until`.
pub(crate) async fn lock_account(conn: &mut AnyConnection, key: &str, until: i64) -> Result<()> {
    sqlx::query("UPDATE login_failures SET locked_until = $2 WHERE account_key = $1")
        .bind(key)
        .bind(until)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forget rows neither locked at `now` nor remembered since
/// `forget_before`.
pub(crate) async fn prune_failures(
    conn: &mut AnyConnection,
    forget_before: i64,
    now: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE last_failure_at < $1 AND locked_until < $2")
        .bind(forget_before)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forget `key`'s failures; whether there were any.
pub(crate) async fn clear_failures(conn: &mut AnyConnection, key: &str) -> Result<bool> {
    Ok(
        sqlx::query("DELETE FROM login_failures WHERE account_key = $1")
            .bind(key)
            .execute(conn)
            .await?
            .rows_affected()
            > 0,
    )
}
