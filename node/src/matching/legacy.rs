//! The previous ranking path, kept callable for the benchmark's side-by-side
//! comparison (`vivier-bench matching`) and nothing else: pre-selection by
//! index queries (BM25 over the offer's words, nearest candidates with a
//! related ROME code), capped at `max(20 × limit, 1000)` per workplace,
//! then every pre-selected record loaded from the database and scored in
//! Rust. Its scores are the same (the same [`super::evaluate`]); what it
//! lists can differ when the cap leaves a better pair out.

use std::collections::{HashMap, HashSet};

use vivier_protocol::OfferPayload;

use super::text::OfferTerms;
use super::{
    index_idf, rank_candidates, rank_offers, today, workplace_point, CandidateMatches,
    CandidateRun, Context, MatchParams, OfferMatches, OfferSide, WorkplaceMatches,
    PRESELECT_RADIUS_KM,
};
use crate::candidates::Candidate;
use crate::error::Result;
use crate::geo::Point;
use crate::offers::StoredOffer;
use crate::referentials::Referentials;
use crate::search::{CandidateQuery, OfferQuery, SortBy};
use crate::server::AppState;

/// Most candidates (or offers) read from the index per workplace.
const MAX_PRESELECT: usize = 200_000;

fn offer_text(refs: &Referentials, p: &OfferPayload) -> String {
    let label = refs
        .rome(&p.rome_code)
        .map(|r| r.label.as_str())
        .unwrap_or("");
    format!("{} {} {} {}", p.title, p.title, label, p.description)
}

/// Short French words that carry no meaning for matching.
const STOP_WORDS: &[&str] = &[
    "les", "des", "une", "pour", "avec", "dans", "sur", "par", "aux", "vous", "nous", "est",
    "sont", "que", "qui", "son", "ses", "leur", "leurs", "votre", "vos", "notre", "nos", "cette",
    "ces", "tout", "tous", "toute", "toutes", "plus", "sans", "sous", "entre", "chez", "être",
    "avoir", "afin", "ainsi", "mais", "donc", "car", "ans", "poste", "h/f",
];

/// A tantivy query matching any meaningful word of `text` (at most 40, the
/// most frequent first), or `None` when there is none.
fn or_query(text: &str) -> Option<String> {
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    for (pos, word) in text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(&w.as_str()))
        .enumerate()
    {
        counts.entry(word).or_insert((0, pos)).0 += 1;
    }
    let mut words: Vec<(String, (usize, usize))> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    words.truncate(40);
    if words.is_empty() {
        None
    } else {
        Some(
            words
                .into_iter()
                .map(|(w, _)| w)
                .collect::<Vec<_>>()
                .join(" OR "),
        )
    }
}

/// Candidate ids to score for one workplace, best pre-rank first (the
/// pre-rank only decides who is scored).
fn preselect_candidates(
    state: &AppState,
    offer: &OfferPayload,
    point: Option<Point>,
    related: &[String],
    cap: usize,
) -> Result<Vec<String>> {
    let idx = &state.search.candidates;
    let w = &state.config.matching;
    let text = offer_text(state.refs, offer);
    match point {
        Some(p) => {
            let radius = PRESELECT_RADIUS_KM.max(w.default_max_travel_km);
            let near = Some((p, radius));
            let mut bm25: HashMap<String, f32> = HashMap::new();
            let mut distance: HashMap<String, f64> = HashMap::new();
            // The best text matches within the radius (one OR query over
            // the offer's words, scored by BM25)...
            let or_query = or_query(&text);
            if let Some(q) = &or_query {
                for h in idx
                    .search(&CandidateQuery {
                        text: Some(q.clone()),
                        near,
                        status: Some("active".into()),
                        sort: SortBy::Relevance,
                        limit: cap,
                        ..CandidateQuery::default()
                    })?
                    .hits
                {
                    distance.insert(h.id.clone(), h.distance_km.unwrap_or(radius));
                    bm25.insert(h.id, h.score);
                }
            }
            // ... and the nearest candidates with a related ROME code.
            let mut rome_ids: HashSet<String> = HashSet::new();
            if !related.is_empty() {
                for h in idx
                    .search(&CandidateQuery {
                        near,
                        status: Some("active".into()),
                        rome_codes: related.to_vec(),
                        sort: SortBy::Distance,
                        limit: cap,
                        ..CandidateQuery::default()
                    })?
                    .hits
                {
                    distance.insert(h.id.clone(), h.distance_km.unwrap_or(radius));
                    rome_ids.insert(h.id);
                }
            }
            let max = bm25.values().copied().fold(0.0_f32, f32::max);
            let mut pre: Vec<(f64, String)> = distance
                .iter()
                .map(|(id, d)| {
                    let t = bm25
                        .get(id)
                        .map(|s| f64::from(*s / max.max(f32::MIN_POSITIVE)))
                        .unwrap_or(0.0);
                    let near = (1.0 - d / w.default_max_travel_km.max(1.0)).max(0.0);
                    let r = if rome_ids.contains(id) { 1.0 } else { 0.0 };
                    (r * w.rome + t * w.text + near * w.distance, id.clone())
                })
                .collect();
            pre.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            pre.truncate(cap);
            Ok(pre.into_iter().map(|(_, id)| id).collect())
        }
        None => {
            let mut ids: Vec<String> = Vec::new();
            let mut seen = HashSet::new();
            let bm25 = idx.text_scores(&text, None, cap)?;
            let mut by_text: Vec<(&String, &f32)> = bm25.iter().collect();
            by_text.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
            if !related.is_empty() {
                for h in idx
                    .search(&CandidateQuery {
                        status: Some("active".into()),
                        rome_codes: related.to_vec(),
                        limit: cap,
                        ..CandidateQuery::default()
                    })?
                    .hits
                {
                    if seen.insert(h.id.clone()) {
                        ids.push(h.id);
                    }
                }
            }
            for (id, _) in by_text {
                if seen.insert(id.clone()) {
                    ids.push(id.clone());
                }
            }
            ids.truncate(cap);
            Ok(ids)
        }
    }
}

