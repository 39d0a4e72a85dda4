//! HTTP API of the candidathèque under `/api/v1/candidates`. Every endpoint
//! is for staff only (admin, counsellor): employers get 403, anonymous
//! callers 401. Every read, search and file download writes an audit entry;
//! audit details never hold personal data (the free text of a search is
//! recorded as its length only).

use axum::extract::{FromRequestParts, Multipart, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{CandidateInput, CandidateStatus, ConsentScope, RecordMeta, LICENCES};
use crate::actor::Actor;
use crate::auth::{Reason, User};
use crate::error::{ApiJson, Error, FieldError, Result};
use crate::search::{CandidateQuery, SortBy};
use crate::server::AppState;

/// An authenticated admin or counsellor.
pub struct Staff(pub User);

impl FromRequestParts<AppState> for Staff {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = User::from_request_parts(parts, state).await?;
        user.require_staff()?;
        Ok(Staff(user))
    }
}

/// A record as answered by the API.
#[derive(Serialize, utoipa::ToSchema)]
struct View {
    #[serde(flatten)]
    candidate: super::Candidate,
    #[serde(flatten)]
    meta: RecordMeta,
    /// `draft` (no consent), `consented` or `anonymised`.
    state: &'static str,
    /// When the record will be anonymised unless there is activity.
    retention_due_at: Option<i64>,
}

fn view(state: &AppState, c: super::Candidate, meta: RecordMeta) -> View {
    let st = if meta.anonymised_at.is_some() {
        "anonymised"
    } else if c.consent.is_some() {
        "consented"
    } else {
        "draft"
    };
    let due = meta
        .anonymised_at
        .is_none()
        .then(|| super::retention::due_at(state, c.last_activity_at));
    View {
        candidate: c,
        meta,
        state: st,
        retention_due_at: due,
    }
}

#[utoipa::path(post, path = "/api/v1/candidates", tag = "candidates", request_body = CandidateInput,
    responses((status = 201, description = "The new record", body = View)))]
async fn create_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiJson(input): ApiJson<CandidateInput>,
) -> Result<(StatusCode, Json<View>)> {
    let c = super::create(&state, &Actor::User(user), input, "api").await?;
    let v = view(&state, c, RecordMeta::default());
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(get, path = "/api/v1/candidates/{id}", tag = "candidates", params(ID),
    responses((status = 200, description = "The record (audited)", body = View)))]
async fn read_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    Reason(reason): Reason,
) -> Result<Json<View>> {
    let (c, meta) = super::read(&state, &Actor::User(user), &id, reason.as_deref()).await?;
    Ok(Json(view(&state, c, meta)))
}

#[utoipa::path(put, path = "/api/v1/candidates/{id}", tag = "candidates", params(ID), request_body = CandidateInput,
    responses((status = 200, description = "The record after the change", body = View)))]
async fn update_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CandidateInput>,
) -> Result<Json<View>> {
    let (c, _) = super::update(&state, &Actor::User(user), &id, input, "api").await?;
    Ok(Json(view(&state, c, RecordMeta::default())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReassignBody {
    counsellor_id: String,
}

#[utoipa::path(post, path = "/api/v1/candidates/{id}/counsellor", tag = "candidates", params(ID), request_body = ReassignBody,
    responses((status = 200, description = "The record, handed over", body = View)))]
async fn reassign_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    Reason(reason): Reason,
    ApiJson(body): ApiJson<ReassignBody>,
) -> Result<Json<View>> {
    let (c, _) = super::reassign(
        &state,
        &Actor::User(user),
        &id,
        body.counsellor_id.trim(),
        reason.as_deref(),
    )
    .await?;
    Ok(Json(view(&state, c, RecordMeta::default())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    scope: ConsentScope,
}

#[utoipa::path(post, path = "/api/v1/candidates/{id}/consent", tag = "candidates", params(ID), request_body = ConsentBody,
    responses((status = 200, description = "The record with its consent", body = View)))]
