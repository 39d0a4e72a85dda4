//! The candidate space: the people in the candidathèque get their own
//! access to their own record (web pages under `/moi/`, `ui/moi.rs`).
//!
//! - **Invitation, not registration**: a counsellor invites the person from
//!   their record ([`invite`]): a single-use link, valid
//!   `[candidate_space] invitation_ttl_hours`, mailed through the mail
//!   outbox and shown to the counsellor to copy into an SMS. Only the
//!   newest invitation of a record works. The person then chooses a
//!   password, or none and logs in with e-mailed links
//!   ([`request_login_link`], valid `login_link_ttl_minutes`, single use).
//! - **One account, one record, this node**: a `candidate_accounts` row
//!   belongs to exactly one record (no identity across records or nodes);
//!   erasing the record deletes the account and its sessions (foreign key
//!   cascade), so access ends with the data.
//! - **A separate principal**: candidate sessions live in their own table
//!   and cookie (`vivier_moi_<node id>`, path `/moi`), resolved only by the
//!   [`CandidateUser`] extractor. The staff `User` extractor never resolves
//!   them: a request to a staff route carrying a candidate session is
//!   refused (403) and audited `access.refused` ([`refuse_staff_route`]),
//!   in one place for the whole API and UI. Domain functions take
//!   [`Actor::Candidate`], which `Actor::staff()` refuses and
//!   [`Actor::own_record`] limits to the person's record.
//! - Logins share the staff's throttle, lockout and audit
//!   (`auth::login::check_password`); every read of the record, of its
//!   matches and every export is audited with the person as actor.
//! - What the person does that the counsellor should know (a correction,
//!   a CV, consent, « Ça m'intéresse », an erasure request) is a
//!   `candidate_notices` row written in the same transaction, shown on the
//!   record and on the counsellor's dashboard.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::auth::login::{self, Account, Via};
use crate::auth::throttle::{account_key, normalise_email};
use crate::auth::{PasswordOwner, PasswordPolicy};
use crate::candidates::{Candidate, ConsentScope};
use crate::db::Db;
use crate::error::{Error, FieldError, Result};
use crate::mail::{Mail, Recipient};
use crate::server::AppState;
use crate::util::{new_id, new_token, sha256_hex};

/// `[candidate_space]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CandidateSpaceConfig {
    /// How long an invitation link works (hours).
    pub invitation_ttl_hours: i64,
    /// How long a passwordless login link works (minutes).
    pub login_link_ttl_minutes: i64,
    /// A person is mailed at most one login link per this many seconds.
    pub login_link_resend_secs: i64,
    /// Days the counsellor has to confirm an erasure request (shown on
    /// their dashboard, late ones first).
    pub erasure_confirm_days: i64,
}

impl Default for CandidateSpaceConfig {
    fn default() -> Self {
        CandidateSpaceConfig {
            invitation_ttl_hours: 72,
            login_link_ttl_minutes: 30,
            login_link_resend_secs: 60,
            erasure_confirm_days: 30,
        }
    }
}

/// Prefix of the candidate session cookie.
pub const COOKIE: &str = "vivier_moi";
/// Prefix of candidate session tokens (never a staff token's `viv_`).
const TOKEN_PREFIX: &str = "vmo";
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The candidate cookie's name on node `node_id`.
pub fn cookie_name(node_id: &str) -> String {
    format!("{COOKIE}_{node_id}")
}

/// A person signed in to their candidate space.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct CandidateUser {
    /// `candidate_accounts.id` (the audit log's actor id).
    pub account_id: String,
    /// Their record, the only one they may see.
    pub candidate_id: String,
    /// Login e-mail.
    pub email: String,
}

