//! Time-boxed programmes (« 3 mois pour un job » in the Loiret): a person
//! is enrolled for a number of weeks, renewable a few times, with an
//! individual follow-up and a group workshop at a set rhythm and immersions
//! in companies (PMSMP); at the end the counsellor records the outcome.
//!
//! Programmes are defined in the configuration (`[[programmes]]`). An
//! enrolment is a row of `programme_enrolments`; the follow-ups themselves
//! are the record's follow-up entries (`candidates::followup`: an interview
//! or a call is an individual follow-up, a workshop a group one, an
//! immersion an immersion), so nothing is entered twice. What falls due —
//! the next individual or group follow-up after the last one, the end of
//! the programme — is computed from those entries and the injected clock
//! ([`due_items`]) and shown in the counsellor's « À faire », overdue
//! first. Enrolling, renewing and closing are audited in the change's
//! transaction; the reports count enrolments and outcomes per programme.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::candidates::PlacementOutcome;
use crate::error::{Error, FieldError, Result};
use crate::server::AppState;

pub mod http;
pub(crate) mod store;

/// One programme, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Programme {
    /// Stable code (lower-case letters, digits and hyphens).
    pub code: String,
    /// Name shown to counsellors and in the reports.
    pub name: String,
    /// Who runs or funds it.
    #[serde(default)]
    pub funder: String,
    /// Length of one period, in weeks (13 for three months).
    pub weeks: i64,
    /// Times an enrolment may be renewed for another `weeks`.
    #[serde(default)]
    pub renewals: i64,
    /// Days between individual follow-ups (interviews, calls); 0: none.
    #[serde(default)]
    pub individual_every_days: i64,
    /// Days between group workshops; 0: none.
    #[serde(default)]
    pub group_every_days: i64,
    /// Immersions (PMSMP) expected over a period; 0: none.
    #[serde(default)]
    pub immersions: i64,
}

/// Check the configured programmes (start-up refuses a bad list).
pub fn validate(programmes: &[Programme]) -> std::result::Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (i, p) in programmes.iter().enumerate() {
        let at = format!("programmes[{i}]");
        crate::validation::config_code_and_name(&at, &p.code, &p.name, &mut seen)?;
        if !(1..=104).contains(&p.weeks) {
            return Err(format!("{at}.weeks: 1 to 104"));
        }
        if !(0..=10).contains(&p.renewals) {
            return Err(format!("{at}.renewals: 0 to 10"));
        }
        for (k, v) in [
            ("individual_every_days", p.individual_every_days),
            ("group_every_days", p.group_every_days),
        ] {
            if !(0..=365).contains(&v) {
                return Err(format!("{at}.{k}: 0 to 365"));
            }
        }
        if !(0..=50).contains(&p.immersions) {
            return Err(format!("{at}.immersions: 0 to 50"));
        }
    }
    Ok(())
}

/// What falls due in an enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueKind {
    /// The next individual follow-up (interview or call).
    Individual,
    /// The next group workshop.
    Group,
    /// The end of the period: renew, or record the outcome.
    End,
}

impl DueKind {
    /// In French, for the « À faire ».
    pub fn label(self) -> &'static str {
        match self {
            DueKind::Individual => "entretien individuel",
            DueKind::Group => "atelier collectif",
            DueKind::End => "fin du programme : renouveler ou saisir le résultat",
        }
    }
}

/// One item due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Due {
    /// What.
    pub kind: DueKind,
    /// By when.
    pub due_on: NaiveDate,
    /// Past that day.
    pub overdue: bool,
}