async fn consent_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConsentBody>,
) -> Result<Json<View>> {
    let c = super::consent(&state, &Actor::User(user), &id, body.scope, "api").await?;
    Ok(Json(view(&state, c, RecordMeta::default())))
}

#[utoipa::path(delete, path = "/api/v1/candidates/{id}/consent", tag = "candidates", params(ID),
    responses((status = 200, description = "The record without consent", body = View)))]
async fn withdraw_consent_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
) -> Result<Json<View>> {
    let c = super::withdraw_consent(&state, &Actor::User(user), &id, "api").await?;
    Ok(Json(view(&state, c, RecordMeta::default())))
}

#[utoipa::path(delete, path = "/api/v1/candidates/{id}", tag = "candidates", params(ID),
    responses((status = 204, description = "Erased for good (RGPD); the network is told")))]
async fn erase_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    Reason(reason): Reason,
) -> Result<StatusCode> {
    super::erase(&state, &Actor::User(user), &id, reason.as_deref(), "api").await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/candidates/{id}/cv", tag = "candidates", params(ID),
    request_body(content_type = "multipart/form-data", description = "One part `file`: PDF, DOCX or ODT"),
    responses((status = 201, description = "The stored file and its extracted text's state", body = serde_json::Value)))]
async fn upload_cv_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    // The record must exist before reading a large body.
    if super::load(&state.db, &id).await?.is_none() {
        return Err(Error::NotFound("candidate"));
    }
    let max = state.config.uploads.max_cv_bytes;
    let too_big = || {
        Error::PayloadTooLarge(format!(
            "the CV file is larger than the limit of {} MiB",
            max / (1024 * 1024)
        ))
    };
    let map_mp = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_big()
        } else {
            Error::BadRequest(format!("multipart body: {}", e.body_text()))
        }
    };
    let mut found: Option<(String, Vec<u8>)> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(map_mp)? {
        let Some(name) = field.file_name().map(str::to_string) else {
            continue;
        };
        let mut buf = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(map_mp)? {
            if buf.len() + chunk.len() > max {
                return Err(too_big());
            }
            buf.extend_from_slice(&chunk);
        }
        found = Some((name, buf));
        break;
    }
    let (name, bytes) =
        found.ok_or_else(|| Error::field("file", "no file part in the multipart body"))?;
    let (c, file) = super::attach_cv(&state, &Actor::User(user), &id, &name, bytes, "api").await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "file": file, "cv_text": c.cv_text })),
    ))
}

#[utoipa::path(get, path = "/api/v1/candidates/{id}/cv/{file_id}", tag = "candidates",
    params(ID, ("file_id" = String, Path, description = "CV file id")),
    responses((status = 200, description = "The file as uploaded (audited)", content_type = "application/octet-stream")))]
async fn download_cv_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path((id, file_id)): Path<(String, String)>,
    Reason(reason): Reason,
) -> Result<Response> {
    let (f, bytes) = super::read_cv(
        &state,
        &Actor::User(user),
        &id,
        &file_id,
        reason.as_deref(),
        "api",
    )
    .await?;
    let ascii: String = f
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&f.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

#[utoipa::path(post, path = "/api/v1/candidates/{id}/placement", tag = "candidates", params(ID), request_body = super::PlacementInput,
    responses((status = 201, description = "The recorded return to work", body = super::Placement)))]
