//! The benchmarks' side of the synthetic data. The generator itself (the
//! candidathèque and the offers) is the `vivier-gen` crate, shared with the
//! node's `demo` command; this module adds what only the benchmarks need:
//! the judged query set and the relevance judgments, which measure distances
//! with the node's referential.
//!
//! ## Relevance judgments
//! Each query targets one ROME code. A candidate's grade for a query is
//! 2 if they hold that code, 1 if they hold a code of the same ROME domain
//! (letter + two digits, e.g. N11) or the same historical parent, 0
//! otherwise; a query with a radius grades 0 every candidate whose home is
//! farther than the radius (haversine between commune centres) or unknown.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use vivier_node::geo::{haversine_km, Point};
use vivier_node::referentials::{Referentials, RomeRelation};

pub use vivier_gen::{
    csv_record, days_to_date, pick, write_csv, write_jsonl, GenCandidate, GenOffer, GenWorkplace,
    Licences, Profession, CSV_COLUMNS, DEFAULT_SEED, PROFESSIONS,
};

/// A judged query.
#[derive(Debug, Clone, Serialize)]
pub struct GenQuery {
    pub id: String,
    pub text: String,
    /// The ROME code the query is about (ground truth for judgments).
    pub rome_code: String,
    /// `title` or `skill`-like text; `geo` when a radius is given.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near_insee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius_km: Option<f64>,
    #[serde(skip)]
    pub near: Option<Point>,
}

/// The generator on the node's referentials, with the judged queries.
/// Dereferences to [`vivier_gen::Generator`] (`candidate`, `offer`…).
pub struct Generator {
    inner: vivier_gen::Generator,
    refs: &'static Referentials,
    /// ROME relation grade between professions' codes and any code, cached.
    relation: Mutex<HashMap<(String, String), u8>>,
}

impl std::ops::Deref for Generator {
    type Target = vivier_gen::Generator;
    fn deref(&self) -> &vivier_gen::Generator {
        &self.inner
    }
}

/// Centre of a generated candidate's home commune (ground truth for the
/// judgments; `None`: distance unknown).
pub fn home(c: &GenCandidate) -> Option<Point> {
    Referentials::global()
        .commune(&c.commune_insee)
        .and_then(|p| p.point)
}

impl Generator {
    /// A generator for this seed.
    pub fn new(seed: u64) -> anyhow::Result<Generator> {
        let refs = Referentials::global();
        Ok(Generator {
            inner: vivier_gen::Generator::new(seed, refs)?,
            refs,
            relation: Mutex::new(HashMap::new()),
        })
    }

    /// The judged query set (independent of the corpus size): each
    /// profession's queries, once without and once with a radius around a
    /// large town (10 to 50 km), twice for the
    /// first three queries of each profession.
    pub fn queries(&self) -> Vec<GenQuery> {
        let mut rng = self.rng(0, 3);
        let big = self.big_towns();
        let mut out = Vec::new();
        for p in PROFESSIONS {
            for (k, text) in p.queries.iter().enumerate() {
                let n = out.len();
                out.push(GenQuery {
                    id: format!("q{n:03}"),
                    text: (*text).to_string(),
                    rome_code: p.code.to_string(),
                    kind: "text".into(),
                    near_insee: None,
                    radius_km: None,
                    near: None,
                });
                let geo = if k < 3 { 2 } else { 1 };
                for _ in 0..geo {
                    let c = *pick(&mut rng, &big);
                    let radius = *pick(&mut rng, &[10.0, 20.0, 30.0, 50.0]);
                    let n = out.len();
                    out.push(GenQuery {
                        id: format!("q{n:03}"),
                        text: (*text).to_string(),
                        rome_code: p.code.to_string(),
                        kind: "geo".into(),
                        near_insee: Some(c.insee.clone()),
                        radius_km: Some(radius),
                        near: self.refs.commune(&c.insee).and_then(|c| c.point),
                    });
                }
            }
        }
        out
    }

    /// Relevance grade of `c`, living at `home` (see [`home`]), for `q`
    /// (see the module documentation).
    pub fn grade(&self, q: &GenQuery, c: &GenCandidate, home: Option<Point>) -> u8 {
        if let (Some(center), Some(r)) = (q.near, q.radius_km) {
            match home {
                Some(p) if haversine_km(center, p) <= r => {}
                _ => return 0,
            }
        }
        let mut best = 0;
        for code in &c.rome_codes {
            let g = self.code_grade(&q.rome_code, code);
            best = best.max(g);
        }
        best
    }

    /// Grade of holding `code` for a query about `target` (2, 1 or 0).
    pub fn code_grade(&self, target: &str, code: &str) -> u8 {
        if target == code {
            return 2;
        }
        let key = (target.to_string(), code.to_string());
        if let Ok(mut m) = self.relation.lock() {
            *m.entry(key)
                .or_insert_with(|| match self.refs.rome_relation(target, code) {
                    RomeRelation::None => 0,
                    _ => 1,
                })
        } else {
            0
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn digest(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// The generator's outputs on the node's referential, byte for byte as
    /// before it moved to its own crate: the benchmarks' judged queries and
    /// every published figure depend on them. (Digests of
    /// `vivier-gen --size 200 --offers 50`; the CSV's digest changed once,
    /// on 2026-12-04, for its new `certifications` column: the offers,
    /// queries and judgements did not.)
    #[test]
    fn outputs_are_unchanged() {
        let g = Generator::new(DEFAULT_SEED).unwrap();
        let mut csv = Vec::new();
        write_csv(&g, 200, &mut csv).unwrap();
        let mut offers = Vec::new();
        for i in 0..50 {
            serde_json::to_writer(&mut offers, &g.offer(i)).unwrap();
            offers.push(b'\n');
        }
        let mut queries = Vec::new();
        for q in g.queries() {
            serde_json::to_writer(&mut queries, &q).unwrap();
            queries.push(b'\n');
        }
        let mut qrels = String::new();
        let cands: Vec<GenCandidate> = (0..200).map(|i| g.candidate(i)).collect();
        for q in &g.queries() {
            for c in &cands {
                let grade = g.grade(q, c, home(c));
                if grade > 0 {
                    qrels.push_str(&format!("{} 0 {} {grade}\n", q.id, c.external_id));
                }
            }
        }
        assert_eq!(
            digest(&csv),
            "e4360775ca7903ca9ed148bd4bf7b55f88f751b6a7d53688cd64dafa1a81c4d1"
        );
        assert_eq!(
            digest(&offers),
            "a500e35c7597db3bf7b50ae68fbc27957053108c8cae4340e00b972c3922845f"
        );
        assert_eq!(
            digest(&queries),
            "c057370c92f01d6b011857760e12d33684cada683417b639c1320162e7a6701d"
        );
        assert_eq!(
            digest(qrels.as_bytes()),
            "23a996b0c291dab6f70dbbb274b51b15fcc783b288ab3ae91e49f7e03dabe640"
        );
    }
}