/// What is due in an active enrolment on `today`: the next individual and
/// group follow-ups after the last ones held since it started (the first
/// one a rhythm after the start), as long as they fall before its end; and
/// the end itself. Sorted by day.
pub fn due_items(
    p: &Programme,
    started_on: NaiveDate,
    ends_on: NaiveDate,
    last_individual: Option<NaiveDate>,
    last_group: Option<NaiveDate>,
    today: NaiveDate,
) -> Vec<Due> {
    let mut out = Vec::new();
    for (kind, every, last) in [
        (
            DueKind::Individual,
            p.individual_every_days,
            last_individual,
        ),
        (DueKind::Group, p.group_every_days, last_group),
    ] {
        if every <= 0 {
            continue;
        }
        let from = last.filter(|d| *d >= started_on).unwrap_or(started_on);
        let due = from + chrono::Duration::days(every);
        if due < ends_on {
            out.push(Due {
                kind,
                due_on: due,
                overdue: today > due,
            });
        }
    }
    out.push(Due {
        kind: DueKind::End,
        due_on: ends_on,
        overdue: today > ends_on,
    });
    out.sort_by_key(|d| d.due_on);
    out
}

/// Where an enrolment stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EnrolmentStatus {
    /// Under way.
    Active,
    /// Gone to its end; the outcome is recorded.
    Completed,
    /// Left before the end.
    Abandoned,
}

impl EnrolmentStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl TryFrom<String> for EnrolmentStatus {
    type Error = strum::ParseError;

    fn try_from(s: String) -> std::result::Result<EnrolmentStatus, strum::ParseError> {
        s.parse()
    }
}

/// An enrolment, with what is due.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    pub id: String,
    pub candidate_id: String,
    /// The programme's code and name.
    pub programme: String,
    pub programme_name: String,
    /// `YYYY-MM-DD`.
    pub started_on: String,
    /// Last day of the current period.
    pub ends_on: String,
    /// Renewals used / allowed.
    pub renewals_used: i64,
    pub renewals_allowed: i64,
    pub status: EnrolmentStatus,
    /// The outcome recorded at the end (`cdi`…, or `none` for no job or
    /// training).
    pub outcome: Option<String>,
    pub closed_on: Option<String>,
    /// Follow-ups held since the start: individual, group, immersions.
    pub individual_held: i64,
    pub group_held: i64,
    pub immersions_held: i64,
    /// Immersions expected per period.
    pub immersions_expected: i64,
    /// What is due (active enrolments).
    pub due: Vec<Due>,
}

fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn today(state: &AppState) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(state.clock.now_ms())
        .unwrap_or_default()
        .date_naive()
}

fn programme<'a>(state: &'a AppState, code: &str) -> Result<&'a Programme> {
    state
        .config
        .programmes
        .iter()
        .find(|p| p.code == code)
        .ok_or_else(|| Error::field("programme", "unknown programme"))
}

fn enrolment_of(state: &AppState, r: store::EnrolmentRow, today: NaiveDate) -> Enrolment {
    let code = r.programme_code;
    let p = state.config.programmes.iter().find(|p| p.code == code);
    let due = match (p, r.status, day(&r.started_on), day(&r.ends_on)) {
        (Some(p), EnrolmentStatus::Active, Some(s), Some(e)) => due_items(
            p,
            s,
            e,
            r.last_individual.as_deref().and_then(day),
            r.last_group.as_deref().and_then(day),
            today,
        ),
        _ => Vec::new(),
    };
    Enrolment {
        id: r.id,
        candidate_id: r.candidate_id,
        programme_name: p.map(|p| p.name.clone()).unwrap_or_else(|| code.clone()),
        renewals_allowed: p.map(|p| p.renewals).unwrap_or(0),
        immersions_expected: p.map(|p| p.immersions).unwrap_or(0),
        programme: code,
        started_on: r.started_on,
        ends_on: r.ends_on,
        renewals_used: r.renewals_used,
        status: r.status,
        outcome: r.outcome,
        closed_on: r.closed_on,
        individual_held: r.individual_held,
        group_held: r.group_held,
        immersions_held: r.immersions_held,
        due,
    }
}

