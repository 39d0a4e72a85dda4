//! Following a person: dated notes, interviews, calls, workshops and
//! immersions on a record, each with an optional next step ("rappeler le
//! 12/03") that comes back in the counsellor's « À faire » when it falls due;
//! and the « À faire » itself — due next steps, referrals waiting for an
//! employer's answer, referrals the network could not deliver, records about
//! to be anonymised, records without a CV.
//!
//! Rules: staff only (counsellors and admins of this node; the whole
//! mission shares its candidathèque); a *restricted* entry is seen only by
//! the record's assigned counsellor and admins, like the record's sensitive
//! fields; an entry is never edited (a correction is a new entry), its next
//! step is marked done by its author, the assigned counsellor or an admin.
//! Adding an entry is activity on the record (retention restarts), audited
//! `candidate.followup` in the same transaction. Entries are personal data:
//! erasure and anonymisation delete them.

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::auth::{Role, User};
use crate::error::{Error, FieldError, Result};
use crate::server::AppState;

/// What kind of contact an entry records.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FollowUpKind {
    /// A note.
    Note,
    /// An individual interview (entretien).
    Interview,
    /// A phone call.
    Call,
    /// A group session (atelier).
    Workshop,
    /// An immersion in a company (PMSMP).
    Immersion,
}

impl FollowUpKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Longest entry text.
pub const MAX_BODY_CHARS: usize = 5_000;
/// Longest next-step text.
pub const MAX_STEP_CHARS: usize = 300;

/// A new entry.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFollowUp {
    /// Kind (default `note`).
    #[serde(default)]
    pub kind: Option<FollowUpKind>,
    /// The day it happened, `YYYY-MM-DD` (default today; not in the future).
    #[serde(default)]
    pub happened_on: Option<String>,
    /// What happened (1 to 5,000 characters).
    #[serde(default)]
    pub body: String,
    /// Visible only to the assigned counsellor and admins.
    #[serde(default)]
    pub restricted: bool,
    /// The next step, if any (up to 300 characters)…
    #[serde(default)]
    pub next_step: Option<String>,
    /// …and when it is due, `YYYY-MM-DD` (required with a next step).
    #[serde(default)]
    pub next_step_on: Option<String>,
}

/// A stored entry, as its reader may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FollowUp {
    /// Id.
    pub id: String,
    /// The record.
    pub candidate_id: String,
    /// Who wrote it (name at the time).
    pub author_name: String,
    /// Whether the reader wrote it.
    pub mine: bool,
    /// Kind.
    pub kind: FollowUpKind,
    /// `YYYY-MM-DD`.
    pub happened_on: String,
    /// Text.
    pub body: String,
    /// Restricted to the assigned counsellor and admins.
    pub restricted: bool,
    /// Next step.
    pub next_step: Option<String>,
    /// Its due day.
    pub next_step_on: Option<String>,
    /// When it was marked done (unix ms).
    pub next_step_done_at: Option<i64>,
    /// Written (unix ms).
    pub created_at: i64,
}

fn today(state: &AppState) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(state.clock.now_ms())
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

