//! From a parsed query ([`super::query_lang`]) to a tantivy query.

use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use super::analysis::{analyze_positions, fold_word};
use super::query_lang::{Atom, Conjunction, Group, Query as Parsed};
use super::SearchError;

/// Most terms a prefix (`cari*`) expands to, per field.
const MAX_PREFIX_TERMS: usize = 50;

/// A text field searched by the query, with its boost and analyzer name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextField {
    pub field: Field,
    pub boost: f32,
    pub analyzer: &'static str,
}

pub(crate) struct Builder<'a> {
    pub fields: &'a [TextField],
    pub searcher: &'a Searcher,
}

fn boosted(q: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    if (boost - 1.0).abs() > f32::EPSILON {
        Box::new(BoostQuery::new(q, boost))
    } else {
        q
    }
}

fn any_of(mut qs: Vec<Box<dyn Query>>) -> Option<Box<dyn Query>> {
    match qs.len() {
        0 => None,
        1 => qs.pop(),
        _ => Some(Box::new(BooleanQuery::new(
            qs.into_iter().map(|q| (Occur::Should, q)).collect(),
        ))),
    }
}

fn all_of(mut qs: Vec<Box<dyn Query>>) -> Option<Box<dyn Query>> {
    match qs.len() {
        0 => None,
        1 => qs.pop(),
        _ => Some(Box::new(BooleanQuery::new(
            qs.into_iter().map(|q| (Occur::Must, q)).collect(),
        ))),
    }
}

impl Builder<'_> {
    /// The tantivy query for a parsed query; `None` when nothing in it is
    /// searchable (blank, operators only, words the analysis drops).
    pub fn build(&self, q: &Parsed) -> Result<Option<Box<dyn Query>>, SearchError> {
        let mut alternatives = Vec::new();
        for c in &q.alternatives {
            if let Some(q) = self.conjunction(c)? {
                alternatives.push(q);
            }
        }
        Ok(any_of(alternatives))
    }

    fn conjunction(&self, c: &Conjunction) -> Result<Option<Box<dyn Query>>, SearchError> {
        let mut groups = Vec::new();
        for g in &c.groups {
            if let Some(q) = self.group(g)? {
                groups.push(q);
            }
        }
        Ok(all_of(groups))
    }

    fn group(&self, g: &Group) -> Result<Option<Box<dyn Query>>, SearchError> {
        let mut must = Vec::new();
        let mut must_not = Vec::new();
        for item in &g.items {
            if let Some(q) = self.atom(&item.atom)? {
                if item.negated {
                    must_not.push(q);
                } else {
                    must.push(q);
                }
            }
        }
        if must.is_empty() && must_not.is_empty() {
            return Ok(None);
        }
        if must_not.is_empty() {
            return Ok(all_of(must));
        }
        if must.is_empty() {
            must.push(Box::new(AllQuery));
        }
        let clauses = must
            .into_iter()
            .map(|q| (Occur::Must, q))
            .chain(must_not.into_iter().map(|q| (Occur::MustNot, q)))
            .collect();
        Ok(Some(Box::new(BooleanQuery::new(clauses))))
    }

    fn atom(&self, atom: &Atom) -> Result<Option<Box<dyn Query>>, SearchError> {
        Ok(match atom {
            Atom::Word(w) | Atom::Phrase(w) => self.words(w),
            Atom::Either(parts) => any_of(parts.iter().filter_map(|p| self.words(p)).collect()),
            Atom::Prefix(p) => self.prefix(p)?,
            Atom::Sub(q) => self.build(q)?,
        })
    }

    /// A word or phrase: per field, one term or a phrase of its terms.
    fn words(&self, text: &str) -> Option<Box<dyn Query>> {
        let mut per_field = Vec::new();
        for f in self.fields {
            let terms = analyze_positions(f.analyzer, text);
            let q: Box<dyn Query> = match terms.as_slice() {
                [] => continue,
                [(_, t)] => Box::new(TermQuery::new(
                    Term::from_field_text(f.field, t),
                    IndexRecordOption::WithFreqs,
                )),
                _ => Box::new(PhraseQuery::new_with_offset(
                    terms
                        .iter()
                        .map(|(p, t)| (*p, Term::from_field_text(f.field, t)))
                        .collect(),
                )),
            };
            per_field.push(boosted(q, f.boost));
        }
        any_of(per_field)
    }

    /// `cari*`: the terms of each field starting with the folded prefix
    /// (at most [`MAX_PREFIX_TERMS`] per field, most frequent first).
    fn prefix(&self, prefix: &str) -> Result<Option<Box<dyn Query>>, SearchError> {
        let p = fold_word(prefix);
        if p.is_empty() {
            return Ok(None);
        }
        let mut per_field = Vec::new();
        for f in self.fields {
            let terms = prefix_terms(self.searcher, f.field, &p, MAX_PREFIX_TERMS)?;
            let qs: Vec<Box<dyn Query>> = terms
                .into_iter()
                .map(|t| {
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.field, &t),
                        IndexRecordOption::WithFreqs,
                    )) as Box<dyn Query>
                })
                .collect();
            if let Some(q) = any_of(qs) {
                per_field.push(boosted(q, f.boost));
            }
        }
        Ok(any_of(per_field))
    }
}

/// Terms of `field` starting with `prefix`, over all segments, the `max`
/// with the highest document frequency.
pub(crate) fn prefix_terms(
    searcher: &Searcher,
    field: Field,
    prefix: &str,
    max: usize,
) -> Result<Vec<String>, SearchError> {
    let mut upper = prefix.as_bytes().to_vec();
    upper.push(0xFF);
    let mut found: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for reader in searcher.segment_readers() {
        let inverted = reader.inverted_index(field)?;
        let mut stream = inverted
            .terms()
            .range()
            .ge(prefix.as_bytes())
            .lt(&upper)
            .into_stream()?;
        // Bounded walk: a short prefix in a large vocabulary stops here.
        let mut seen = 0usize;
        while stream.advance() && seen < 10_000 {
            seen += 1;
            if let Ok(t) = std::str::from_utf8(stream.key()) {
                *found.entry(t.to_string()).or_insert(0) += u64::from(stream.value().doc_freq);
            }
        }
    }
    let mut terms: Vec<(String, u64)> = found.into_iter().collect();
    terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    terms.truncate(max);
    Ok(terms.into_iter().map(|(t, _)| t).collect())
}
