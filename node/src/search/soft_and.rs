//! "All words should match": a document matching at least `min_match` of
//! the clauses is a hit, scored by the sum of its matching clauses times
//! the square of the share of clauses it matches (coordination), so that
//! documents missing a word rank well below those that have them all. tantivy 0.22 has no
//! minimum-should-match; this is a small query of our own.

use tantivy::query::{intersect_scorers, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

/// At least `min_match` of `clauses` (1 ≤ `min_match` ≤ `clauses.len()`).
#[derive(Debug)]
pub(crate) struct SoftAndQuery {
    clauses: Vec<Box<dyn Query>>,
    min_match: usize,
}

impl Clone for SoftAndQuery {
    fn clone(&self) -> Self {
        SoftAndQuery {
            clauses: self.clauses.iter().map(|c| c.box_clone()).collect(),
            min_match: self.min_match,
        }
    }
}

impl SoftAndQuery {
    /// `min_match` is clamped to `1..=clauses.len()`.
    pub fn new(clauses: Vec<Box<dyn Query>>, min_match: usize) -> SoftAndQuery {
        let min_match = min_match.clamp(1, clauses.len().max(1));
        SoftAndQuery { clauses, min_match }
    }
}

impl Query for SoftAndQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weights = self
            .clauses
            .iter()
            .map(|c| c.weight(enable_scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(SoftAndWeight {
            weights,
            min_match: self.min_match,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        for c in &self.clauses {
            c.query_terms(visitor);
        }
    }
}

struct SoftAndWeight {
    weights: Vec<Box<dyn Weight>>,
    min_match: usize,
}

impl Weight for SoftAndWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let scorers = self
            .weights
            .iter()
            .map(|w| w.scorer(reader, boost))
            .collect::<tantivy::Result<Vec<_>>>()?;
        if scorers.len() == 1 {
            return Ok(scorers.into_iter().next().expect("one scorer"));
        }
        if self.min_match >= scorers.len() {
            // Everything required: tantivy's leapfrog intersection.
            return Ok(intersect_scorers(scorers));
        }
        Ok(Box::new(SoftAndScorer::new(scorers, self.min_match)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document #{doc} does not match"
            )));
        }
        Ok(Explanation::new(
            "SoftAnd (coordinated sum)",
            scorer.score(),
        ))
    }
}

/// Walks the documents matched by at least `min_match` sub-scorers. With
/// `d_1 ≤ … ≤ d_n` the current documents of the sub-scorers, no document
/// before `d_min_match` can have `min_match` matches: that is the next
/// candidate; every scorer behind it seeks to it; if too few land on it,
/// those that did move on. Each round moves at least one scorer forward.
struct SoftAndScorer {
    scorers: Vec<Box<dyn Scorer>>,
    min_match: usize,
    doc: DocId,
    /// Scratch buffer for the candidate selection.
    docs: Vec<DocId>,
}

impl SoftAndScorer {
    fn new(scorers: Vec<Box<dyn Scorer>>, min_match: usize) -> SoftAndScorer {
        let n = scorers.len();
        let mut s = SoftAndScorer {
            scorers,
            min_match,
            doc: TERMINATED,
            docs: Vec::with_capacity(n),
        };
        s.doc = s.find(0);
        s
    }

    /// The first document `>= target` with enough matches.
    fn find(&mut self, target: DocId) -> DocId {
        for s in &mut self.scorers {
            if s.doc() < target {
                s.seek(target);
            }
        }
        loop {
            self.docs.clear();
            self.docs.extend(self.scorers.iter().map(|s| s.doc()));
            let k = self.min_match - 1;
            let (_, &mut candidate, _) = self.docs.select_nth_unstable(k);
            if candidate == TERMINATED {
                return TERMINATED;
            }
            let mut on = 0;
            for s in &mut self.scorers {
                if s.doc() < candidate {
                    s.seek(candidate);
                }
                if s.doc() == candidate {
                    on += 1;
                }
            }
            if on >= self.min_match {
                return candidate;
            }
            for s in &mut self.scorers {
                if s.doc() == candidate {
                    s.advance();
                }
            }
        }
    }
}

impl DocSet for SoftAndScorer {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        let next = self.doc + 1;
        self.doc = self.find(next);
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        self.doc = self.find(target);
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.scorers
            .iter()
            .map(|s| s.size_hint())
            .max()
            .unwrap_or(0)
    }
}

impl Scorer for SoftAndScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        let mut sum = 0.0;
        let mut matched = 0usize;
        for s in &mut self.scorers {
            if s.doc() == doc {
                sum += s.score();
                matched += 1;
            }
        }
        let share = matched as Score / self.scorers.len() as Score;
        sum * share * share
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::TopDocs;
    use tantivy::query::TermQuery;
    use tantivy::schema::{IndexRecordOption, Schema, TEXT};
    use tantivy::{doc, Index, Term};

    #[test]
    fn at_least_k_of_n_with_coordination() {
        let mut b = Schema::builder();
        let body = b.add_text_field("body", TEXT);
        let index = Index::create_in_ram(b.build());
        let mut w = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        for text in ["a b c", "a b", "a", "b c", "c", "d"] {
            w.add_document(doc!(body => text)).expect("add");
        }
        w.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        let term = |t: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(body, t),
                IndexRecordOption::WithFreqs,
            ))
        };
        let run = |min: usize| {
            let q = SoftAndQuery::new(vec![term("a"), term("b"), term("c")], min);
            let top = searcher
                .search(&q, &TopDocs::with_limit(10))
                .expect("search");
            top.into_iter().map(|(_, a)| a.doc_id).collect::<Vec<_>>()
        };
        let mut two = run(2);
        // "a b c" first (all three), then the pairs.
        assert_eq!(two[0], 0);
        two.sort_unstable();
        assert_eq!(two, vec![0, 1, 3]);
        assert_eq!(run(3), vec![0]);
        let mut one = run(1);
        one.sort_unstable();
        assert_eq!(one, vec![0, 1, 2, 3, 4]);
    }
}
