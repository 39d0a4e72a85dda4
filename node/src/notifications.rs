//! Notices to users: what the node did on its own that concerns them — a
//! referral the network refused for good, an offer a peer would not take, a
//! member that left the network with their referrals pending.
//!
//! A notice is written in the same transaction as the change it reports, in
//! French (it is read as is in the web interface and the API), with a link
//! to the object; when e-mail is enabled the same text is queued to the
//! user's address in that transaction too. Notices name no candidate: the
//! link leads to the node, where access is checked and audited.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

pub(crate) mod store;

use crate::auth::User;
use crate::error::{Error, Result};
use crate::server::AppState;

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A referral could not be delivered (`undeliverable`).
    ReferralUndeliverable,
    /// A peer refused one of our offers.
    OfferRefusedByPeer,
    /// The member owning an offer left the network.
    MemberLeft,
    /// The referring counsellor cancelled a referral the employer had
    /// decided on (a hire, « avant embauche », a postponement).
    ReferralCancelled,
    /// A member searching the network is interested in a person followed
    /// here (`crate::netsearch::interest`).
    NetworkInterest,
}

impl NoticeKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::ReferralUndeliverable => "referral_undeliverable",
            NoticeKind::OfferRefusedByPeer => "offer_refused_by_peer",
            NoticeKind::MemberLeft => "member_left",
            NoticeKind::ReferralCancelled => "referral_cancelled",
            NoticeKind::NetworkInterest => "network_interest",
        }
    }

    /// One line, in French (the e-mail's subject).
    pub fn title_fr(self) -> &'static str {
        match self {
            NoticeKind::ReferralUndeliverable => "Mise en relation non transmise",
            NoticeKind::OfferRefusedByPeer => "Offre refusée par un membre du réseau",
            NoticeKind::MemberLeft => "Un membre a quitté le réseau",
            NoticeKind::ReferralCancelled => "Mise en relation annulée par le conseiller",
            NoticeKind::NetworkInterest => "Intérêt d'un membre du réseau pour une personne suivie",
        }
    }
}

/// A notice to write.
#[derive(Debug, Clone)]
pub struct NewNotice {
    /// Who is told.
    pub user_id: String,
    /// What about.
    pub kind: NoticeKind,
    /// `referral` or `offer`.
    pub subject_type: &'static str,
    /// Its id.
    pub subject_id: String,
    /// The text, in French.
    pub message: String,
    /// Path on this node (`/ui/relations/…`).
    pub link: String,
}

/// A stored notice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Notice {
    /// Identifier.
    pub id: String,
    /// What about (`referral_undeliverable`, `offer_refused_by_peer`,
    /// `member_left`).
    pub kind: String,
    /// `referral` or `offer`.
    pub subject_type: String,
    /// Its id.
    pub subject_id: String,
    /// The text, in French.
    pub message: String,
    /// Path on this node.
    pub link: String,
    /// Written (unix ms).
    pub created_at: i64,
    /// Marked as read (unix ms).
    pub read_at: Option<i64>,
}

/// Write `notice` in the caller's transaction (and queue the e-mail when
/// mail is enabled and the user has an address). A user that no longer
/// exists is told nothing.
pub async fn notify(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    notice: NewNotice,
) -> Result<()> {
    if !crate::auth::store::user_exists(tx, &notice.user_id).await? {
        return Ok(());
    }
    store::insert(tx, &notice, state.clock.now_ms()).await?;
    metrics::counter!("vivier_notices_total", "kind" => notice.kind.as_str()).increment(1);
    let link = state.mail.link(&notice.link);
    state
        .mail
        .enqueue_to_user(tx, &notice.user_id, |display_name| {
            crate::mail::Mail::Notice {
                display_name,
                title: notice.kind.title_fr().to_string(),
                message: notice.message.clone(),
                link,
            }
        })
        .await?;
    Ok(())
}

/// Wake the mail worker after a commit that may have queued notices.
pub fn wake(state: &AppState) {
    state.mail.wake();
}

/// The user's notices, newest first (unread only with `unread`).
pub async fn list(state: &AppState, user: &User, unread: bool, limit: i64) -> Result<Vec<Notice>> {
    select(state, user, unread, (limit.clamp(1, 200), 0)).await
}

/// The count of `user`'s notices (only unread ones when `unread`).
pub async fn count(state: &AppState, user: &User, unread: bool) -> Result<i64> {
    let mut conn = state.db.pool.acquire().await?;
    store::count(&mut conn, &user.id, unread).await
}

async fn select(
    state: &AppState,
    user: &User,
    unread: bool,
    page: (i64, i64),
) -> Result<Vec<Notice>> {
    let mut conn = state.db.pool.acquire().await?;
    store::page(&mut conn, &user.id, unread, page).await
}

/// Mark one of the user's notices as read (another user's is not found).
pub async fn mark_read(state: &AppState, user: &User, id: &str) -> Result<()> {
    let mut conn = state.db.pool.acquire().await?;
    if !store::mark_read(&mut conn, &user.id, id, state.clock.now_ms()).await?
        && !store::exists(&mut conn, &user.id, id).await?
    {
        return Err(Error::NotFound("notification"));
    }
    Ok(())
}

/// Query of `GET /api/v1/notifications` besides the paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only unread notices.
    #[serde(default)]
    unread: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "auth", params(crate::http::PageParams, ListQuery),
    responses((status = 200, description = "The caller's notices, newest first", body = crate::http::Page<Notice>)))]
async fn list_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, q): crate::http::Paged<ListQuery>,
) -> Result<Json<crate::http::Page<Notice>>> {
    let unread = q.unread.unwrap_or(false);
    let total = count(&state, &user, unread).await?;
    let items = select(&state, &user, unread, (paging.per_page, paging.offset())).await?;
    Ok(Json(crate::http::Page::new(items, total, paging)))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "auth", params(("id" = String, Path, description = "Notice id")),
    responses((status = 204, description = "Marked read")))]
async fn read_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode> {
    mark_read(&state, &user, &id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_handler, read_handler))]
pub(crate) struct Doc;

/// `GET /api/v1/notifications`, `POST /api/v1/notifications/{id}/read`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/notifications", get(list_handler))
        .route("/api/v1/notifications/{id}/read", post(read_handler))
}