/// A candidate's enrolments, newest first (staff; the record must exist).
pub async fn of_candidate(
    state: &AppState,
    actor: &Actor,
    candidate_id: &str,
) -> Result<Vec<Enrolment>> {
    actor.staff()?;
    let mut conn = state.db.pool.acquire().await?;
    crate::candidates::store::anonymised_at(&mut conn, candidate_id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let rows = store::of_candidate(&mut conn, candidate_id).await?;
    let today = today(state);
    Ok(rows
        .into_iter()
        .map(|r| enrolment_of(state, r, today))
        .collect())
}

async fn load_for_update(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Enrolment> {
    let r = store::get(tx, id)
        .await?
        .ok_or(Error::NotFound("enrolment"))?;
    Ok(enrolment_of(state, r, today(state)))
}

/// Enrol a person.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrolment {
    /// The programme's code.
    pub programme: String,
    /// First day (`YYYY-MM-DD`); default: today.
    #[serde(default)]
    pub started_on: Option<String>,
}

/// Enrol candidate `candidate_id` (staff): one active enrolment per
/// programme and person (`already_enrolled`); audited `programme.enrol`.
pub async fn enrol(
    state: &AppState,
    actor: &Actor,
    candidate_id: &str,
    input: NewEnrolment,
) -> Result<Enrolment> {
    let user = actor.staff()?;
    let p = programme(state, &input.programme)?.clone();
    let today = today(state);
    let started = match input.started_on.as_deref() {
        None | Some("") => today,
        Some(s) => day(s).ok_or_else(|| {
            Error::Validation(vec![FieldError::coded(
                "started_on",
                "invalid_date",
                "must be a date YYYY-MM-DD",
            )])
        })?,
    };
    if (started - today).num_days().abs() > 366 {
        return Err(Error::Validation(vec![FieldError::coded(
            "started_on",
            "out_of_range",
            "within a year of today",
        )]));
    }
    let ends = started + chrono::Duration::weeks(p.weeks) - chrono::Duration::days(1);
    let mut tx = state.db.begin().await?;
    let anonymised_at = crate::candidates::store::anonymised_at(&mut tx, candidate_id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let active = store::count_active(&mut tx, candidate_id, &p.code).await?;
    if active > 0 {
        return Err(Error::Refused {
            code: "already_enrolled",
            message: format!("this person is already enrolled in {}", p.code),
        });
    }
    let id = crate::util::new_id();
    let now = state.clock.now_ms();
    store::insert(
        &mut tx,
        &store::NewRow {
            id: &id,
            candidate_id,
            programme_code: &p.code,
            started_on: &started.format("%Y-%m-%d").to_string(),
            ends_on: &ends.format("%Y-%m-%d").to_string(),
            counsellor_id: &user.id,
            created_at: now,
        },
    )
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "programme.enrol",
        ("candidate", candidate_id),
        None,
        serde_json::json!({ "enrolment_id": id, "programme": p.code,
            "started_on": started.format("%Y-%m-%d").to_string() }),
    )
    .await?;
    let e = load_for_update(state, &mut tx, &id).await?;
    tx.commit().await?;
    Ok(e)
}

/// Renew an active enrolment for another period (`no_renewal_left` past
/// the programme's renewals); audited `programme.renew`.
pub async fn renew(state: &AppState, actor: &Actor, id: &str) -> Result<Enrolment> {
    actor.staff()?;
    let mut tx = state.db.begin().await?;
    let e = load_for_update(state, &mut tx, id).await?;
    let p = programme(state, &e.programme)?.clone();
    if e.status != EnrolmentStatus::Active {
        return Err(Error::Refused {
            code: "enrolment_closed",
            message: "this enrolment is closed".into(),
        });
    }
    if e.renewals_used >= p.renewals {
        return Err(Error::Refused {
            code: "no_renewal_left",
            message: format!("{} may be renewed {} time(s)", p.code, p.renewals),
        });
    }
    let ends = day(&e.ends_on).unwrap_or_else(|| today(state)) + chrono::Duration::weeks(p.weeks);
    store::renew(&mut tx, id, &ends.format("%Y-%m-%d").to_string()).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "programme.renew",
        ("candidate", &e.candidate_id),
        None,
        serde_json::json!({ "enrolment_id": id, "ends_on": ends.format("%Y-%m-%d").to_string() }),
    )
    .await?;
    let e = load_for_update(state, &mut tx, id).await?;
    tx.commit().await?;
    Ok(e)
}