/// The candidate session token of a request: the `vivier_moi_<node>`
/// cookie, or a bearer token with the candidate prefix.
pub fn token_from_headers(headers: &axum::http::HeaderMap, node_id: &str) -> Option<String> {
    if let Some(v) = headers.get(axum::http::header::AUTHORIZATION) {
        let t = v.to_str().ok()?.strip_prefix("Bearer ")?.trim();
        if t.starts_with(&format!("{TOKEN_PREFIX}_")) {
            return Some(t.to_string());
        }
    }
    let name = cookie_name(node_id);
    for cookie in headers.get_all(axum::http::header::COOKIE) {
        let Ok(s) = cookie.to_str() else { continue };
        for pair in s.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == name && !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

/// The person a session token belongs to at `now` (none once the record
/// is anonymised for retention: the access ends with the data).
pub async fn person_for_token(db: &Db, token: &str, now: i64) -> Result<Option<CandidateUser>> {
    let mut conn = db.pool.acquire().await?;
    store::person_for_session(&mut conn, &sha256_hex(token.as_bytes()), now).await
}

impl FromRequestParts<AppState> for CandidateUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<CandidateUser>() {
            return Ok(p.clone());
        }
        let token = token_from_headers(&parts.headers, &state.config.node_id)
            .ok_or(Error::Unauthenticated)?;
        let person = person_for_token(&state.db, &token, state.clock.now_ms())
            .await?
            .ok_or(Error::Unauthenticated)?;
        parts.extensions.insert(person.clone());
        Ok(person)
    }
}

/// Called by the staff `User` extractor when a request resolves to no
/// staff account: if it carries a live candidate session, the person is
/// trying a staff route. Audited `access.refused` (method and path, never
/// the body) and answered `Forbidden`; otherwise `Unauthenticated`.
pub async fn refuse_staff_route(parts: &Parts, state: &AppState) -> Error {
    let Some(token) = token_from_headers(&parts.headers, &state.config.node_id) else {
        return Error::Unauthenticated;
    };
    match person_for_token(&state.db, &token, state.clock.now_ms()).await {
        Ok(Some(person)) => {
            let path: String = parts.uri.path().chars().take(300).collect();
            let audited = async {
                let mut conn = state.db.pool.acquire().await?;
                crate::audit::append(
                    &mut conn,
                    &Actor::Candidate(person),
                    "access.refused",
                    ("route", &path),
                    None,
                    serde_json::json!({ "method": parts.method.as_str() }),
                )
                .await
            }
            .await;
            match audited {
                Ok(()) => Error::Forbidden,
                Err(e) => e,
            }
        }
        Ok(None) => Error::Unauthenticated,
        Err(e) => e,
    }
}

/// A session just issued.
#[derive(Debug, Clone)]
pub struct Session {
    /// The secret (cookie value).
    pub token: String,
    /// Unix ms.
    pub expires_at: i64,
}

async fn issue_session(
    conn: &mut sqlx::AnyConnection,
    account_id: &str,
    now: i64,
) -> Result<Session> {
    let token = new_token(TOKEN_PREFIX);
    let expires_at = now + crate::auth::SESSION_TTL_MS;
    store::insert_session(
        conn,
        &sha256_hex(token.as_bytes()),
        account_id,
        now,
        expires_at,
    )
    .await?;
    store::delete_sessions_expired_before(conn, now - 7 * DAY_MS).await?;
    Ok(Session { token, expires_at })
}

/// End a session (logout).
pub async fn end_session(db: &Db, token: &str) -> Result<()> {
    let mut conn = db.pool.acquire().await?;
    store::delete_session(&mut conn, &sha256_hex(token.as_bytes())).await
}

// ---------------------------------------------------------------------------
// Invitations and links

/// An invitation just issued: the link (to copy into an SMS) and whether it
/// was also mailed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    /// `<base>/moi/invitation?jeton=…`.
    pub link: String,
    /// Unix ms.
    pub expires_at: i64,
    /// The e-mail it was queued to (`None`: mail is off).
    pub mailed_to: Option<String>,
}