async fn placement_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<super::PlacementInput>,
) -> Result<(StatusCode, Json<super::Placement>)> {
    let p = super::record_placement(&state, &Actor::User(user), &id, body, "api").await?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[utoipa::path(post, path = "/api/v1/candidates/{id}/cv/{file_id}/use", tag = "candidates",
    params(ID, ("file_id" = String, Path, description = "CV file id")),
    responses((status = 200, description = "That version's text is now the searchable CV text", body = serde_json::Value)))]
async fn use_cv_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path((id, file_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>> {
    let c = super::use_cv_text(&state, &Actor::User(user), &id, &file_id).await?;
    Ok(Json(json!({ "id": c.id, "files": c.files })))
}

#[utoipa::path(get, path = "/api/v1/candidates/{id}/followups", tag = "candidates", params(ID, crate::http::PageParams),
    responses((status = 200, description = "The record's « Suivi », newest first", body = crate::http::Page<super::followup::FollowUp>)))]
async fn followups_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    crate::http::Paged(paging, _): crate::http::Paged<crate::http::page::NoFilter>,
) -> Result<Json<crate::http::Page<super::followup::FollowUp>>> {
    let items = super::followup::list(&state, &Actor::User(user), &id).await?;
    Ok(Json(crate::http::Page::slice(items, paging)))
}

#[utoipa::path(post, path = "/api/v1/candidates/{id}/followups", tag = "candidates", params(ID),
    request_body = super::followup::NewFollowUp,
    responses((status = 201, description = "The new entry", body = super::followup::FollowUp)))]
async fn add_followup_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<super::followup::NewFollowUp>,
) -> Result<(StatusCode, Json<super::followup::FollowUp>)> {
    let f = super::followup::add(&state, &Actor::User(user), &id, input).await?;
    Ok((StatusCode::CREATED, Json(f)))
}

#[utoipa::path(post, path = "/api/v1/followups/{id}/done", tag = "candidates",
    params(("id" = String, Path, description = "Follow-up entry id")),
    responses((status = 204, description = "Its next step is done")))]
async fn followup_done_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    super::followup::complete_step(&state, &Actor::User(user), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/todo", tag = "candidates",
    responses((status = 200, description = "The caller's « À faire »", body = super::followup::Todo)))]
async fn todo_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
) -> Result<Json<super::followup::Todo>> {
    Ok(Json(
        super::followup::todo(&state, &Actor::User(user)).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/candidates/{id}/renew", tag = "candidates", params(ID),
    responses((status = 200, description = "The record's new retention date", body = serde_json::Value)))]
async fn renew_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    Reason(reason): Reason,
) -> Result<Json<serde_json::Value>> {
    let due = super::renew(&state, &Actor::User(user), &id, reason.as_deref()).await?;
    Ok(Json(json!({ "id": id, "retention_due_at": due })))
}

#[utoipa::path(get, path = "/api/v1/candidates/retention", tag = "candidates",
    responses((status = 200, description = "Records due for anonymisation", body = serde_json::Value)))]
async fn retention_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Reason(reason): Reason,
) -> Result<Json<serde_json::Value>> {
    let items = super::retention_list(&state, &Actor::User(user), reason.as_deref()).await?;
    Ok(Json(json!({
        "inactive_months": state.config.retention.inactive_months,
        "reminder_days": state.config.retention.reminder_days,
        "items": items,
    })))
}

// ---------------------------------------------------------------------------
// Search

/// Parsed search parameters.
#[derive(Debug, Default)]
struct SearchParams {
    q: Option<String>,
    rome: Vec<String>,
    commune: Option<String>,
    radius_km: Option<f64>,
    licence: Option<String>,
    available_before: Option<String>,
    contract_type: Option<String>,
    status: Option<String>,
    sort: SortBy,
    paging: crate::http::PageParams,
}

const DEFAULT_RADIUS_KM: f64 = 30.0;

