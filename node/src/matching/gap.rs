//! The skills gap: for a near miss that fails only for want of required
//! certifications (or a licence counted as a `PERMIS_*` code), the
//! trainings this node knows (its own and those received from the
//! network) that grant a missing code, open, starting today or later,
//! ending before the offer's `start_date` (when it has one), with a place
//! within the candidate's travel limit. A counsellor refers the candidate
//! to one of them "for" the offer (`for_offer_id`).

use serde::Serialize;
use vivier_protocol::OpportunityPayload;

use crate::geo::{haversine_km, Point};
use crate::opportunities::StoredOpportunity;
use crate::referentials::Certifications;

/// A training that closes (part of) a skills gap.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GapTraining {
    pub opportunity_id: String,
    pub origin_node: String,
    pub is_local: bool,
    pub title: String,
    pub organisation: String,
    /// The missing codes this training grants.
    pub closes: Vec<String>,
    pub start_date: String,
    pub end_date: String,
    /// Nearest place of the training.
    pub place_label: Option<String>,
    /// Home–nearest place distance.
    pub distance_km: f64,
    pub seats: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funding: Option<String>,
}

/// What a near miss lacks and the trainings that grant it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SkillsGap {
    /// Missing required certification codes (and `PERMIS_*` for a missing
    /// licence).
    pub missing: Vec<String>,
    /// Trainings granting at least one of them, soonest first.
    pub trainings: Vec<GapTraining>,
}

/// The nearest place of `p` from `home` with its distance.
pub(crate) fn nearest(p: &OpportunityPayload, home: Point) -> Option<(f64, Option<String>)> {
    p.places
        .iter()
        .filter_map(|pl| {
            let at = Point::new(pl.lat_micro?, pl.lon_micro?);
            Some((haversine_km(home, at), pl.label.clone()))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

/// The trainings among `known` that close part of `missing` for a
/// candidate living at `home` (travel limit `limit_km`), usable before
/// `offer_start` (`YYYY-MM-DD`), not started before `today` (days since
/// the epoch).
pub fn trainings_for(
    missing: &[String],
    known: &[StoredOpportunity],
    home: Option<Point>,
    limit_km: f64,
    offer_start: Option<&str>,
    today: i64,
) -> Vec<GapTraining> {
    let Some(home) = home else {
        return Vec::new();
    };
    let refs = Certifications::global();
    let before = offer_start.and_then(crate::util::date_to_days);
    let mut out: Vec<GapTraining> = known
        .iter()
        .filter_map(|t| {
            let p = &t.payload;
            let grants = refs.held(&p.certifications_granted, &[]);
            let closes: Vec<String> = missing
                .iter()
                .filter(|m| Certifications::satisfied(&grants, m))
                .cloned()
                .collect();
            if closes.is_empty() {
                return None;
            }
            let start = crate::util::date_to_days(&p.start_date)?;
            let end = crate::util::date_to_days(&p.end_date)?;
            if start < today || before.is_some_and(|b| end >= b) {
                return None;
            }
            let (distance_km, place_label) = nearest(p, home)?;
            if distance_km > limit_km {
                return None;
            }
            Some(GapTraining {
                opportunity_id: p.opportunity_id.clone(),
                origin_node: p.origin_node.to_string(),
                is_local: t.is_local,
                title: p.title.clone(),
                organisation: p.organisation.clone(),
                closes,
                start_date: p.start_date.clone(),
                end_date: p.end_date.clone(),
                place_label,
                distance_km: (distance_km * 10.0).round() / 10.0,
                seats: p.seats,
                funding: p.funding.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (b.closes.len(), &a.start_date, &a.opportunity_id).cmp(&(
            a.closes.len(),
            &b.start_date,
            &b.opportunity_id,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opportunities::OpportunityStatus;
    use vivier_protocol::{NodeId, OpportunityPlace, OpportunityType};

    fn training(id: &str, grants: &[&str], start: &str, end: &str, lat: i64) -> StoredOpportunity {
        StoredOpportunity {
            payload: OpportunityPayload {
                opportunity_id: id.into(),
                origin_node: NodeId::parse("node-b").expect("node id"),
                opportunity_type: OpportunityType::Training,
                title: format!("Formation {id}"),
                description: String::new(),
                organisation: "AFPA".into(),
                siret: None,
                certifications_granted: grants.iter().map(|s| s.to_string()).collect(),
                rome_codes: Vec::new(),
                places: vec![OpportunityPlace {
                    commune_insee: "41018".into(),
                    label: Some("Blois (41)".into()),
                    lat_micro: Some(lat),
                    lon_micro: Some(1_335_947),
                }],
                start_date: start.into(),
                end_date: end.into(),
                seats: 8,
                funding: None,
                tutor: None,
                published_at: 0,
                updated_at: 0,
            },
            status: OpportunityStatus::Open,
            is_local: false,
            owner_user_id: None,
            closed_at: None,
            closed_reason: None,
        }
    }

    #[test]
    fn only_trainings_granting_in_reach_and_in_time() {
        let home = Some(Point::new(47_586_092, 1_335_947));
        let today = crate::util::date_to_days("2027-01-10").expect("date");
        let missing = vec!["CACES_R489_3".to_string()];
        let known = vec![
            training(
                "ok",
                &["CACES_R489_3"],
                "2027-02-01",
                "2027-02-05",
                47_586_092,
            ),
            training(
                "other-code",
                &["CACES_R489_1"],
                "2027-02-01",
                "2027-02-05",
                47_586_092,
            ),
            // Ends on the offer's first day: too late.
            training(
                "late",
                &["CACES_R489_3"],
                "2027-02-25",
                "2027-03-01",
                47_586_092,
            ),
            // Already started.
            training(
                "started",
                &["CACES_R489_3"],
                "2027-01-05",
                "2027-01-20",
                47_586_092,
            ),
            // About 111 km north: beyond a 30 km limit.
            training(
                "far",
                &["CACES_R489_3"],
                "2027-02-01",
                "2027-02-05",
                48_586_092,
            ),
        ];
        let found = trainings_for(&missing, &known, home, 30.0, Some("2027-03-01"), today);
        let ids: Vec<&str> = found.iter().map(|t| t.opportunity_id.as_str()).collect();
        assert_eq!(ids, ["ok"]);
        assert_eq!(found[0].closes, missing);
        assert_eq!(found[0].distance_km, 0.0);
        // No start date on the offer: the late one qualifies too.
        let found = trainings_for(&missing, &known, home, 30.0, None, today);
        assert_eq!(found.len(), 2);
        // Home unknown: no distance, nothing proposed.
        assert!(trainings_for(&missing, &known, None, 30.0, None, today).is_empty());
    }

    #[test]
    fn implied_codes_close_the_gap() {
        // FIMO_M implies FCO_M in the referential.
        let home = Some(Point::new(47_586_092, 1_335_947));
        let known = vec![training(
            "fimo",
            &["FIMO_M"],
            "2027-02-01",
            "2027-02-05",
            47_586_092,
        )];
        let found = trainings_for(&["FCO_M".to_string()], &known, home, 30.0, None, 0);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].closes, ["FCO_M"]);
    }
}
