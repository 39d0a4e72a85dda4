//! Reads over the offer index for the API and the web UI: the search,
//! audited `offer.search` (a read audit, buffered) for whoever asks; the
//! candidates matching an offer, for staff, audited `offer.matches`. The
//! index is a derived view: hits are loaded from the store, so a hit whose
//! row is gone is dropped.

use super::model::{OfferHit, OfferSearchResults, SearchParams, StoredOffer};
use super::service::get_offers;
use crate::actor::Actor;
use crate::error::{Error, FieldError, Result};
use crate::search::{OfferQuery, SortBy};
use crate::server::AppState;

/// Search the offers index (local and network offers) for `actor`, and
/// record the read (`via` names the adapter in the audit details, e.g.
/// `ui`; the API names none).
pub async fn search_offers_as(
    state: &AppState,
    actor: &Actor,
    p: &SearchParams,
    via: Option<&str>,
) -> Result<OfferSearchResults> {
    let user = actor.user().ok_or(Error::Forbidden)?;
    let results = search_offers(state, p).await?;
    let details = match via {
        Some(via) => serde_json::json!({"via": via, "results": results.total}),
        None => serde_json::json!({"results": results.total}),
    };
    state
        .read_audit
        .record(Some(user), "offer.search", "offer", "", None, details)
        .await?;
    Ok(results)
}

/// Search the offers index (local and network offers).
pub async fn search_offers(state: &AppState, p: &SearchParams) -> Result<OfferSearchResults> {
    let (limit, offset) = {
        let mut checks = crate::http::Checks::new();
        let as_i64 = |n: Option<usize>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let limit = checks.int(
            "per_page",
            as_i64(p.limit),
            20,
            1,
            crate::http::page::MAX_PER_PAGE,
        );
        let offset = checks.int(
            "page",
            as_i64(p.offset),
            0,
            0,
            (crate::http::page::MAX_PAGE - 1) * crate::http::page::MAX_PER_PAGE,
        );
        checks.finish()?;
        (
            usize::try_from(limit).unwrap_or(20),
            usize::try_from(offset).unwrap_or(0),
        )
    };
    if let Some(q) = &p.q {
        crate::search::query_lang::check_length(q)?;
    }
    let mut query = OfferQuery {
        text: p.q.clone().filter(|t| !t.trim().is_empty()),
        rome_codes: p
            .rome
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect(),
        limit,
        offset,
        highlight: true,
        ..OfferQuery::default()
    };
    // Every bad parameter at once.
    let mut errs = Vec::new();
    for code in &query.rome_codes {
        if !state.refs.rome_exists(code) {
            errs.push(FieldError::coded(
                "rome",
                "invalid_value",
                format!("unknown ROME code {code:?}"),
            ));
        }
    }
    if let Some(insee) = p.commune.as_deref().filter(|c| !c.trim().is_empty()) {
        match state.refs.commune(insee).map(|c| c.point) {
            None => errs.push(FieldError::coded(
                "commune",
                "invalid_value",
                format!("unknown commune INSEE code {insee:?}"),
            )),
            Some(None) => errs.push(FieldError::coded(
                "commune",
                "invalid_value",
                "this commune's centre is unknown: a distance search is impossible",
            )),
            Some(Some(point)) => {
                let radius = p.radius_km.unwrap_or(30.0);
                if !radius.is_finite() || !(0.0..=1000.0).contains(&radius) {
                    errs.push(FieldError::coded(
                        "radius_km",
                        "out_of_range",
                        "must be between 0 and 1000",
                    ));
                } else {
                    query.near = Some((point, radius));
                }
            }
        }
    } else if p.radius_km.is_some() {
        errs.push(FieldError::coded(
            "commune",
            "required",
            "required with radius_km",
        ));
    }
    if let Some(c) = p.contract_type.as_deref().filter(|c| !c.trim().is_empty()) {
        let c = c.trim().to_ascii_uppercase();
        if !["CDI", "CDD", "MIS", "SAI", "ALT"].contains(&c.as_str()) {
            errs.push(FieldError::coded(
                "contract_type",
                "invalid_value",
                "one of CDI, CDD, MIS, SAI, ALT",
            ));
        }
        query.contract_type = Some(c);
    }
    query.origin_node = match p.origin.as_deref().map(str::trim) {
        None | Some("") | Some("all") => None,
        Some("local") => Some(state.identity.node_id.to_string()),
        Some(node) => Some(node.to_string()),
    };
    query.status = match p.status.as_deref().unwrap_or("open") {
        "all" => None,
        s @ ("open" | "closed") => Some(s.to_string()),
        _ => {
            errs.push(FieldError::coded(
                "status",
                "invalid_value",
                "one of open, closed, all",
            ));
            None
        }
    };
    query.sort = match p.sort.as_deref().unwrap_or("relevance") {
        "relevance" => SortBy::Relevance,
        "distance" => SortBy::Distance,
        _ => {
            errs.push(FieldError::coded(
                "sort",
                "invalid_value",
                "relevance or distance",
            ));
            SortBy::Relevance
        }
    };
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let search = state.search.clone();
    let results = tokio::task::spawn_blocking(move || search.offers.search(&query)).await??;
    let ids: Vec<String> = results.hits.iter().map(|h| h.id.clone()).collect();
    let mut by_id: std::collections::HashMap<String, StoredOffer> = get_offers(&state.db, &ids)
        .await?
        .into_iter()
        .map(|o| (o.payload.offer_id.clone(), o))
        .collect();
    let hits = results
        .hits
        .into_iter()
        .filter_map(|h| {
            by_id.remove(&h.id).map(|offer| OfferHit {
                score: h.score,
                distance_km: h.distance_km.map(|d| (d * 10.0).round() / 10.0),
                snippet: h.snippet,
                offer,
            })
        })
        .collect();
    Ok(OfferSearchResults {
        total: results.total,
        hits,
        facets: results.facets,
    })
}