fn parse_search(state: &AppState, raw: Option<&str>) -> Result<(SearchParams, CandidateQuery)> {
    let (paging, rest, mut errs) = crate::http::page::split_query(raw.unwrap_or(""));
    let mut p = SearchParams {
        paging,
        ..SearchParams::default()
    };
    let mut seen = std::collections::HashSet::new();
    for (k, v) in url::form_urlencoded::parse(rest.as_bytes()) {
        let v = v.trim().to_string();
        // One value each (`rome` takes a list): a second one is refused,
        // never silently preferred to the first.
        if k != "rome" && !seen.insert(k.to_string()) {
            errs.push(crate::http::page::duplicate(&k));
            continue;
        }
        match k.as_ref() {
            "q" => {
                crate::search::query_lang::check_length(&v)?;
                p.q = Some(v).filter(|s| !s.is_empty())
            }
            "rome" => {
                for (i, code) in v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .enumerate()
                {
                    let code = code.to_uppercase();
                    if !state.refs.rome_exists(&code) {
                        errs.push(FieldError::new(
                            format!("rome[{i}]"),
                            format!("unknown ROME code {code:?}"),
                        ));
                    } else {
                        p.rome.push(code);
                    }
                }
            }
            "commune" => p.commune = Some(v).filter(|s| !s.is_empty()),
            "radius_km" => match v.parse::<f64>() {
                // 0: the commune itself (its records sit at its centre).
                Ok(r) if r.is_finite() && (0.0..=1000.0).contains(&r) => p.radius_km = Some(r),
                Err(_) => errs.push(FieldError::coded(
                    "radius_km",
                    "invalid_type",
                    "expected a number of km between 0 and 1000",
                )),
                Ok(_) => errs.push(FieldError::coded(
                    "radius_km",
                    "out_of_range",
                    "expected a number of km between 0 and 1000",
                )),
            },
            "licence" => {
                let l = v.to_uppercase();
                if !l.is_empty() && !LICENCES.contains(&l.as_str()) {
                    errs.push(FieldError::new(
                        "licence",
                        format!(
                            "unknown licence category {v:?} (expected one of {})",
                            LICENCES.join(", ")
                        ),
                    ));
                }
                p.licence = Some(l).filter(|s| !s.is_empty())
            }
            "available_before" => {
                if crate::util::date_to_days(&v).is_none() {
                    errs.push(FieldError::new(
                        "available_before",
                        format!("{v:?} is not a date (YYYY-MM-DD)"),
                    ));
                }
                p.available_before = Some(v);
            }
            "contract_type" => {
                let c = v.to_uppercase();
                if !["CDI", "CDD", "MIS", "SAI", "ALT"].contains(&c.as_str()) {
                    errs.push(FieldError::new(
                        "contract_type",
                        "expected CDI, CDD, MIS, SAI or ALT",
                    ));
                }
                p.contract_type = Some(c);
            }
            "status" => {
                if v != "all" && CandidateStatus::parse(&v).is_none() {
                    errs.push(FieldError::new(
                        "status",
                        "expected active, in_referral, placed, archived or all",
                    ));
                }
                p.status = Some(v);
            }
            "sort" => match v.as_str() {
                "relevance" | "" => p.sort = SortBy::Relevance,
                "distance" => p.sort = SortBy::Distance,
                _ => errs.push(FieldError::new("sort", "expected relevance or distance")),
            },
            other => errs.push(FieldError::new(
                other.to_string(),
                "unknown search parameter",
            )),
        }
    }
    let mut near = None;
    match &p.commune {
        Some(insee) => match state.refs.commune(insee) {
            Some(c) => match c.point {
                Some(pt) => near = Some((pt, p.radius_km.unwrap_or(DEFAULT_RADIUS_KM))),
                None => errs.push(FieldError::new(
                    "commune",
                    "the centre of this commune is unknown",
                )),
            },
            None => errs.push(FieldError::new(
                "commune",
                format!("unknown INSEE commune code {insee:?}"),
            )),
        },
        None => {
            if p.radius_km.is_some() {
                errs.push(FieldError::new("radius_km", "needs a commune"));
            }
            if p.sort == SortBy::Distance {
                errs.push(FieldError::new(
                    "sort",
                    "sorting by distance needs a commune",
                ));
            }
        }
    }
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let q = CandidateQuery {
        text: p.q.clone(),
        rome_codes: p.rome.clone(),
        near,
        licence: p.licence.clone(),
        available_before_days: p
            .available_before
            .as_deref()
            .and_then(crate::util::date_to_days),
        contract_type: p.contract_type.clone(),
        status: p.status.clone(),
        ids: None,
        sort: p.sort,
        offset: usize::try_from(p.paging.offset()).unwrap_or(0),
        limit: usize::try_from(p.paging.per_page).unwrap_or(0),
        highlight: true,
        summaries: true,
    };
    Ok((p, q))
}

