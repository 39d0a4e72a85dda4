//! Two small queries of our own.
//!
//! - [`SoftAndQuery`], "all words should match": a document matching at
//!   least `min_match` of the clauses is a hit, scored by the sum of its
//!   matching clauses times the square of the share of clauses it matches
//!   (coordination), so that documents missing a word rank well below those
//!   that have them all. tantivy 0.22 has no minimum-should-match.
//! - [`BoostedQuery`], a required clause whose documents score more when
//!   optional clauses match them too (a word in a title, a name). tantivy's
//!   boolean query answers `Must` + several `Should` with a union of the
//!   optional clauses, moved to every required document by a seek that
//!   refills the union's window of documents: a third of a common word's
//!   search time. Here each optional scorer is moved to the document being
//!   scored on its own (a skip in one posting list), and only when a score
//!   is asked for.

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
        explained(self, reader, doc, "SoftAnd (coordinated sum)")
    }
}

/// The score of `doc` by `weight`'s scorer, under the name `what` (an error
/// when `doc` does not match).
fn explained(
    weight: &dyn Weight,
    reader: &SegmentReader,
    doc: DocId,
    what: &'static str,
) -> tantivy::Result<Explanation> {
    let mut scorer = weight.scorer(reader, 1.0)?;
    let at = if scorer.doc() < doc {
        scorer.seek(doc)
    } else {
        scorer.doc()
    };
    if at != doc {
        return Err(tantivy::TantivyError::InvalidArgument(format!(
            "document #{doc} does not match"
        )));
    }
    Ok(Explanation::new(what, scorer.score()))
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
        // Every scorer is at or after the current document (`find` moved
        // those behind to it): the ones on it step forward, a cheaper move
        // than a seek for a union (its window of documents is kept).
        let current = self.doc;
        for s in &mut self.scorers {
            if s.doc() == current {
                s.advance();
            }
        }
        self.doc = self.find(current + 1);
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

/// `required`, scored `required + Σ optional` over the optional clauses
/// that match the document (the score of tantivy's `Must` + `Should`
/// boolean query); the documents are `required`'s.
#[derive(Debug)]
pub(crate) struct BoostedQuery {
    required: Box<dyn Query>,
    optional: Vec<Box<dyn Query>>,
}

impl Clone for BoostedQuery {
    fn clone(&self) -> Self {
        BoostedQuery {
            required: self.required.box_clone(),
            optional: self.optional.iter().map(|c| c.box_clone()).collect(),
        }
    }
}

impl BoostedQuery {
    pub fn new(required: Box<dyn Query>, optional: Vec<Box<dyn Query>>) -> BoostedQuery {
        BoostedQuery { required, optional }
    }
}

impl Query for BoostedQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let required = self.required.weight(enable_scoring)?;
        if !enable_scoring.is_scoring_enabled() || self.optional.is_empty() {
            // Which documents match is the required clause's answer.
            return Ok(required);
        }
        let optional = self
            .optional
            .iter()
            .map(|c| c.weight(enable_scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(BoostedWeight { required, optional }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        self.required.query_terms(visitor);
        for c in &self.optional {
            c.query_terms(visitor);
        }
    }
}

struct BoostedWeight {
    required: Box<dyn Weight>,
    optional: Vec<Box<dyn Weight>>,
}

impl Weight for BoostedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let required = self.required.scorer(reader, boost)?;
        let mut optional = Vec::with_capacity(self.optional.len());
        for w in &self.optional {
            let s = w.scorer(reader, boost)?;
            // A term absent from the segment: nothing to add, ever.
            if s.doc() != TERMINATED {
                optional.push(s);
            }
        }
        if optional.is_empty() || required.doc() == TERMINATED {
            return Ok(required);
        }
        Ok(Box::new(BoostedScorer { required, optional }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        explained(self, reader, doc, "Boosted (required + matching optional)")
    }
}

struct BoostedScorer {
    required: Box<dyn Scorer>,
    /// Each behind or at the required scorer's document, moved forward
    /// only by [`Scorer::score`].
    optional: Vec<Box<dyn Scorer>>,
}

impl DocSet for BoostedScorer {
    fn advance(&mut self) -> DocId {
        self.required.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.required.seek(target)
    }

    fn doc(&self) -> DocId {
        self.required.doc()
    }

    fn size_hint(&self) -> u32 {
        self.required.size_hint()
    }
}

impl Scorer for BoostedScorer {
    fn score(&mut self) -> Score {
        let doc = self.required.doc();
        let mut score = self.required.score();
        for s in &mut self.optional {
            let at = if s.doc() < doc { s.seek(doc) } else { s.doc() };
            if at == doc {
                score += s.score();
            }
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::TopDocs;
    use tantivy::query::TermQuery;
    use tantivy::schema::{Field, IndexRecordOption, Schema, TEXT};
    use tantivy::{Index, Searcher, TantivyDocument, Term};

    /// An index in memory of one segment with text fields `names`, holding
    /// `docs` (one text per field, in order).
    fn ram_index<'a>(
        names: &[&str],
        docs: impl IntoIterator<Item = Vec<&'a str>>,
    ) -> (Searcher, Vec<Field>) {
        let mut b = Schema::builder();
        let fields: Vec<Field> = names.iter().map(|n| b.add_text_field(n, TEXT)).collect();
        let index = Index::create_in_ram(b.build());
        let mut w = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        for texts in docs {
            let mut doc = TantivyDocument::default();
            for (field, text) in fields.iter().zip(texts) {
                doc.add_text(*field, text);
            }
            w.add_document(doc).expect("add");
        }
        w.commit().expect("commit");
        (index.reader().expect("reader").searcher(), fields)
    }

    fn term(field: Field, text: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::WithFreqs,
        ))
    }

    #[test]
    fn at_least_k_of_n_with_coordination() {
        let (searcher, fields) = ram_index(
            &["body"],
            ["a b c", "a b", "a", "b c", "c", "d"].map(|t| vec![t]),
        );
        let term = |t: &str| term(fields[0], t);
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

    /// A boosted query finds the required clause's documents and scores
    /// them as tantivy's `Must` + `Should` boolean query does; without
    /// scoring it is the required clause.
    #[test]
    fn boosted_scores_as_must_plus_should() {
        use tantivy::collector::{Count, DocSetCollector};
        use tantivy::query::{BooleanQuery, BoostQuery, Occur};
        let texts = [
            ("agent entretien", "agent"),
            ("agent", ""),
            ("entretien des locaux agent", "agent entretien"),
            ("cariste", "cariste"),
            ("agent agent agent", "chef"),
            ("rien", "agent"),
        ];
        let (searcher, fields) = ram_index(
            &["body", "title"],
            (0..300).flat_map(|round| {
                texts
                    .iter()
                    .enumerate()
                    .filter(move |(i, _)| (round + i) % 3 != 0)
                    .map(|(_, (t, h))| vec![*t, *h])
            }),
        );
        let (body, title) = (fields[0], fields[1]);
        let optional = || -> Vec<Box<dyn Query>> {
            vec![
                Box::new(BoostQuery::new(term(title, "agent"), 2.0)),
                term(title, "entretien"),
                term(title, "absent"),
            ]
        };
        let ours = BoostedQuery::new(term(body, "agent"), optional());
        let mut clauses = vec![(Occur::Must, term(body, "agent"))];
        clauses.extend(optional().into_iter().map(|q| (Occur::Should, q)));
        let theirs = BooleanQuery::new(clauses);
        let top = |q: &dyn Query| {
            searcher
                .search(q, &TopDocs::with_limit(2000))
                .expect("search")
                .into_iter()
                .map(|(score, a)| (a, score))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let (a, b) = (top(&ours), top(&theirs));
        assert!(a.len() > 500, "{}", a.len());
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (doc, score) in &a {
            assert!(
                (score - b[doc]).abs() < 1e-5,
                "{doc:?}: {score} vs {}",
                b[doc]
            );
        }
        // The explanation gives the score; a document without the
        // required word has none.
        for (doc, score) in a.iter().take(20) {
            let e = ours.explain(&searcher, *doc).expect("explain");
            assert!((e.value() - score).abs() < 1e-5);
        }
        let missing = (0..searcher.num_docs() as u32)
            .map(|d| tantivy::DocAddress::new(0, d))
            .find(|d| !a.contains_key(d))
            .expect("a document without the word");
        assert!(ours.explain(&searcher, missing).is_err());
        // Documents with the title words score above those without.
        let max = a.values().cloned().fold(0.0f32, f32::max);
        let min = a.values().cloned().fold(f32::MAX, f32::min);
        assert!(max > min * 1.5, "{min} {max}");
        // Counting (no scoring) matches the required clause.
        let count = searcher.search(&ours, &Count).expect("count");
        let docs = searcher
            .search(&*term(body, "agent"), &DocSetCollector)
            .expect("docs");
        assert_eq!(count, docs.len());
    }

    /// Stepping the soft AND forward visits the documents a fresh seek
    /// to each next document finds.
    #[test]
    fn advancing_finds_what_seeking_finds() {
        let texts: Vec<String> = (0..5000u32)
            .map(|i| {
                let mut text = String::new();
                for (k, word) in ["a", "b", "c", "d"].iter().enumerate() {
                    if (i * 7 + k as u32 * 13).is_multiple_of(k as u32 + 2) || i % 97 == k as u32 {
                        text.push_str(word);
                        text.push(' ');
                    }
                }
                text
            })
            .collect();
        let (searcher, fields) = ram_index(&["body"], texts.iter().map(|t| vec![t.as_str()]));
        let reader = searcher.segment_reader(0);
        let term = |t: &str| term(fields[0], t);
        for min in 1..=4 {
            let q = SoftAndQuery::new(vec![term("a"), term("b"), term("c"), term("d")], min);
            let weight = q
                .weight(EnableScoring::enabled_from_searcher(&searcher))
                .expect("weight");
            let mut stepped = Vec::new();
            let mut s = weight.scorer(reader, 1.0).expect("scorer");
            while s.doc() != TERMINATED {
                stepped.push((s.doc(), s.score()));
                s.advance();
            }
            let mut sought = Vec::new();
            let mut target = 0;
            loop {
                let mut s = weight.scorer(reader, 1.0).expect("scorer");
                let doc = if s.doc() >= target {
                    s.doc()
                } else {
                    s.seek(target)
                };
                if doc == TERMINATED {
                    break;
                }
                sought.push((doc, s.score()));
                target = doc + 1;
            }
            assert!(!stepped.is_empty());
            assert_eq!(stepped, sought, "min {min}");
        }
    }
}