fn day(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Every failing field at once.
fn validate(state: &AppState, input: &NewFollowUp) -> Result<(String, Option<String>)> {
    let mut errs = Vec::new();
    let today = today(state);
    let happened = match input.happened_on.as_deref().map(str::trim) {
        None | Some("") => today,
        Some(s) => match day(s) {
            Some(d) if d > today => {
                errs.push(FieldError::coded(
                    "happened_on",
                    "date_in_future",
                    "must not be in the future",
                ));
                d
            }
            Some(d) if d < today - chrono::Duration::days(3_650) => {
                errs.push(FieldError::coded(
                    "happened_on",
                    "date_too_old",
                    "must be within the last 10 years",
                ));
                d
            }
            Some(d) => d,
            None => {
                errs.push(FieldError::coded(
                    "happened_on",
                    "invalid_date",
                    "must be a date YYYY-MM-DD",
                ));
                today
            }
        },
    };
    let body = input.body.trim();
    if body.is_empty() {
        errs.push(FieldError::coded("body", "required", "must not be empty"));
    } else if body.chars().count() > MAX_BODY_CHARS {
        errs.push(FieldError::coded(
            "body",
            "too_long",
            format!("at most {MAX_BODY_CHARS} characters"),
        ));
    }
    let step = input
        .next_step
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let step_on = input
        .next_step_on
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if step.is_some_and(|s| s.chars().count() > MAX_STEP_CHARS) {
        errs.push(FieldError::coded(
            "next_step",
            "too_long",
            format!("at most {MAX_STEP_CHARS} characters"),
        ));
    }
    if step.is_some_and(|s| s.chars().any(char::is_control)) {
        errs.push(FieldError::coded(
            "next_step",
            "control_characters",
            "must not contain control characters",
        ));
    }
    let step_on = match (step, step_on) {
        (None, None) => None,
        (Some(_), None) => {
            errs.push(FieldError::coded(
                "next_step_on",
                "due_date_required",
                "required with a next step",
            ));
            None
        }
        (None, Some(_)) => {
            errs.push(FieldError::coded(
                "next_step",
                "next_step_required",
                "required with a due date",
            ));
            None
        }
        (Some(_), Some(s)) => match day(s) {
            Some(d) if d < happened => {
                errs.push(FieldError::coded(
                    "next_step_on",
                    "due_before_entry",
                    "must not be before the entry's day",
                ));
                None
            }
            Some(d) if d > today + chrono::Duration::days(730) => {
                errs.push(FieldError::coded(
                    "next_step_on",
                    "due_too_far",
                    "must be within the next two years",
                ));
                None
            }
            Some(d) => Some(d.format("%Y-%m-%d").to_string()),
            None => {
                errs.push(FieldError::coded(
                    "next_step_on",
                    "invalid_date",
                    "must be a date YYYY-MM-DD",
                ));
                None
            }
        },
    };
    if errs.is_empty() {
        Ok((happened.format("%Y-%m-%d").to_string(), step_on))
    } else {
        Err(Error::Validation(errs))
    }
}

/// The record's assigned counsellor, or `NotFound` (anonymised records
/// take no follow-up).
async fn assigned(conn: &mut sqlx::AnyConnection, candidate_id: &str) -> Result<Option<String>> {
    super::store::assigned_counsellor(conn, candidate_id)
        .await?
        .ok_or(Error::NotFound("candidate"))
}

fn sees_restricted(user: &User, assigned: Option<&str>) -> bool {
    user.role == Role::Admin
        || (user.role == Role::Counsellor && assigned == Some(user.id.as_str()))
}

/// Add an entry to record `candidate_id` as `actor` (staff).
pub async fn add(
    state: &AppState,
    actor: &Actor,
    candidate_id: &str,
    input: NewFollowUp,
) -> Result<FollowUp> {
    let user = actor.staff()?;
    let (happened_on, next_step_on) = validate(state, &input)?;
    let mut tx = state.db.begin().await?;
    let owner = assigned(&mut tx, candidate_id).await?;
    if input.restricted && !sees_restricted(user, owner.as_deref()) {
        return Err(Error::Validation(vec![FieldError::coded(
            "restricted",
            "restricted_not_allowed",
            "only the assigned counsellor or an admin may write a restricted entry",
        )]));
    }
    let now = state.clock.now_ms();
    let id = crate::util::new_id();
    let kind = input.kind.unwrap_or(FollowUpKind::Note);
    let next_step = input
        .next_step
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    super::followup_store::insert(
        &mut tx,
        &super::followup_store::FollowUpRow {
            id: id.clone(),
            candidate_id: candidate_id.to_string(),
            author_id: Some(user.id.clone()),
            author_name: user.display_name.clone(),
            kind,
            happened_on: happened_on.clone(),
            body: input.body.trim().to_string(),
            restricted: i64::from(input.restricted),
            next_step: next_step.clone(),
            next_step_on: next_step_on.clone(),
            next_step_done_at: None,
            created_at: now,
        },
    )
    .await?;
    // Follow-up is activity: the retention clock restarts.
    super::store::touch(&mut tx, candidate_id, now, false).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.followup",
        ("candidate", candidate_id),
        None,
        serde_json::json!({"followup_id": id, "kind": kind.as_str(), "restricted": input.restricted,
            "next_step_on": next_step_on}),
    )
    .await?;
    tx.commit().await?;
    Ok(FollowUp {
        id,
        candidate_id: candidate_id.to_string(),
        author_name: user.display_name.clone(),
        mine: true,
        kind,
        happened_on,
        body: input.body.trim().to_string(),
        restricted: input.restricted,
        next_step,
        next_step_on,
        next_step_done_at: None,
        created_at: now,
    })
}

