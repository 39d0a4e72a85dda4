//! The one read matching makes of `candidates` after an index pass: the
//! listed rows, with only what a ranking and its explanations use (names,
//! home commune, status, consent scope and the profile's matching fields).
//! Not the CV text's analysis (the pass and `match_terms_held` read it from
//! the index), nor files, contact details or dates: a 57-workplace offer
//! lists up to 1,140 rows, loaded here in one statement.

use std::collections::HashMap;

use serde::Deserialize;
use vivier_protocol::ContractType;

use crate::candidates::{Candidate, CandidateStatus, Consent, ConsentScope};
use crate::db::Db;
use crate::error::{Error, Result};

/// Most ids bound in one `IN (…)` list: every listed row of the largest
/// ranking the API allows in one statement (200 per workplace × 57
/// workplaces), within SQLite's and PostgreSQL's bind limits.
const CHUNK: usize = 12_000;

/// The columns read.
const COLUMNS: &str =
    "id, first_name, last_name, commune_insee, status, profile, consent_at, consent_scope";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    first_name: String,
    last_name: String,
    commune_insee: String,
    status: String,
    /// JSON of the stored profile; only [`MatchProfile`]'s fields are kept.
    profile: String,
    consent_at: Option<i64>,
    consent_scope: Option<String>,
}

/// The profile fields matching reads (the stored JSON's other members,
/// the CV text among them, are skipped without being copied).
#[derive(Deserialize)]
struct MatchProfile {
    #[serde(default)]
    max_travel_km: Option<i64>,
    #[serde(default)]
    driving_licences: Vec<String>,
    #[serde(default)]
    certifications: Vec<String>,
    #[serde(default)]
    has_vehicle: bool,
    #[serde(default)]
    public_transport_only: bool,
    #[serde(default)]
    available_from: Option<String>,
    #[serde(default)]
    weekly_hours: Option<i64>,
    #[serde(default)]
    contract_types: Vec<ContractType>,
    #[serde(default)]
    rome_codes: Vec<String>,
}

impl Row {
    fn into_candidate(self) -> Result<Candidate> {
        let p: MatchProfile = serde_json::from_str(&self.profile)
            .map_err(|e| Error::Internal(anyhow::anyhow!("candidate profile JSON: {e}")))?;
        let consent = match (
            self.consent_at,
            self.consent_scope.as_deref().and_then(ConsentScope::parse),
        ) {
            (Some(at), Some(scope)) => Some(Consent {
                given_at: at,
                counsellor_id: String::new(),
                scope,
            }),
            _ => None,
        };
        let home = crate::referentials::Referentials::global()
            .commune(&self.commune_insee)
            .and_then(|c| c.point);
        Ok(Candidate {
            id: self.id,
            external_id: None,
            first_name: self.first_name,
            last_name: self.last_name,
            email: None,
            phone: None,
            commune_insee: self.commune_insee,
            home,
            max_travel_km: p.max_travel_km,
            driving_licences: p.driving_licences,
            certifications: p.certifications,
            has_vehicle: p.has_vehicle,
            public_transport_only: p.public_transport_only,
            available_from: p.available_from,
            weekly_hours: p.weekly_hours,
            contract_types: p.contract_types,
            rome_codes: p.rome_codes,
            job_titles: Vec::new(),
            skills: Vec::new(),
            languages: Vec::new(),
            experience_years: None,
            training_level: None,
            birth_year: None,
            cv_text: String::new(),
            counsellor_id: None,
            status: CandidateStatus::parse(&self.status).unwrap_or(CandidateStatus::Active),
            consent,
            sensitive: None,
            files: Vec::new(),
            created_at: 0,
            updated_at: 0,
            last_activity_at: 0,
        })
    }
}

/// The rows `ids` as matching reads them, by id (missing ids are absent):
/// a [`Candidate`] whose matching fields, names, home and status are the
/// record's, and whose other fields are left empty (no CV text, job titles,
/// skills, contact, files, dates). The text part comes from the index.
pub(crate) async fn listed(db: &Db, ids: &[String]) -> Result<HashMap<String, Candidate>> {
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let mut conn = db.pool.acquire().await?;
    for chunk in ids.chunks(CHUNK) {
        let list = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {COLUMNS} FROM candidates WHERE id IN ({list})");
        let mut q = sqlx::query_as::<_, Row>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let c = row.into_candidate()?;
            out.insert(c.id.clone(), c);
        }
    }
    Ok(out)
}