/// How an enrolment ends.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Closing {
    /// `completed` or `abandoned`.
    pub status: EnrolmentStatus,
    /// What the person went on to (a contract type, training, business
    /// creation…); absent: no job or training.
    #[serde(default)]
    pub outcome: Option<PlacementOutcome>,
}

/// Close an active enrolment with its outcome; audited `programme.close`.
pub async fn close(state: &AppState, actor: &Actor, id: &str, c: Closing) -> Result<Enrolment> {
    actor.staff()?;
    if c.status == EnrolmentStatus::Active {
        return Err(Error::Validation(vec![FieldError::coded(
            "status",
            "invalid_value",
            "completed or abandoned",
        )]));
    }
    let mut tx = state.db.begin().await?;
    let e = load_for_update(state, &mut tx, id).await?;
    if e.status != EnrolmentStatus::Active {
        return Err(Error::Refused {
            code: "enrolment_closed",
            message: "this enrolment is closed".into(),
        });
    }
    let outcome = c.outcome.map(|o| o.as_str()).unwrap_or("none");
    let closed_on = today(state).format("%Y-%m-%d").to_string();
    store::close(&mut tx, id, c.status, outcome, &closed_on).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "programme.close",
        ("candidate", &e.candidate_id),
        None,
        serde_json::json!({ "enrolment_id": id, "status": <&'static str>::from(c.status),
            "outcome": outcome }),
    )
    .await?;
    let e = load_for_update(state, &mut tx, id).await?;
    tx.commit().await?;
    Ok(e)
}

/// Delete a record's enrolments (erasure, anonymisation), in the caller's
/// transaction.
pub async fn purge(conn: &mut sqlx::AnyConnection, candidate_id: &str) -> Result<()> {
    store::purge(conn, candidate_id).await
}

/// An item of the « À faire »: what is due in an enrolment of one of the
/// counsellor's people.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TodoItem {
    pub enrolment_id: String,
    pub person: crate::candidates::followup::Person,
    pub programme_name: String,
    #[schema(value_type = String)]
    pub what: &'static str,
    pub due_on: String,
    pub overdue: bool,
}

/// What is due within `horizon_days` in the active enrolments of the
/// acting counsellor's people (assigned to them, or enrolled by them),
/// overdue first.
pub async fn todo(state: &AppState, actor: &Actor, horizon_days: i64) -> Result<Vec<TodoItem>> {
    let user = actor.staff()?;
    let mut conn = state.db.pool.acquire().await?;
    let rows = store::active_of_counsellor(&mut conn, &user.id).await?;
    drop(conn);
    let today = today(state);
    let horizon = today + chrono::Duration::days(horizon_days);
    let mut out = Vec::new();
    for r in rows {
        let (first, last) = (r.first_name, r.last_name);
        let e = enrolment_of(state, r.enrolment, today);
        for d in e.due.iter().filter(|d| d.due_on <= horizon) {
            out.push(TodoItem {
                enrolment_id: e.id.clone(),
                person: crate::candidates::followup::Person {
                    candidate_id: e.candidate_id.clone(),
                    name: format!("{first} {last}").trim().to_string(),
                },
                programme_name: e.programme_name.clone(),
                what: d.kind.label(),
                due_on: d.due_on.format("%Y-%m-%d").to_string(),
                overdue: d.overdue,
            });
        }
    }
    out.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(a.due_on.cmp(&b.due_on)));
    Ok(out)
}

/// One programme's figures over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeFigures {
    pub code: String,
    pub name: String,
    /// Enrolments started in the period.
    pub enrolled: i64,
    /// Enrolments under way today.
    pub active: i64,
    /// Enrolments closed in the period: completed, abandoned.
    pub completed: i64,
    pub abandoned: i64,
    /// Closed in the period, by outcome code (`cdi`…, `none`).
    pub outcomes: std::collections::BTreeMap<String, i64>,
    /// Closed in the period into a job, training or business creation.
    pub positive_outcomes: i64,
}

