//! Checks of the referral payloads received from other nodes, each the
//! counterpart of a local check: the candidate profile goes through the
//! candidathèque's own validation (`candidates::validate`), a status change
//! through the same field rules as `POST /api/v1/referrals/{id}/status`,
//! and every text through the shared rules of [`crate::validation`].

use vivier_protocol::{
    CandidateProfile, ContractType, ReferralStatus, ReferralStatusChanged, ReferralSubmitted,
    ReferralWithdrawn, RefusalReason,
};

use super::{MAX_COMMENT_CHARS, MAX_ENDORSEMENT_CHARS};
use crate::candidates::CandidateInput;
use crate::error::FieldError;
use crate::referentials::Referentials;
use crate::validation as v;

/// Longest name of a person (counsellor, author of a change), in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The field rules of a status change shared by the API and the inbox:
/// `refused` needs a reason and only it has one; `accepted` needs a
/// contract type and a start date, and only it has them; the comment is
/// bounded.
pub(super) fn status_fields(
    errs: &mut Vec<FieldError>,
    status: ReferralStatus,
    reason: Option<RefusalReason>,
    contract_type: Option<ContractType>,
    start_date: Option<&str>,
    comment: Option<&str>,
) {
    match (status, reason) {
        (ReferralStatus::Refused, None) => errs.push(FieldError::new(
            "reason",
            "required when status is refused: one of not_mobile, lacking_skills, hired_elsewhere, \
             position_filled, candidate_declined, no_answer, other",
        )),
        (ReferralStatus::Refused, Some(_)) | (_, None) => {}
        (_, Some(_)) => errs.push(FieldError::new("reason", "only for status refused")),
    }
    if status == ReferralStatus::Accepted {
        if contract_type.is_none() {
            errs.push(FieldError::new(
                "contract_type",
                "required when status is accepted: one of CDI, CDD, MIS, SAI, ALT",
            ));
        }
        match start_date.map(str::trim) {
            None | Some("") => errs.push(FieldError::new(
                "start_date",
                "required when status is accepted (YYYY-MM-DD)",
            )),
            Some(d) => v::date(errs, "start_date", Some(d)),
        }
    } else {
        if contract_type.is_some() {
            errs.push(FieldError::new("contract_type", "only for status accepted"));
        }
        if start_date.is_some() {
            errs.push(FieldError::new("start_date", "only for status accepted"));
        }
    }
    v::opt_text(errs, "comment", comment, MAX_COMMENT_CHARS);
}

/// The candidate profile of a received referral, field names prefixed with
/// `prefix` (e.g. `candidate.`).
pub fn check_profile(refs: &Referentials, p: &CandidateProfile, prefix: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let f = |name: &str| format!("{prefix}{name}");
    v::identifier(&mut errs, &f("candidate_ref"), &p.candidate_ref);
    // What the candidathèque itself accepts (names, contact, commune,
    // ranges, licences, date, ROME codes, CV length…).
    let input = CandidateInput {
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        email: p.email.clone(),
        phone: p.phone.clone(),
        commune_insee: p.commune_insee.clone(),
        max_travel_km: p.max_travel_km,
        driving_licences: p.driving_licences.clone(),
        certifications: p.certifications.clone(),
        has_vehicle: p.has_vehicle,
        public_transport_only: p.public_transport_only,
        available_from: p.available_from.clone(),
        weekly_hours: p.weekly_hours,
        contract_types: p.contract_types.clone(),
        rome_codes: p.rome_codes.clone(),
        experience_years: p.experience_years,
        training_level: p.training_level.clone(),
        cv_text: Some(p.cv_text.clone()),
        ..CandidateInput::default()
    };
    if let Err(found) = crate::candidates::validate(refs, &input) {
        errs.extend(
            found
                .into_iter()
                .map(|e| FieldError::new(f(&e.field), e.message)),
        );
    }
    // What the candidathèque trims or drops silently is refused here: a
    // profile arrives as its sender built it.
    for (name, value) in [
        ("first_name", Some(p.first_name.as_str())),
        ("last_name", Some(p.last_name.as_str())),
        ("email", p.email.as_deref()),
        ("phone", p.phone.as_deref()),
        ("training_level", p.training_level.as_deref()),
        ("cv_text", Some(p.cv_text.as_str())),
    ] {
        if let Some(value) = value {
            v::no_controls(&mut errs, &f(name), value);
        }
    }
    if p.email.as_deref().is_some_and(|e| e.chars().count() > 254) {
        errs.push(FieldError::new(f("email"), "at most 254 characters"));
    }
    v::text_list(
        &mut errs,
        &f("driving_licences"),
        &p.driving_licences,
        20,
        5,
    );
    // Codes as stored: the candidathèque upper-cases, received ones must be.
    for (i, code) in p.certifications.iter().enumerate() {
        if code.trim() != code.as_str() || code.to_ascii_uppercase() != *code {
            errs.push(FieldError::new(
                f(&format!("certifications[{i}]")),
                "must be an upper-case code of the certification referential",
            ));
        }
    }
    if p.contract_types.len() > 5 {
        errs.push(FieldError::new(f("contract_types"), "at most 5 items"));
    }
    v::text_list(&mut errs, &f("job_titles"), &p.job_titles, 20, 200);
    v::text_list(&mut errs, &f("skills"), &p.skills, 100, 200);
    v::text_list(&mut errs, &f("languages"), &p.languages, 20, 100);
    errs
}