/// One hit of `GET /api/v1/candidates/search`.
#[derive(Serialize, utoipa::ToSchema)]
struct SearchHitOut {
    id: String,
    score: f32,
    distance_km: Option<f64>,
    snippet: Option<String>,
    first_name: String,
    last_name: String,
    commune_insee: String,
    commune_name: Option<String>,
    rome_codes: Vec<String>,
    job_titles: Vec<String>,
    status: CandidateStatus,
    available_from: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/candidates/search", tag = "candidates",
    params(
        ("q" = Option<String>, Query, description = "Text in the search language"),
        ("rome" = Option<String>, Query, description = "ROME codes, comma separated"),
        ("commune" = Option<String>, Query, description = "INSEE code of the centre of a distance search"),
        ("radius_km" = Option<f64>, Query, description = "Radius around `commune` (default 30, at most 1000)"),
        ("licence" = Option<String>, Query, description = "Driving licence held: a licence of this category or one that implies it (CE meets B), or its PERMIS_* certification"),
        ("available_before" = Option<String>, Query, description = "Available by this day, YYYY-MM-DD"),
        ("contract_type" = Option<String>, Query, description = "CDI, CDD, MIS, SAI or ALT"),
        ("status" = Option<String>, Query, description = "active, in_referral, placed, archived or all"),
        ("sort" = Option<String>, Query, description = "relevance (default) or distance"),
        crate::http::PageParams
    ),
    responses((status = 200, description = "Consented records matching, with facets (audited)", body = CandidateSearchPage)))]
async fn search_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Reason(reason): Reason,
    RawQuery(raw): RawQuery,
) -> Result<Json<CandidateSearchPage>> {
    let (p, q) = parse_search(&state, raw.as_deref())?;
    let results = super::search(
        &state,
        &Actor::User(user),
        &q,
        reason.as_deref(),
        |results| {
            json!({
                // The free text may name a person: only its length is kept.
                "q_chars": p.q.as_deref().map_or(0, |s| s.chars().count()),
                "rome": p.rome,
                "commune": p.commune,
                "radius_km": q.near.map(|n| n.1),
                "licence": p.licence,
                "available_before": p.available_before,
                "contract_type": p.contract_type,
                "status": p.status,
                "page": p.paging.page,
                "total": results.total,
                "hits": results.hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
            })
        },
    )
    .await??;
    let total = results.total;
    let relaxed = results.relaxed;
    // The page is built from the index's stored fields: no record is
    // loaded from the database.
    let hits: Vec<SearchHitOut> = results
        .hits
        .into_iter()
        .filter_map(|h| {
            let c = h.summary?;
            Some(SearchHitOut {
                commune_name: state.refs.commune(&c.commune_insee).map(|m| m.name.clone()),
                status: CandidateStatus::parse(&c.status)?,
                id: h.id,
                score: h.score,
                distance_km: h.distance_km.map(|d| (d * 10.0).round() / 10.0),
                snippet: h.snippet,
                first_name: c.first_name,
                last_name: c.last_name,
                commune_insee: c.commune_insee,
                rome_codes: c.rome_codes,
                job_titles: c.job_titles,
                available_from: c.available_from,
            })
        })
        .collect();
    Ok(Json(CandidateSearchPage {
        page: crate::http::Page::new(hits, i64::try_from(total).unwrap_or(i64::MAX), p.paging),
        facets: SearchFacets {
            rome: results.facets,
        },
        relaxed,
    }))
}

/// `GET /api/v1/candidates/search`: the list envelope and the facets of
/// every match (not only this page's).
#[derive(Serialize, utoipa::ToSchema)]
struct CandidateSearchPage {
    #[serde(flatten)]
    page: crate::http::Page<SearchHitOut>,
    facets: SearchFacets,
    /// Nobody had most of the words typed: the items are those with at
    /// least one word of each group, the most words first (`total` and
    /// `facets` count them).
    relaxed: bool,
}