/// Per configured programme, over `from`..=`to` (`YYYY-MM-DD`).
pub async fn figures(state: &AppState, from: &str, to: &str) -> Result<Vec<ProgrammeFigures>> {
    // Only the rows a figure counts: started or closed in the period, or
    // still under way.
    let mut conn = state.db.pool.acquire().await?;
    let rows = store::for_figures(&mut conn, from, to).await?;
    let mut out: Vec<ProgrammeFigures> = state
        .config
        .programmes
        .iter()
        .map(|p| ProgrammeFigures {
            code: p.code.clone(),
            name: p.name.clone(),
            ..ProgrammeFigures::default()
        })
        .collect();
    for r in rows {
        let Some(f) = out.iter_mut().find(|f| f.code == r.programme_code) else {
            continue;
        };
        if r.started_on.as_str() >= from && r.started_on.as_str() <= to {
            f.enrolled += 1;
        }
        if r.status == EnrolmentStatus::Active {
            f.active += 1;
        }
        if r.closed_on
            .is_some_and(|c| c.as_str() >= from && c.as_str() <= to)
        {
            match r.status {
                EnrolmentStatus::Completed => f.completed += 1,
                EnrolmentStatus::Abandoned => f.abandoned += 1,
                EnrolmentStatus::Active => {}
            }
            let outcome: String = r.outcome.unwrap_or_else(|| "none".into());
            if outcome != "none" {
                f.positive_outcomes += 1;
            }
            *f.outcomes.entry(outcome).or_default() += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn three_months() -> Programme {
        Programme {
            code: "3-mois-pour-un-job".into(),
            name: "3 mois pour un job".into(),
            funder: "Conseil départemental du Loiret".into(),
            weeks: 13,
            renewals: 1,
            individual_every_days: 7,
            group_every_days: 7,
            immersions: 1,
        }
    }

    fn d(s: &str) -> NaiveDate {
        day(s).unwrap()
    }

    #[test]
    fn weekly_follow_ups_fall_due_and_go_overdue() {
        let p = three_months();
        let (s, e) = (d("2026-03-02"), d("2026-05-31"));
        // Day one: the first follow-ups are due a week on.
        let due = due_items(&p, s, e, None, None, d("2026-03-02"));
        assert_eq!(due[0].due_on, d("2026-03-09"));
        assert!(due.iter().all(|x| !x.overdue));
        // Nothing held for ten days: both overdue.
        let due = due_items(&p, s, e, None, None, d("2026-03-12"));
        let overdue: Vec<DueKind> = due.iter().filter(|x| x.overdue).map(|x| x.kind).collect();
        assert_eq!(overdue, vec![DueKind::Individual, DueKind::Group]);
        // An interview on the 10th: the next one is due on the 17th.
        let due = due_items(&p, s, e, Some(d("2026-03-10")), None, d("2026-03-12"));
        let ind = due.iter().find(|x| x.kind == DueKind::Individual).unwrap();
        assert_eq!((ind.due_on, ind.overdue), (d("2026-03-17"), false));
        // A follow-up before the start does not count.
        let due = due_items(&p, s, e, Some(d("2026-02-20")), None, d("2026-03-03"));
        assert_eq!(due[0].due_on, d("2026-03-09"));
        // Past the end: only the end, overdue.
        let due = due_items(
            &p,
            s,
            e,
            Some(d("2026-05-28")),
            Some(d("2026-05-28")),
            d("2026-06-02"),
        );
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].kind, due[0].overdue), (DueKind::End, true));
    }

    #[test]
    fn bad_programmes_are_refused() {
        assert!(validate(&[three_months()]).is_ok());
        assert!(validate(&[three_months(), three_months()]).is_err());
        let bad = Programme {
            weeks: 0,
            ..three_months()
        };
        assert!(validate(&[bad]).unwrap_err().contains("weeks"));
        let bad = Programme {
            code: "Trois mois".into(),
            ..three_months()
        };
        assert!(validate(&[bad]).is_err());
    }
}