fn from_row(r: super::followup_store::FollowUpRow, user: &User) -> FollowUp {
    FollowUp {
        mine: r.author_id.as_deref() == Some(user.id.as_str()),
        id: r.id,
        candidate_id: r.candidate_id,
        author_name: r.author_name,
        kind: r.kind,
        happened_on: r.happened_on,
        body: r.body,
        restricted: r.restricted != 0,
        next_step: r.next_step,
        next_step_on: r.next_step_on,
        next_step_done_at: r.next_step_done_at,
        created_at: r.created_at,
    }
}

/// The entries of record `candidate_id` the actor may see, newest first
/// (restricted ones only for the assigned counsellor and admins).
pub async fn list(state: &AppState, actor: &Actor, candidate_id: &str) -> Result<Vec<FollowUp>> {
    let user = actor.staff()?;
    let mut conn = state.db.pool.acquire().await?;
    let owner = assigned(&mut conn, candidate_id).await?;
    let rows = super::followup_store::of_candidate(
        &mut conn,
        candidate_id,
        sees_restricted(user, owner.as_deref()),
    )
    .await?;
    Ok(rows.into_iter().map(|r| from_row(r, user)).collect())
}

/// Mark the next step of entry `id` done (its author, the record's assigned
/// counsellor or an admin). Returns the record's id.
pub async fn complete_step(state: &AppState, actor: &Actor, id: &str) -> Result<String> {
    let user = actor.staff()?;
    let mut tx = state.db.begin().await?;
    let super::followup_store::StepRow {
        candidate_id,
        author_id: author,
        restricted,
        next_step_on: step,
        done,
        counsellor_id: owner,
    } = super::followup_store::step(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("follow-up"))?;
    let restricted = restricted != 0;
    if restricted && !sees_restricted(user, owner.as_deref()) {
        return Err(Error::NotFound("follow-up"));
    }
    let allowed =
        author.as_deref() == Some(user.id.as_str()) || sees_restricted(user, owner.as_deref());
    if !allowed {
        return Err(Error::Forbidden);
    }
    if step.is_none() {
        return Err(Error::Refused {
            code: "no_next_step",
            message: "this entry has no next step".into(),
        });
    }
    if done.is_none() {
        super::followup_store::mark_step_done(&mut tx, id, state.clock.now_ms()).await?;
        crate::audit::append(
            &mut tx,
            actor,
            "candidate.followup_step_done",
            ("candidate", &candidate_id),
            None,
            serde_json::json!({"followup_id": id}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(candidate_id)
}

/// Delete every entry of a record (erasure, anonymisation), in the
/// caller's transaction.
pub async fn purge(tx: &mut sqlx::AnyConnection, candidate_id: &str) -> Result<()> {
    super::followup_store::purge(tx, candidate_id).await
}

// ---------------------------------------------------------------------------
// « À faire »

/// A person named in the « À faire ».
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Person {
    /// Record id.
    pub candidate_id: String,
    /// « Prénom Nom ».
    pub name: String,
}

/// A next step due.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DueStep {
    /// The entry.
    pub followup_id: String,
    /// Whose record.
    pub person: Person,
    /// What to do.
    pub next_step: String,
    /// When (`YYYY-MM-DD`).
    pub due_on: String,
    /// Past its day.
    pub overdue: bool,
}

/// A referral of the actor's waiting for the employer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Waiting {
    /// Referral id.
    pub referral_id: String,
    /// Offer title, when held.
    pub offer_title: Option<String>,
    /// Who was referred (when the record still exists).
    pub person: Option<Person>,
    /// Status code (`new`, `processing`, `postponed`, `undeliverable`).
    pub status: String,
    /// Last change (unix ms).
    pub since: i64,
}

/// The actor's « À faire ».
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct Todo {
    /// Next steps due within `horizon_days`, overdue first.
    pub steps: Vec<DueStep>,
    /// Their referrals without an answer for `stale_days` or more.
    pub waiting: Vec<Waiting>,
    /// Their referrals the network could not deliver (last 30 days).
    pub undeliverable: Vec<Waiting>,
    /// Their records announced for anonymisation.
    pub retention: Vec<Person>,
    /// Their records in search without an attached CV.
    pub without_cv: Vec<Person>,
    /// Follow-ups and ends of programmes due (or overdue) for their people.
    pub programmes: Vec<crate::programmes::TodoItem>,
}

impl Todo {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.steps.len()
            + self.waiting.len()
            + self.undeliverable.len()
            + self.retention.len()
            + self.without_cv.len()
            + self.programmes.len()
    }

    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Days ahead the « À faire » shows next steps.
pub const HORIZON_DAYS: i64 = 7;
/// A referral without an answer for this long is « to chase up ».
pub const STALE_DAYS: i64 = 7;
const TODO_LIMIT: i64 = 50;

/// « Prénom Nom » of a record (either name may be missing).
fn person(candidate_id: String, first: Option<String>, last: Option<String>) -> Person {
    Person {
        candidate_id,
        name: format!("{} {}", first.unwrap_or_default(), last.unwrap_or_default())
            .trim()
            .to_string(),
    }
}

/// What waits for the acting counsellor (or admin): their own caseload.
pub async fn todo(state: &AppState, actor: &Actor) -> Result<Todo> {
    let user = actor.staff()?;
    let today = today(state);
    let horizon = (today + chrono::Duration::days(HORIZON_DAYS))
        .format("%Y-%m-%d")
        .to_string();
    let today_s = today.format("%Y-%m-%d").to_string();
    let now = state.clock.now_ms();
    let mut conn = state.db.pool.acquire().await?;
    let mut out = Todo::default();
    let rows = super::followup_store::due_steps(&mut conn, &user.id, &horizon, TODO_LIMIT).await?;
    for r in rows {
        let Some(candidate_id) = r.candidate_id else {
            continue;
        };
        out.steps.push(DueStep {
            followup_id: r.id,
            person: person(candidate_id, r.first_name, r.last_name),
            next_step: r.next_step.unwrap_or_default(),
            overdue: r.next_step_on < today_s,
            due_on: r.next_step_on,
        });
    }
    for (which, since) in [
        (
            crate::referrals::store::Waiting::Unanswered,
            now - STALE_DAYS * 86_400_000,
        ),
        (
            crate::referrals::store::Waiting::Undeliverable,
            now - 30 * 86_400_000,
        ),
    ] {
        let rows = crate::referrals::store::waiting_for_counsellor(
            &mut conn, &user.id, which, since, TODO_LIMIT,
        )
        .await?;
        for r in rows {
            let w = Waiting {
                referral_id: r.id,
                offer_title: r.offer_title,
                person: r
                    .candidate_id
                    .map(|candidate_id| person(candidate_id, r.first_name, r.last_name)),
                status: r.status,
                since: r.updated_at,
            };
            match which {
                crate::referrals::store::Waiting::Unanswered => out.waiting.push(w),
                crate::referrals::store::Waiting::Undeliverable => out.undeliverable.push(w),
            }
        }
    }
    use super::store::Caseload;
    for which in [Caseload::Reminded, Caseload::WithoutCv] {
        let rows = super::store::caseload(&mut conn, &user.id, which, TODO_LIMIT).await?;
        let people = rows
            .into_iter()
            .map(|r| person(r.candidate_id, Some(r.first_name), Some(r.last_name)));
        match which {
            Caseload::Reminded => out.retention.extend(people),
            Caseload::WithoutCv => out.without_cv.extend(people),
        }
    }
    drop(conn);
    out.programmes = crate::programmes::todo(state, actor, HORIZON_DAYS).await?;
    Ok(out)
}