/// Whether the record already has an account, and its e-mail.
pub async fn account_of(db: &Db, candidate_id: &str) -> Result<Option<String>> {
    let mut conn = db.pool.acquire().await?;
    store::account_email_of(&mut conn, candidate_id).await
}

fn link_url(state: &AppState, path: &str, token: &str) -> String {
    let base = state
        .config
        .mail
        .base_url
        .clone()
        .unwrap_or_else(|| state.config.public_url());
    format!("{}{path}?jeton={token}", base.trim_end_matches('/'))
}

/// Invite the person of record `candidate_id` to their space (staff). The
/// record needs an e-mail address (the person's login) and no account yet;
/// older unused invitations stop working. Audited `candidate.invite`.
pub async fn invite(state: &AppState, actor: &Actor, candidate_id: &str) -> Result<Invitation> {
    actor.staff()?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let (c, meta) = crate::candidates::load_locked(&mut tx, candidate_id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let Some(email) = c.email.clone() else {
        return Err(Error::Validation(vec![FieldError::coded(
            "email",
            "email_required",
            "the record needs the person's e-mail address: it is their login",
        )]));
    };
    match store::record_with_email(&mut tx, &email).await? {
        Some(id) if id == candidate_id => {
            return Err(Error::Conflict(
                "this person already has access to their space".into(),
            ))
        }
        Some(_) => {
            return Err(Error::Conflict(
                "another record of this node has access with this e-mail address".into(),
            ))
        }
        None => {}
    }
    store::delete_unused_invitations(&mut tx, candidate_id).await?;
    let token = new_token("inv");
    let hours = state.config.candidate_space.invitation_ttl_hours;
    let expires_at = now + hours * HOUR_MS;
    insert_link(
        &mut tx,
        &token,
        candidate_id,
        "invitation",
        actor,
        now,
        expires_at,
    )
    .await?;
    let link = link_url(state, "/moi/invitation", &token);
    let queued = state
        .mail
        .enqueue(
            &mut tx,
            Recipient {
                address: &email,
                name: None,
            },
            &Mail::CandidateInvitation {
                link: link.clone(),
                valid_hours: hours,
            },
        )
        .await?;
    let mailed = !matches!(queued, crate::mail::Queued::Disabled);
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.invite",
        ("candidate", candidate_id),
        None,
        serde_json::json!({ "mailed": mailed, "expires_at": expires_at }),
    )
    .await?;
    tx.commit().await?;
    state.mail.wake();
    Ok(Invitation {
        link,
        expires_at,
        mailed_to: mailed.then_some(email),
    })
}

async fn insert_link(
    conn: &mut sqlx::AnyConnection,
    token: &str,
    candidate_id: &str,
    kind: &str,
    actor: &Actor,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    let created_by = actor.audit_fields().0;
    store::insert_link(
        conn,
        &store::NewLink {
            token_hash: &sha256_hex(token.as_bytes()),
            candidate_id,
            kind,
            created_by: created_by.as_deref(),
            created_at: now,
            expires_at,
        },
    )
    .await
}

/// Codes of a refused link (field `token`).
fn link_refused(code: &'static str, message: &str) -> Error {
    Error::Validation(vec![FieldError::coded("token", code, message)])
}

/// Check a link of `kind` inside `tx` and mark it used. Returns the record.
async fn take_link(
    conn: &mut sqlx::AnyConnection,
    token: &str,
    kind: &str,
    now: i64,
) -> Result<String> {
    let hash = sha256_hex(token.as_bytes());
    let row = store::link(conn, &hash, kind)
        .await?
        .ok_or_else(|| link_refused("link_invalid", "unknown or replaced link"))?;
    if row.used_at.is_some() {
        return Err(link_refused("link_used", "this link has already been used"));
    }
    if row.expires_at <= now {
        return Err(link_refused("link_expired", "this link has expired"));
    }
    store::mark_link_used(conn, &hash, now).await?;
    Ok(row.candidate_id)
}