/// [`super::match_offer`] by the previous path (benchmark comparison).
pub async fn match_offer_preselect(
    state: &AppState,
    offer: &StoredOffer,
    params: &MatchParams,
) -> Result<OfferMatches> {
    let (limit, near_misses) = params.checked_for(&offer.payload)?;
    let p = &offer.payload;
    let related = state
        .refs
        .rome_codes_related_to(std::slice::from_ref(&p.rome_code));
    let cap = (limit * 20).max(1000);
    let w = state.config.matching.clone();
    let cx = Context {
        refs: state.refs,
        weights: &w,
        today: today(state),
    };
    let side = OfferSide {
        payload: p,
        network: !offer.is_local,
    };
    let offer_terms = OfferTerms::of(state.refs, p);
    let idf = {
        let state = state.clone();
        let terms = offer_terms.terms();
        tokio::task::spawn_blocking(move || index_idf(&state, &terms)).await??
    };
    let mut out = Vec::new();
    for (index, wp) in p.workplaces.iter().enumerate() {
        if params.workplace.is_some_and(|i| i != index) {
            continue;
        }
        let point = workplace_point(wp);
        let (ids, held) = {
            let state = state.clone();
            let offer = p.clone();
            let related = related.clone();
            let terms = offer_terms.terms();
            tokio::task::spawn_blocking(move || -> Result<_> {
                let ids = preselect_candidates(&state, &offer, point, &related, cap)?;
                let held = state.search.candidates.match_terms_held(&ids, &terms)?;
                Ok((ids, held))
            })
            .await??
        };
        let candidates = crate::candidates::load_candidates(&state.db, &ids).await?;
        let (scored, considered, excluded) = rank_candidates(
            state,
            &cx,
            side,
            wp,
            &offer_terms,
            &idf,
            candidates.into_iter().map(std::sync::Arc::new).collect(),
            &held,
            near_misses,
            limit,
        );
        out.push(WorkplaceMatches {
            index,
            commune_insee: wp.commune_insee.clone(),
            label: wp.label.clone(),
            positions: wp.positions,
            distance_known: point.is_some(),
            considered,
            excluded,
            matches: scored,
        });
    }
    Ok(OfferMatches {
        offer_id: p.offer_id.clone(),
        origin_node: p.origin_node.to_string(),
        title: p.title.clone(),
        rome_code: p.rome_code.clone(),
        weights: w,
        workplaces: out,
    })
}

fn candidate_text(c: &Candidate) -> String {
    let cv: String = c.cv_text.chars().take(4000).collect();
    format!(
        "{} {} {} {}",
        c.job_titles.join(" "),
        c.job_titles.join(" "),
        c.skills.join(" "),
        cv
    )
}

fn preselect_offers(
    state: &AppState,
    c: &Candidate,
    radius: f64,
    related: &[String],
    cap: usize,
) -> Result<Vec<String>> {
    let idx = &state.search.offers;
    let text = candidate_text(c);
    let near = c.home.map(|h| (h, radius));
    let geo_ids: Option<Vec<String>> = match near {
        Some(_) => Some(
            idx.search(&OfferQuery {
                near,
                status: Some("open".into()),
                sort: SortBy::Distance,
                limit: MAX_PRESELECT,
                ..OfferQuery::default()
            })?
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect(),
        ),
        None => None,
    };
    if geo_ids.as_ref().is_some_and(|g| g.is_empty()) {
        return Ok(Vec::new());
    }
    let rome_hits = if related.is_empty() {
        Vec::new()
    } else {
        idx.search(&OfferQuery {
            near,
            status: Some("open".into()),
            rome_codes: related.to_vec(),
            limit: if near.is_some() { MAX_PRESELECT } else { cap },
            ..OfferQuery::default()
        })?
        .hits
    };
    let bm25 = match &geo_ids {
        Some(ids) => idx.text_scores(&text, Some(ids), ids.len())?,
        None => idx.text_scores(&text, None, cap)?,
    };
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for h in rome_hits {
        if seen.insert(h.id.clone()) {
            ids.push(h.id);
        }
    }
    let mut by_text: Vec<(&String, &f32)> = bm25.iter().collect();
    by_text.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (id, _) in by_text {
        if seen.insert(id.clone()) {
            ids.push(id.clone());
        }
    }
    ids.truncate(cap);
    Ok(ids)
}

/// [`super::match_candidate`] by the previous path (benchmark comparison).
pub async fn match_candidate_preselect(
    state: &AppState,
    c: &Candidate,
    params: &MatchParams,
) -> Result<CandidateMatches> {
    let CandidateRun {
        limit,
        near_misses,
        radius,
    } = match CandidateRun::new(state, c, params)? {
        Ok(run) => run,
        Err(empty) => return Ok(empty),
    };
    let related = state.refs.rome_codes_related_to(&c.rome_codes);
    let cap = (limit * 20).max(1000);
    let ids = {
        let state = state.clone();
        let c = c.clone();
        tokio::task::spawn_blocking(move || preselect_offers(&state, &c, radius, &related, cap))
            .await??
    };
    let offers = crate::offers::get_offers(&state.db, &ids).await?;
    let (scored, considered, excluded) = rank_offers(state, c, offers, near_misses, limit).await?;
    Ok(CandidateRun::answer(state, c, considered, excluded, scored))
}
