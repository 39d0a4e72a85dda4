//! RGPD retention of candidate records.
//!
//! A record's activity clock (`last_activity_at`) is moved by every change
//! (create, update, consent, CV upload, status change, placement) and by an
//! explicit renewal (`POST /api/v1/candidates/{id}/renew`). Reads do not
//! count. With `retention.inactive_months` = 24 and `reminder_days` = 30:
//!
//! - from 24 months − 30 days of inactivity the record is *due for review*:
//!   the sweep sets `retention_reminded_at` once and writes a
//!   `candidate.retention_reminder` audit entry (actor: the node); the
//!   record appears in `GET /api/v1/candidates/retention`;
//! - after 24 months it is **anonymised**: names, contact, external id, CV
//!   text, free lists, files (database and disk), sensitive fields, consent
//!   and the local copies of its referral profiles are removed, the index
//!   entry too, the federation is told as for an erasure; the row stays
//!   with `anonymised_at`, its commune, ROME codes, contract types, status and
//!   timestamps, and its placements, for statistics.

use std::time::Duration;

use chrono::{Months, TimeZone, Utc};
use serde::Serialize;

use super::{load, remove_files_dir, store, unindex_now, StoredProfile};
use crate::actor::Actor;
use crate::auth::{Role, User};
use crate::error::{Error, Result};
use crate::server::AppState;
use crate::util::now_ms;

const DAY_MS: i64 = 86_400_000;

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Records whose counsellor was reminded.
    pub reminded: u64,
    /// Records anonymised.
    pub anonymised: u64,
}

/// `ms` shifted by `months` calendar months (negative = back).
fn shift_months(ms: i64, months: i64) -> i64 {
    let Some(dt) = Utc.timestamp_millis_opt(ms).single() else {
        return ms;
    };
    let m = Months::new(u32::try_from(months.unsigned_abs()).unwrap_or(u32::MAX));
    let shifted = if months >= 0 {
        dt.checked_add_months(m)
    } else {
        dt.checked_sub_months(m)
    };
    shifted.map_or(ms, |d| d.timestamp_millis())
}

/// When a record with this last activity is anonymised.
pub fn due_at(state: &AppState, last_activity_at: i64) -> i64 {
    shift_months(last_activity_at, state.config.retention.inactive_months)
}

/// Records with `last_activity_at` before this are past their retention.
fn anonymise_cutoff(state: &AppState, now: i64) -> i64 {
    shift_months(now, -state.config.retention.inactive_months)
}

/// Records with `last_activity_at` before this are due for review.
fn reminder_cutoff(state: &AppState, now: i64) -> i64 {
    shift_months(
        now + state.config.retention.reminder_days * DAY_MS,
        -state.config.retention.inactive_months,
    )
}

/// Run one retention pass as if the time were `now_ms`.
pub async fn retention_sweep(state: &AppState, now_ms: i64) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    // Anonymise first: a record past its date needs no reminder.
    let cutoff = anonymise_cutoff(state, now_ms);
    let ids = {
        let mut conn = state.db.pool.acquire().await?;
        store::inactive_before(&mut conn, cutoff).await?
    };
    for id in ids {
        if anonymise(state, &id, now_ms, cutoff).await? {
            report.anonymised += 1;
        }
    }
    let rcut = reminder_cutoff(state, now_ms);
    let rows = {
        let mut conn = state.db.pool.acquire().await?;
        store::reminders_due(&mut conn, rcut).await?
    };
    // One transaction: the marks, their audit rows and one e-mail per
    // counsellor (how many records, the earliest date) commit together.
    let mut tx = state.db.begin().await?;
    let mut per_counsellor: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for store::ReminderDue {
        id,
        counsellor_id: counsellor,
        last_activity_at: last,
    } in rows
    {
        if store::mark_reminded(&mut tx, &id, now_ms, last).await? {
            report.reminded += 1;
            let due = due_at(state, last);
            crate::audit::append(
                &mut tx,
                &Actor::System("retention"),
                "candidate.retention_reminder",
                ("candidate", &id),
                None,
                serde_json::json!({ "counsellor_id": counsellor, "due_at": due }),
            )
            .await?;
            if let Some(c) = counsellor {
                let e = per_counsellor.entry(c).or_insert((0, due));
                e.0 += 1;
                e.1 = e.1.min(due);
            }
        }
    }
    for (counsellor, (records, due)) in &per_counsellor {
        let link = state.mail.link("/ui/candidats");
        let due_on = crate::util::date_fr(*due);
        state
            .mail
            .enqueue_to_user(&mut tx, counsellor, |display_name| {
                crate::mail::Mail::RetentionReminder {
                    display_name,
                    records: *records,
                    due_on,
                    link,
                }
            })
            .await?;
    }
    tx.commit().await?;
    if !per_counsellor.is_empty() {
        state.mail.wake();
    }
    if report.reminded + report.anonymised > 0 {
        tracing::info!(
            reminded = report.reminded,
            anonymised = report.anonymised,
            "retention sweep"
        );
    }
    Ok(report)
}