/// What an invitation link shows before it is used: nothing but whether it
/// works (the page names no one).
pub async fn check_invitation(state: &AppState, token: &str) -> Result<()> {
    let mut tx = state.db.begin().await?;
    // Checked in a transaction that is rolled back: the link stays unused.
    take_link(&mut tx, token, "invitation", state.clock.now_ms()).await?;
    tx.rollback().await?;
    Ok(())
}

/// Accept an invitation: the account is created with `password` (checked
/// by the node's policy) or without one (e-mailed links only), the link is
/// spent and a session begins. Audited `candidate_space.access_created`.
pub async fn accept_invitation(
    state: &AppState,
    token: &str,
    password: Option<&str>,
) -> Result<(CandidateUser, Session)> {
    let now = state.clock.now_ms();
    // Validate the link first (cheap), then the password (slow), then do
    // everything in one transaction.
    check_invitation(state, token).await?;
    let candidate_id = {
        let mut conn = state.db.pool.acquire().await?;
        store::link_record(&mut conn, &sha256_hex(token.as_bytes())).await?
    };
    let c = crate::candidates::get_candidate(&state.db, &candidate_id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let email = c.email.clone().ok_or(Error::Conflict(
        "the record has no e-mail address any more".into(),
    ))?;
    let password_hash = match password {
        Some(pw) => Some(hash_checked(state, &c, &email, pw).await?),
        None => None,
    };
    let mut tx = state.db.begin().await?;
    let candidate_id = take_link(&mut tx, token, "invitation", now).await?;
    let person = CandidateUser {
        account_id: new_id(),
        candidate_id: candidate_id.clone(),
        email,
    };
    if !store::insert_account(&mut tx, &person, password_hash.as_deref(), now).await? {
        return Err(Error::Conflict(
            "this person already has access to their space".into(),
        ));
    }
    let session = issue_session(&mut tx, &person.account_id, now).await?;
    crate::audit::append(
        &mut tx,
        &Actor::Candidate(person.clone()),
        "candidate_space.access_created",
        ("candidate", &candidate_id),
        None,
        serde_json::json!({ "password": password_hash.is_some() }),
    )
    .await?;
    tx.commit().await?;
    Ok((person, session))
}

async fn hash_checked(state: &AppState, c: &Candidate, email: &str, pw: &str) -> Result<String> {
    let policy = PasswordPolicy::from_config(&state.config);
    let name = format!("{} {}", c.first_name, c.last_name);
    let email = email.to_string();
    let pw = pw.to_string();
    tokio::task::spawn_blocking(move || {
        let owner = PasswordOwner {
            email: &email,
            display_name: &name,
            employer_name: None,
        };
        policy
            .check(&pw, &owner)
            .map_err(|p| Error::Validation(vec![p.field_error("password")]))?;
        crate::auth::hash_password(&pw)
    })
    .await?
}

/// Log in with e-mail and password: the staff's throttle, lockout and
/// audit (`auth.login_failed`, `auth.lockout`), then `auth.login`.
pub async fn login(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: &str,
) -> Result<(CandidateUser, Session)> {
    let key = account_key(email);
    state.login.admit(client, &key)?;
    let normalised = normalise_email(email);
    let row = if login::plausible_email(&normalised) {
        let mut conn = state.db.pool.acquire().await?;
        store::login_row(&mut conn, &normalised).await?
    } else {
        None
    };
    let (person, account) = match row {
        Some(r) => {
            let account = Account {
                kind: "candidate_account",
                id: r.person.account_id.clone(),
                password_hash: r.password_hash,
            };
            (Some(r.person), Some(account))
        }
        None => (None, None),
    };
    login::check_password(state, client, &key, password, Via::CandidateSpace, account).await?;
    let person = person.ok_or(Error::Unauthenticated)?;
    start_session(
        state,
        person,
        serde_json::json!({ "address": client.to_string(), "via": "password" }),
    )
    .await
}

async fn start_session(
    state: &AppState,
    person: CandidateUser,
    details: serde_json::Value,
) -> Result<(CandidateUser, Session)> {
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let session = issue_session(&mut tx, &person.account_id, now).await?;
    crate::audit::append(
        &mut tx,
        &Actor::Candidate(person.clone()),
        "auth.login",
        ("candidate_account", &person.account_id),
        None,
        details,
    )
    .await?;
    tx.commit().await?;
    Ok((person, session))
}

/// Ask for a passwordless login link. Always answers the same (whether
/// the address has an account or not); throttled like logins; at most one
/// link per `login_link_resend_secs`; only the newest link works.
/// Audited `candidate_space.login_link_requested` when the account exists.
pub async fn request_login_link(state: &AppState, client: IpAddr, email: &str) -> Result<()> {
    let key = account_key(email);
    state.login.admit(client, &key)?;
    let normalised = normalise_email(email);
    if !login::plausible_email(&normalised) {
        return Ok(());
    }
    let now = state.clock.now_ms();
    let cfg = &state.config.candidate_space;
    let mut tx = state.db.begin().await?;
    let Some(account) = store::account_by_email(&mut tx, &normalised).await? else {
        return Ok(());
    };
    let account_id = account.account_id;
    let candidate_id = account.candidate_id;
    let last = store::last_login_link_at(&mut tx, &candidate_id).await?;
    let resent_too_soon = last.is_some_and(|l| now - l < cfg.login_link_resend_secs * 1000);
    if !resent_too_soon {
        store::delete_login_links(&mut tx, &candidate_id).await?;
        let token = new_token("lnk");
        let expires_at = now + cfg.login_link_ttl_minutes * 60_000;
        let person = Actor::Candidate(CandidateUser {
            account_id: account_id.clone(),
            candidate_id: candidate_id.clone(),
            email: normalised.clone(),
        });
        insert_link(
            &mut tx,
            &token,
            &candidate_id,
            "login",
            &person,
            now,
            expires_at,
        )
        .await?;
        state
            .mail
            .enqueue(
                &mut tx,
                Recipient {
                    address: &normalised,
                    name: None,
                },
                &Mail::CandidateLoginLink {
                    link: link_url(state, "/moi/lien", &token),
                    valid_minutes: cfg.login_link_ttl_minutes,
                },
            )
            .await?;
    }
    crate::audit::append(
        &mut tx,
        &Actor::System("candidate_space"),
        "candidate_space.login_link_requested",
        ("candidate_account", &account_id),
        None,
        serde_json::json!({ "address": client.to_string(), "sent": !resent_too_soon }),
    )
    .await?;
    tx.commit().await?;
    state.mail.wake();
    Ok(())
}

/// Use a passwordless login link: a session begins (`auth.login`, via
/// `link`).
pub async fn use_login_link(state: &AppState, token: &str) -> Result<(CandidateUser, Session)> {
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let candidate_id = take_link(&mut tx, token, "login", now).await?;
    let person = store::account_of_record(&mut tx, &candidate_id)
        .await?
        .ok_or_else(|| link_refused("link_invalid", "unknown or replaced link"))?;
    tx.commit().await?;
    start_session(state, person, serde_json::json!({ "via": "link" })).await
}

// ---------------------------------------------------------------------------
// The person's own record

/// Read one's own record (never the restricted fields: see README « Candidate
/// space »). Audited `candidate.read` with the person as actor.
pub async fn read_own(state: &AppState, actor: &Actor, page: &str) -> Result<Candidate> {
    own_record_audited(
        state,
        actor,
        "candidate.read",
        serde_json::json!({ "sensitive": false, "via": "candidate_space", "page": page }),
    )
    .await
}

/// The person's record, the read audited as `action` with the person as
/// actor before it is returned.
pub(crate) async fn own_record_audited(
    state: &AppState,
    actor: &Actor,
    action: &str,
    details: serde_json::Value,
) -> Result<Candidate> {
    let person = actor.candidate()?;
    let c = crate::candidates::get_candidate(&state.db, &person.candidate_id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let mut conn = state.db.pool.acquire().await?;
    crate::audit::append(
        &mut conn,
        actor,
        action,
        ("candidate", &c.id),
        None,
        details,
    )
    .await?;
    Ok(c)
}

/// Kinds of [`Notice`].
pub const NOTICE_KINDS: &[&str] = &["change", "cv", "consent", "interest", "erasure_request"];

/// Write a notice for the counsellor inside the change's transaction.
pub async fn notice(
    conn: &mut sqlx::AnyConnection,
    candidate_id: &str,
    kind: &'static str,
    offer_id: Option<&str>,
    details: serde_json::Value,
    now: i64,
    due_at: Option<i64>,
) -> Result<()> {
    debug_assert!(NOTICE_KINDS.contains(&kind));
    store::insert_notice(
        conn,
        &store::NewNotice {
            id: &new_id(),
            candidate_id,
            kind,
            offer_id,
            details: &details.to_string(),
            created_at: now,
            due_at,
        },
    )
    .await
}

/// Something the person did, for their counsellor.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = CandidateNotice)]
pub struct Notice {
    pub id: String,
    pub candidate_id: String,
    /// One of [`NOTICE_KINDS`].
    pub kind: String,
    pub offer_id: Option<String>,
    pub details: serde_json::Value,
    pub created_at: i64,
    /// Erasure requests: confirm by then.
    pub due_at: Option<i64>,
    /// When the counsellor opened the record after it.
    pub seen_at: Option<i64>,
    /// Set by [`pending_for`]: the record's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl From<store::NoticeRow> for Notice {
    fn from(r: store::NoticeRow) -> Notice {
        Notice {
            id: r.id,
            candidate_id: r.candidate_id,
            kind: r.kind,
            offer_id: r.offer_id,
            details: serde_json::from_str(&r.details).unwrap_or_default(),
            created_at: r.created_at,
            due_at: r.due_at,
            seen_at: r.seen_at,
            name: None,
        }
    }
}

/// The notices of one record, newest first (staff; `NotFound` when the
/// record does not exist). When `mark_seen`, the ones not yet seen are
/// marked (erasure requests stay until confirmed: they end with the
/// record).
pub async fn notices_of(
    state: &AppState,
    actor: &Actor,
    candidate_id: &str,
    mark_seen: bool,
) -> Result<Vec<Notice>> {
    actor.staff()?;
    let mut conn = state.db.pool.acquire().await?;
    crate::candidates::store::anonymised_at(&mut conn, candidate_id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let out: Vec<Notice> = store::notices_of(&mut conn, candidate_id)
        .await?
        .into_iter()
        .map(Notice::from)
        .collect();
    if mark_seen {
        store::mark_notices_seen(&mut conn, candidate_id, state.clock.now_ms()).await?;
    }
    Ok(out)
}

/// The notices a counsellor has to look at (their assigned records; the
/// admin: all): unseen ones and every pending erasure request, those due
/// first.
pub async fn pending_for(state: &AppState, actor: &Actor) -> Result<Vec<Notice>> {
    let user = actor.staff()?;
    let mine = (user.role == crate::auth::Role::Counsellor).then_some(user.id.as_str());
    let mut conn = state.db.pool.acquire().await?;
    Ok(store::pending_notices(&mut conn, mine)
        .await?
        .into_iter()
        .map(|r| {
            let name = format!("{} {}", r.first_name, r.last_name);
            let mut n = Notice::from(r.notice);
            n.name = Some(name);
            n
        })
        .collect())
}

/// Give or change one's consent (the existing consent path), with a notice
/// and `candidate.consent` audited with the person as actor.
pub async fn give_consent(state: &AppState, actor: &Actor, scope: ConsentScope) -> Result<()> {
    let person = actor.candidate()?;
    let id = person.candidate_id.clone();
    crate::candidates::give_consent(
        state,
        &format!("candidate:{}", person.account_id),
        &id,
        scope,
    )
    .await?;
    after_own_change(
        state,
        actor,
        &id,
        "consent",
        Some("candidate.consent"),
        serde_json::json!({ "scope": scope }),
    )
    .await
}

/// Withdraw one's consent (the existing path: the record is a draft again,
/// out of search and matching).
pub async fn withdraw_consent(state: &AppState, actor: &Actor) -> Result<()> {
    let person = actor.candidate()?;
    let id = person.candidate_id.clone();
    crate::candidates::withdraw_consent(state, actor, &id, "candidate_space").await?;
    after_own_change(
        state,
        actor,
        &id,
        "consent",
        None,
        serde_json::json!({ "scope": null }),
    )
    .await
}

/// Upload one's CV through the same sandboxed extraction and versions as
/// the counsellors' (`candidates::attach_cv`).
pub async fn upload_cv(
    state: &AppState,
    actor: &Actor,
    file_name: &str,
    bytes: Vec<u8>,
) -> Result<crate::candidates::CandidateFile> {
    let person = actor.candidate()?;
    let id = person.candidate_id.clone();
    let (_, file) =
        crate::candidates::attach_cv(state, actor, &id, file_name, bytes, "candidate_space")
            .await?;
    after_own_change(
        state,
        actor,
        &id,
        "cv",
        None,
        serde_json::json!({ "file_id": file.id, "content_type": file.content_type,
                            "size_bytes": file.size_bytes, "via": "candidate_space" }),
    )
    .await?;
    Ok(file)
}

/// The notice of a change the person made through an existing domain path
/// that commits on its own, and its audit entry when that path does not
/// write one itself (`action`).
async fn after_own_change(
    state: &AppState,
    actor: &Actor,
    id: &str,
    kind: &'static str,
    action: Option<&str>,
    details: serde_json::Value,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    notice(
        &mut tx,
        id,
        kind,
        None,
        details.clone(),
        state.clock.now_ms(),
        None,
    )
    .await?;
    if let Some(action) = action {
        crate::audit::append(&mut tx, actor, action, ("candidate", id), None, details).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The open offers that fit the person (the counsellors' matching, the
/// same explanations). Audited `candidate.matches`.
pub async fn own_matches(
    state: &AppState,
    actor: &Actor,
    c: &Candidate,
) -> Result<crate::matching::CandidateMatches> {
    actor.own_record(&c.id)?;
    let result = crate::matching::match_candidate(
        state,
        c,
        &crate::matching::MatchParams {
            limit: Some(20),
            include_near_misses: Some(false),
            workplace: None,
        },
    )
    .await?;
    let mut conn = state.db.pool.acquire().await?;
    crate::audit::append(
        &mut conn,
        actor,
        "candidate.matches",
        ("candidate", &c.id),
        None,
        serde_json::json!({ "offers_listed": result.matches.len(), "via": "candidate_space" }),
    )
    .await?;
    Ok(result)
}

/// « Ça m'intéresse »: the person's interest in an open offer that fits
/// them, for their counsellor (no referral: co-optation stays the
/// counsellor's act). Once per offer. Audited `candidate.interest`.
pub async fn express_interest(state: &AppState, actor: &Actor, offer_id: &str) -> Result<()> {
    let person = actor.candidate()?;
    let c = crate::candidates::get_candidate(&state.db, &person.candidate_id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let matches = crate::matching::match_candidate(
        state,
        &c,
        &crate::matching::MatchParams {
            limit: Some(100),
            include_near_misses: Some(false),
            workplace: None,
        },
    )
    .await?;
    let Some(m) = matches.matches.iter().find(|m| m.offer_id == offer_id) else {
        return Err(Error::NotFound("offer"));
    };
    let details = serde_json::json!({ "title": m.title, "employer": m.employer_name });
    let mut tx = state.db.begin().await?;
    notice(
        &mut tx,
        &c.id,
        "interest",
        Some(offer_id),
        details,
        state.clock.now_ms(),
        None,
    )
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.interest",
        ("candidate", &c.id),
        None,
        serde_json::json!({ "offer_id": offer_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The offers the person said they were interested in.
pub async fn interests(state: &AppState, actor: &Actor) -> Result<Vec<String>> {
    let person = actor.candidate()?;
    let mut conn = state.db.pool.acquire().await?;
    store::interest_offers(&mut conn, &person.candidate_id).await
}

/// Ask for erasure: the counsellor confirms within
/// `erasure_confirm_days` (the existing erasure then reaches every node
/// that holds a copy, and the access ends with the record). Once.
/// Audited `candidate.erasure_requested`. Returns the due date.
pub async fn request_erasure(state: &AppState, actor: &Actor) -> Result<i64> {
    let person = actor.candidate()?;
    if let Some(due) = erasure_due(state, &person.candidate_id).await? {
        return Ok(due);
    }
    let now = state.clock.now_ms();
    let due = now + state.config.candidate_space.erasure_confirm_days * DAY_MS;
    let mut tx = state.db.begin().await?;
    notice(
        &mut tx,
        &person.candidate_id,
        "erasure_request",
        None,
        serde_json::json!({}),
        now,
        Some(due),
    )
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.erasure_requested",
        ("candidate", &person.candidate_id),
        None,
        serde_json::json!({ "due_at": due }),
    )
    .await?;
    tx.commit().await?;
    Ok(due)
}

/// The due date of the record's pending erasure request, if any.
pub async fn erasure_due(state: &AppState, candidate_id: &str) -> Result<Option<i64>> {
    let mut conn = state.db.pool.acquire().await?;
    store::erasure_due(&mut conn, candidate_id).await
}

pub mod export;
mod store;

#[utoipa::path(post, path = "/api/v1/candidates/{id}/invitation", tag = "candidates",
    params(("id" = String, Path, description = "Candidate record id")),
    responses((status = 201, description = "The invitation link to the candidate space", body = Invitation)))]
async fn invite_handler(
    axum::extract::State(state): axum::extract::State<AppState>,
    user: crate::auth::User,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<(axum::http::StatusCode, axum::Json<Invitation>)> {
    let inv = invite(&state, &Actor::User(user), &id).await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(inv)))
}

#[utoipa::path(get, path = "/api/v1/candidates/{id}/notices", tag = "candidates",
    params(("id" = String, Path, description = "Candidate record id"), crate::http::PageParams),
    responses((status = 200, description = "What the person did in their space", body = crate::http::Page<Notice>)))]
async fn notices_handler(
    axum::extract::State(state): axum::extract::State<AppState>,
    user: crate::auth::User,
    axum::extract::Path(id): axum::extract::Path<String>,
    crate::http::Paged(paging, _): crate::http::Paged<crate::http::page::NoFilter>,
) -> Result<axum::Json<crate::http::Page<Notice>>> {
    Ok(axum::Json(crate::http::Page::slice(
        notices_of(&state, &Actor::User(user), &id, false).await?,
        paging,
    )))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(invite_handler, notices_handler))]
pub(crate) struct Doc;

/// Staff API: `POST /api/v1/candidates/{id}/invitation` (201 with the
/// link; 400 `email_required`, 409 when the person already has access) and
/// `GET /api/v1/candidates/{id}/notices`.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/api/v1/candidates/{id}/invitation", post(invite_handler))
        .route("/api/v1/candidates/{id}/notices", get(notices_handler))
}