/// A received `referral.submitted`.
pub fn check_submitted(
    refs: &Referentials,
    r: &ReferralSubmitted,
    now_ms: i64,
    skew_ms: i64,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    v::identifier(&mut errs, "referral_id", &r.referral_id);
    v::identifier(&mut errs, "offer_id", &r.offer_id);
    if let Some(f) = &r.for_offer_id {
        v::identifier(&mut errs, "for_offer_id", f);
    }
    v::text(
        &mut errs,
        "counsellor_name",
        &r.counsellor_name,
        true,
        MAX_NAME_CHARS,
    );
    if let Some(e) = &r.counsellor_email {
        v::text(&mut errs, "counsellor_email", e, true, 254);
        if !crate::auth::valid_email(e) {
            errs.push(FieldError::new(
                "counsellor_email",
                "is not a valid e-mail address",
            ));
        }
    }
    if let Some(p) = &r.counsellor_phone {
        v::text(&mut errs, "counsellor_phone", p, true, 40);
        if !crate::candidates::valid_phone(p) {
            errs.push(FieldError::new(
                "counsellor_phone",
                "expected 6 to 20 digits (spaces, +, ., -, parentheses allowed)",
            ));
        }
    }
    v::text(
        &mut errs,
        "endorsement",
        &r.endorsement,
        true,
        MAX_ENDORSEMENT_CHARS,
    );
    v::timestamp(
        &mut errs,
        "consent_given_at",
        r.consent_given_at,
        now_ms,
        skew_ms,
    );
    v::timestamp(&mut errs, "submitted_at", r.submitted_at, now_ms, skew_ms);
    errs.extend(check_profile(refs, &r.candidate, "candidate."));
    errs
}

/// A received `referral.status_changed`.
pub fn check_status_changed(
    c: &ReferralStatusChanged,
    now_ms: i64,
    skew_ms: i64,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    v::identifier(&mut errs, "referral_id", &c.referral_id);
    v::identifier(&mut errs, "offer_id", &c.offer_id);
    if c.status == ReferralStatus::New {
        errs.push(FieldError::new("status", "nothing transitions back to new"));
    }
    if c.status.is_local_only() {
        errs.push(FieldError::new(
            "status",
            "is set by the referring node for itself and never sent between nodes",
        ));
    }
    status_fields(
        &mut errs,
        c.status,
        c.reason,
        c.contract_type,
        c.start_date.as_deref(),
        c.comment.as_deref(),
    );
    v::text(
        &mut errs,
        "changed_by",
        &c.changed_by,
        false,
        MAX_NAME_CHARS,
    );
    v::timestamp(&mut errs, "changed_at", c.changed_at, now_ms, skew_ms);
    errs
}

/// A received `referral.withdrawn`.
pub fn check_withdrawn(w: &ReferralWithdrawn, now_ms: i64, skew_ms: i64) -> Vec<FieldError> {
    let mut errs = Vec::new();
    v::identifier(&mut errs, "referral_id", &w.referral_id);
    v::identifier(&mut errs, "offer_id", &w.offer_id);
    v::timestamp(&mut errs, "withdrawn_at", w.withdrawn_at, now_ms, skew_ms);
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn status_field_rules() {
        let mut errs = Vec::new();
        status_fields(
            &mut errs,
            ReferralStatus::Processing,
            Some(RefusalReason::Other),
            Some(ContractType::Cdi),
            Some("2026-01-01"),
            Some("ok\u{0}"),
        );
        assert_eq!(
            fields(&errs),
            ["reason", "contract_type", "start_date", "comment"]
        );
        let mut errs = Vec::new();
        status_fields(
            &mut errs,
            ReferralStatus::Accepted,
            None,
            None,
            Some("2026-02-30"),
            Some(&"x".repeat(MAX_COMMENT_CHARS + 1)),
        );
        assert_eq!(fields(&errs), ["contract_type", "start_date", "comment"]);
    }

    #[test]
    fn received_status_changes_and_withdrawals() {
        let now = 1_750_000_000_000;
        let c = ReferralStatusChanged {
            referral_id: String::new(),
            offer_id: "o".into(),
            status: ReferralStatus::New,
            reason: None,
            contract_type: None,
            start_date: None,
            comment: None,
            changed_by: "é".repeat(MAX_NAME_CHARS + 1),
            changed_at: now + 1,
        };
        assert_eq!(
            fields(&check_status_changed(&c, now, 0)),
            ["referral_id", "status", "changed_by", "changed_at"]
        );
        // A peer may not name the referring node's local-only status.
        let local_only = ReferralStatusChanged {
            referral_id: "r".into(),
            status: ReferralStatus::Undeliverable,
            changed_by: "x".into(),
            changed_at: now,
            ..c
        };
        assert_eq!(
            fields(&check_status_changed(&local_only, now, 0)),
            ["status"]
        );
        let w = ReferralWithdrawn {
            referral_id: "r".into(),
            offer_id: "o\u{1}".into(),
            reason: vivier_protocol::WithdrawReason::Erasure,
            withdrawn_at: -1,
        };
        assert_eq!(
            fields(&check_withdrawn(&w, now, 0)),
            ["offer_id", "withdrawn_at"]
        );
    }
}