/// Counts by ROME code over every match.
#[derive(Serialize, utoipa::ToSchema)]
struct SearchFacets {
    /// Matches per ROME code.
    rome: std::collections::BTreeMap<String, u64>,
}

// ---------------------------------------------------------------------------
// Listing (drafts included: search only sees consented records)

/// Query of `GET /api/v1/candidates` besides the paging.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only the caller's records.
    #[serde(default)]
    mine: Option<bool>,
    /// Only records without consent.
    #[serde(default)]
    draft: Option<bool>,
}

/// One line of `GET /api/v1/candidates`.
#[derive(Serialize, utoipa::ToSchema)]
struct ListItem {
    id: String,
    first_name: String,
    last_name: String,
    status: String,
    counsellor_id: Option<String>,
    /// `draft` or `consented`.
    state: &'static str,
    updated_at: i64,
}

#[utoipa::path(get, path = "/api/v1/candidates", tag = "candidates", params(crate::http::PageParams, ListParams),
    responses((status = 200, description = "Records, drafts included, most recently updated first (audited)", body = crate::http::Page<ListItem>)))]
async fn list_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Reason(reason): Reason,
    crate::http::Paged(paging, q): crate::http::Paged<ListParams>,
) -> Result<Json<crate::http::Page<ListItem>>> {
    let (total, rows) = super::list(
        &state,
        &Actor::User(user),
        q.mine.unwrap_or(false),
        q.draft.unwrap_or(false),
        paging,
        reason.as_deref(),
    )
    .await?;
    let items: Vec<ListItem> = rows
        .into_iter()
        .map(|r| ListItem {
            id: r.id,
            first_name: r.first_name,
            last_name: r.last_name,
            status: r.status,
            counsellor_id: r.counsellor_id,
            state: if r.consent_at.is_some() {
                "consented"
            } else {
                "draft"
            },
            updated_at: r.updated_at,
        })
        .collect();
    Ok(Json(crate::http::Page::new(items, total, paging)))
}

/// The `{id}` of a candidate record.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
struct ID(
    /// Candidate record id.
    String,
);

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_handler,
    read_handler,
    update_handler,
    reassign_handler,
    consent_handler,
    withdraw_consent_handler,
    erase_handler,
    upload_cv_handler,
    download_cv_handler,
    placement_handler,
    use_cv_handler,
    followups_handler,
    add_followup_handler,
    followup_done_handler,
    todo_handler,
    renew_handler,
    retention_handler,
    search_handler,
    list_handler
))]
pub(crate) struct Doc;

/// Routes under `/api/v1/candidates`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/candidates", get(list_handler).post(create_handler))
        .route("/api/v1/candidates/search", get(search_handler))
        .route("/api/v1/candidates/retention", get(retention_handler))
        .route(
            "/api/v1/candidates/{id}",
            get(read_handler).put(update_handler).delete(erase_handler),
        )
        .route(
            "/api/v1/candidates/{id}/consent",
            post(consent_handler).delete(withdraw_consent_handler),
        )
        .route("/api/v1/candidates/{id}/cv", post(upload_cv_handler))
        .route(
            "/api/v1/candidates/{id}/cv/{file_id}",
            get(download_cv_handler),
        )
        .route("/api/v1/candidates/{id}/placement", post(placement_handler))
        .route("/api/v1/candidates/{id}/renew", post(renew_handler))
        .route(
            "/api/v1/candidates/{id}/followups",
            get(followups_handler).post(add_followup_handler),
        )
        .route("/api/v1/followups/{id}/done", post(followup_done_handler))
        .route("/api/v1/todo", get(todo_handler))
        .route(
            "/api/v1/candidates/{id}/cv/{file_id}/use",
            post(use_cv_handler),
        )
        .route("/api/v1/candidates/{id}/counsellor", post(reassign_handler))
}