/// Anonymise one record if it is still past `cutoff`, audited
/// `candidate.anonymise` (actor: the node's retention sweep) in the same
/// transaction. Returns whether it was.
async fn anonymise(state: &AppState, id: &str, now: i64, cutoff: i64) -> Result<bool> {
    let Some((c, meta)) = load(&state.db, id).await? else {
        return Ok(false);
    };
    if meta.anonymised_at.is_some() || c.last_activity_at >= cutoff {
        return Ok(false);
    }
    // Statistics only.
    let kept = StoredProfile {
        contract_types: c.contract_types.clone(),
        rome_codes: c.rome_codes.clone(),
        ..StoredProfile::default()
    };
    let status = match c.status {
        super::CandidateStatus::Placed => super::CandidateStatus::Placed,
        _ => super::CandidateStatus::Archived,
    };
    let mut tx = state.db.begin().await?;
    crate::federation::on_candidate_erased(state, &mut tx, id).await?;
    crate::referrals::store::clear_profiles_of_candidate(&mut tx, id).await?;
    store::delete_files(&mut tx, id).await?;
    store::delete_sensitive(&mut tx, id).await?;
    super::followup::purge(&mut tx, id).await?;
    crate::programmes::purge(&mut tx, id).await?;
    crate::netsearch::store::purge(&mut tx, id).await?;
    store::anonymise(&mut tx, id, &kept, status, now).await?;
    let seq = super::journal_purge(&mut tx, id).await?;
    crate::audit::append(
        &mut tx,
        &Actor::System("retention"),
        "candidate.anonymise",
        ("candidate", id),
        Some("retention period expired"),
        serde_json::json!({ "inactive_months": state.config.retention.inactive_months }),
    )
    .await?;
    tx.commit().await?;
    remove_files_dir(state, id).await;
    unindex_now(state, seq).await;
    Ok(true)
}

/// Run [`retention_sweep`] every `retention.sweep_interval_secs` until
/// `state.shutdown` changes.
pub fn spawn_retention_sweep(state: &AppState) {
    let state = state.clone();
    let mut shutdown = state.shutdown.clone();
    let every = Duration::from_secs(state.config.retention.sweep_interval_secs.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if !state.leader.is_leader() {
                        continue;
                    }
                    if let Err(e) = retention_sweep(&state, state.clock.now_ms()).await {
                        tracing::error!(error = %e, "retention sweep failed");
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
    });
}

/// A record due for review.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RetentionItem {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub counsellor_id: Option<String>,
    pub status: String,
    pub last_activity_at: i64,
    /// When it will be anonymised unless renewed.
    #[sqlx(skip)]
    pub due_at: i64,
    /// When the reminder was sent (by the sweep).
    pub reminded_at: Option<i64>,
}

/// Records due for review at `now`: the admin sees all, a counsellor those
/// assigned to them or to nobody.
pub async fn retention_due(state: &AppState, user: &User, now: i64) -> Result<Vec<RetentionItem>> {
    let rcut = reminder_cutoff(state, now);
    let rows = {
        let mut conn = state.db.pool.acquire().await?;
        store::due_for_review(&mut conn, rcut).await?
    };
    let mut out = Vec::new();
    for mut r in rows {
        if user.role != Role::Admin && r.counsellor_id.as_deref().is_some_and(|c| c != user.id) {
            continue;
        }
        r.due_at = due_at(state, r.last_activity_at);
        out.push(r);
    }
    Ok(out)
}

/// The records due for review at the node's time (staff), as the review
/// list shows them. Audited `candidate.retention_list` (how many, which
/// ids, the reason given) in its own transaction.
pub async fn retention_list(
    state: &AppState,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<Vec<RetentionItem>> {
    let user = actor.staff()?;
    let items = retention_due(state, user, now_ms()).await?;
    let mut conn = state.db.pool.acquire().await?;
    crate::audit::append(
        &mut conn,
        actor,
        "candidate.retention_list",
        ("candidate", "*"),
        reason,
        serde_json::json!({ "count": items.len(), "ids": items.iter().map(|i| i.id.clone()).collect::<Vec<_>>() }),
    )
    .await?;
    Ok(items)
}

/// Renew a record's retention (staff): its activity clock restarts now.
/// Audited `candidate.retention_renew` (the new date, the reason given) in
/// the same transaction. Returns the new date.
pub async fn renew(state: &AppState, actor: &Actor, id: &str, reason: Option<&str>) -> Result<i64> {
    actor.staff()?;
    let now = state.clock.now_ms();
    let due = due_at(state, now);
    let mut tx = state.db.begin().await?;
    if !store::touch(&mut tx, id, now, true).await? {
        return Err(Error::NotFound("candidate"));
    }
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.retention_renew",
        ("candidate", id),
        reason,
        serde_json::json!({ "due_at": due }),
    )
    .await?;
    tx.commit().await?;
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_shift_both_ways() {
        // 2024-01-31 + 1 month = 2024-02-29 (clamped), and back.
        let jan31 = Utc
            .with_ymd_and_hms(2024, 1, 31, 12, 0, 0)
            .single()
            .map(|d| d.timestamp_millis())
            .unwrap_or_default();
        let feb29 = Utc
            .with_ymd_and_hms(2024, 2, 29, 12, 0, 0)
            .single()
            .map(|d| d.timestamp_millis())
            .unwrap_or_default();
        assert_eq!(shift_months(jan31, 1), feb29);
        assert_eq!(shift_months(feb29, -1), jan31 - 2 * DAY_MS);
        assert_eq!(shift_months(jan31, 0), jan31);
    }
}
