//! Three small queries of our own.
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
//! - [`AnyOfQuery`], any of a few clauses (a word's variants), scored by
//!   the sum of those matching, as tantivy's `Should`-only boolean query.
//!   tantivy's union fills a window of 4,096 documents ahead, scoring every
//!   document of every clause as it goes: the fastest way to step through
//!   all of them, but inside an intersection (every word of the query
//!   required) the unions that follow the smallest clause are sought to
//!   its documents, and most of what they scored is dropped. There the
//!   soft AND asks for lazy unions: the clauses stepped together, a seek
//!   skipping in each clause's posting list instead of refilling a window,
//!   a document's score summed only when asked for. A boosted clause (a
//!   word's forms, scored up by its title and name postings) passes the
//!   request on to the union it requires.

use std::sync::Arc;

use tantivy::query::{
    intersect_scorers, BooleanWeight, EnableScoring, Explanation, Occur, Query, Scorer,
    SumWithCoordsCombiner, Weight,
};
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
            .map(|c| ClauseWeight::of(&**c, enable_scoring))
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
    weights: Vec<ClauseWeight>,
    min_match: usize,
}

impl Weight for SoftAndWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let n = self.weights.len();
        if n == 1 || self.min_match < n {
            // Every clause stepped through its documents: buffered unions.
            let scorers = self
                .weights
                .iter()
                .map(|w| w.scorer_lazy(reader, boost, false))
                .collect::<tantivy::Result<Vec<_>>>()?;
            if n == 1 {
                return Ok(scorers.into_iter().next().expect("one scorer"));
            }
            return Ok(Box::new(SoftAndScorer::new(scorers, self.min_match)));
        }
        // Everything required: tantivy's leapfrog intersection, led by its
        // smallest clause, stepped through its documents (a buffered
        // union); the others are sought to the leader's documents (lazy
        // unions).
        let mut scorers = self
            .weights
            .iter()
            .map(|w| w.scorer_lazy(reader, boost, true))
            .collect::<tantivy::Result<Vec<_>>>()?;
        let leader = (0..n).min_by_key(|&i| scorers[i].size_hint());
        if let Some(i) = leader.filter(|&i| self.weights[i].has_union()) {
            scorers[i] = self.weights[i].scorer_lazy(reader, boost, false)?;
        }
        Ok(intersect_scorers(scorers))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        explained(self, reader, doc, "SoftAnd (coordinated sum)")
    }
}

/// Moves `s`, behind `target`, to its first document at or after it: one
/// step first, then a seek if still behind. The scorers moved here are
/// mostly a word's title or name postings following its text postings, or
/// the words of a soft AND following each other: their next document is
/// usually the one sought, and a step costs a few nanoseconds where a seek
/// searches the posting block (`TermScorer::seek` was a sixth of a long
/// query's time).
#[inline]
fn catch_up(s: &mut Box<dyn Scorer>, target: DocId) -> DocId {
    let next = s.advance();
    if next < target {
        s.seek(target)
    } else {
        next
    }
}

/// The size hint of a union of `scorers`: its largest clause's.
fn largest_hint(scorers: &[Box<dyn Scorer>]) -> u32 {
    scorers.iter().map(|s| s.size_hint()).max().unwrap_or(0)
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
                catch_up(s, target);
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
                    catch_up(s, candidate);
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
        largest_hint(&self.scorers)
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

impl BoostedQuery {
    /// The weight, kept apart so that a soft AND or a lazy union can ask
    /// for its required clause's unions lazy ([`ClauseWeight`]).
    fn boosted_weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<ClauseWeight> {
        let required = ClauseWeight::of(&*self.required, enable_scoring)?;
        if !enable_scoring.is_scoring_enabled() || self.optional.is_empty() {
            // Which documents match is the required clause's answer.
            return Ok(required);
        }
        let optional = self
            .optional
            .iter()
            .map(|c| c.weight(enable_scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(ClauseWeight::Boosted(Arc::new(BoostedWeight {
            required,
            optional,
        })))
    }
}

impl Query for BoostedQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.boosted_weight(enable_scoring)?))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        self.required.query_terms(visitor);
        for c in &self.optional {
            c.query_terms(visitor);
        }
    }
}

struct BoostedWeight {
    required: ClauseWeight,
    optional: Vec<Box<dyn Weight>>,
}

impl BoostedWeight {
    /// `lazy`: the required clause's unions lazy ([`ClauseWeight`]).
    fn scorer_with(
        &self,
        reader: &SegmentReader,
        boost: Score,
        lazy: bool,
    ) -> tantivy::Result<Box<dyn Scorer>> {
        let required = self.required.scorer_lazy(reader, boost, lazy)?;
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
            let at = if s.doc() < doc {
                catch_up(s, doc)
            } else {
                s.doc()
            };
            if at == doc {
                score += s.score();
            }
        }
        score
    }
}

/// Any of `clauses` (two or more), scored by the sum of the clauses that
/// match, in their order (the score of tantivy's `Should`-only boolean
/// query, to the last bit).
#[derive(Debug)]
pub(crate) struct AnyOfQuery {
    clauses: Vec<Box<dyn Query>>,
}

impl Clone for AnyOfQuery {
    fn clone(&self) -> Self {
        AnyOfQuery {
            clauses: self.clauses.iter().map(|c| c.box_clone()).collect(),
        }
    }
}

impl AnyOfQuery {
    pub fn new(clauses: Vec<Box<dyn Query>>) -> AnyOfQuery {
        AnyOfQuery { clauses }
    }
}

impl AnyOfQuery {
    fn any_of_weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<AnyOfWeight> {
        let clauses = self
            .clauses
            .iter()
            .map(|c| ClauseWeight::of(&**c, enable_scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        let buffered = BooleanWeight::new(
            clauses
                .iter()
                .map(|c| (Occur::Should, Box::new(c.clone()) as Box<dyn Weight>))
                .collect(),
            enable_scoring.is_scoring_enabled(),
            Box::new(SumWithCoordsCombiner::default),
        );
        Ok(AnyOfWeight { clauses, buffered })
    }
}

impl Query for AnyOfQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ClauseWeight::AnyOf(Arc::new(
            self.any_of_weight(enable_scoring)?,
        ))))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        for c in &self.clauses {
            c.query_terms(visitor);
        }
    }
}

/// The weight of one clause, a union's (or a boosted clause's, for the
/// union it requires) kept apart so that its parent can ask for it lazy
/// or buffered. As a [`Weight`] of its own it is buffered (tantivy's
/// boolean weight over a lazy union's clauses owns them this way).
#[derive(Clone)]
enum ClauseWeight {
    AnyOf(Arc<AnyOfWeight>),
    Boosted(Arc<BoostedWeight>),
    Other(Arc<dyn Weight>),
}

impl ClauseWeight {
    fn of(q: &dyn Query, enable_scoring: EnableScoring<'_>) -> tantivy::Result<ClauseWeight> {
        if let Some(any) = q.downcast_ref::<AnyOfQuery>() {
            return Ok(ClauseWeight::AnyOf(Arc::new(
                any.any_of_weight(enable_scoring)?,
            )));
        }
        if let Some(boosted) = q.downcast_ref::<BoostedQuery>() {
            return boosted.boosted_weight(enable_scoring);
        }
        Ok(ClauseWeight::Other(Arc::from(q.weight(enable_scoring)?)))
    }

    /// A union of ours, or a boosted clause requiring one: lazy and
    /// buffered scorers differ.
    fn has_union(&self) -> bool {
        match self {
            ClauseWeight::AnyOf(_) => true,
            ClauseWeight::Boosted(w) => w.required.has_union(),
            ClauseWeight::Other(_) => false,
        }
    }

    /// `lazy`: the unions among the clause's own ([`AnyOfScorer`]), also
    /// the one a boosted clause requires; otherwise tantivy's buffered
    /// union.
    fn scorer_lazy(
        &self,
        reader: &SegmentReader,
        boost: Score,
        lazy: bool,
    ) -> tantivy::Result<Box<dyn Scorer>> {
        match self {
            ClauseWeight::AnyOf(w) => w.scorer_with(reader, boost, lazy),
            ClauseWeight::Boosted(w) => w.scorer_with(reader, boost, lazy),
            ClauseWeight::Other(w) => w.scorer(reader, boost),
        }
    }
}

impl Weight for ClauseWeight {
    /// Buffered, as tantivy's union; lazy only when a parent asks for it.
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.scorer_lazy(reader, boost, false)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        match self {
            ClauseWeight::AnyOf(_) => explained(self, reader, doc, "AnyOf (sum of matching)"),
            ClauseWeight::Boosted(_) => {
                explained(self, reader, doc, "Boosted (required + matching optional)")
            }
            ClauseWeight::Other(w) => w.explain(reader, doc),
        }
    }
}

struct AnyOfWeight {
    clauses: Vec<ClauseWeight>,
    /// tantivy's `Should` boolean weight over the same clauses.
    buffered: BooleanWeight<SumWithCoordsCombiner>,
}

impl AnyOfWeight {
    fn scorer_with(
        &self,
        reader: &SegmentReader,
        boost: Score,
        lazy: bool,
    ) -> tantivy::Result<Box<dyn Scorer>> {
        if !lazy {
            return self.buffered.scorer(reader, boost);
        }
        let mut scorers = Vec::with_capacity(self.clauses.len());
        for c in &self.clauses {
            let s = c.scorer_lazy(reader, boost, true)?;
            if s.doc() != TERMINATED {
                scorers.push(s);
            }
        }
        match scorers.len() {
            0 => Ok(Box::new(tantivy::query::EmptyScorer)),
            1 => Ok(scorers.pop().expect("one scorer")),
            _ => Ok(Box::new(AnyOfScorer::new(scorers))),
        }
    }
}

/// The clauses stepped together: the current document is the smallest of
/// theirs; the clauses on it move on when it is left. Each clause's
/// document is kept beside it, so a step calls only the clauses on the
/// current document.
struct AnyOfScorer {
    /// Not terminated, in the query's order.
    scorers: Vec<Box<dyn Scorer>>,
    /// `scorers[i].doc()`.
    docs: Vec<DocId>,
    doc: DocId,
}

impl AnyOfScorer {
    fn new(scorers: Vec<Box<dyn Scorer>>) -> AnyOfScorer {
        let docs = scorers.iter().map(|s| s.doc()).collect();
        let mut s = AnyOfScorer {
            scorers,
            docs,
            doc: TERMINATED,
        };
        s.settle();
        s
    }

    /// The smallest document of the clauses; terminated ones dropped.
    fn settle(&mut self) -> DocId {
        if self.docs.contains(&TERMINATED) {
            let mut i = 0;
            self.scorers.retain(|_| {
                let keep = self.docs[i] != TERMINATED;
                i += 1;
                keep
            });
            self.docs.retain(|&d| d != TERMINATED);
        }
        self.doc = self.docs.iter().copied().min().unwrap_or(TERMINATED);
        self.doc
    }
}

impl DocSet for AnyOfScorer {
    fn advance(&mut self) -> DocId {
        let doc = self.doc;
        if doc == TERMINATED {
            return TERMINATED;
        }
        for (d, s) in self.docs.iter_mut().zip(&mut self.scorers) {
            if *d == doc {
                *d = s.advance();
            }
        }
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if target <= self.doc {
            return self.doc;
        }
        for (d, s) in self.docs.iter_mut().zip(&mut self.scorers) {
            // Sought to another clause's documents, mostly far ahead: a
            // seek straight away.
            if *d < target {
                *d = s.seek(target);
            }
        }
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        // As tantivy's union.
        largest_hint(&self.scorers)
    }
}

impl Scorer for AnyOfScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        let mut sum: Score = 0.0;
        for (d, s) in self.docs.iter().zip(&mut self.scorers) {
            if *d == doc {
                sum += s.score();
            }
        }
        sum
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

    /// Every document `q` finds (up to 50,000) with its score's bits.
    fn scored_docs(searcher: &Searcher, q: &dyn Query) -> std::collections::BTreeSet<(u32, u32)> {
        searcher
            .search(q, &TopDocs::with_limit(50_000))
            .expect("search")
            .into_iter()
            .map(|(score, addr)| (addr.doc_id, score.to_bits()))
            .collect()
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

    /// The lazy union finds the documents and the scores of tantivy's
    /// `Should` boolean query, stepped or sought, alone and inside an
    /// intersection; without scoring it counts the same documents.
    #[test]
    fn any_of_is_tantivys_should_union() {
        use tantivy::collector::Count;
        use tantivy::query::{BooleanQuery, BoostQuery, Occur};
        let texts: Vec<String> = (0..20_000u32)
            .map(|i| {
                let mut text = String::new();
                for (k, word) in ["a", "b", "c", "d", "e"].iter().enumerate() {
                    let k = k as u32;
                    if (i * 7 + k * 13).is_multiple_of(k * 3 + 2) || i % 101 == k {
                        for _ in 0..=(i % (k + 1)) {
                            text.push_str(word);
                            text.push(' ');
                        }
                    }
                }
                text
            })
            .collect();
        let (searcher, fields) = ram_index(&["body"], texts.iter().map(|t| vec![t.as_str()]));
        let reader = searcher.segment_reader(0);
        let term = |t: &str| term(fields[0], t);
        let clauses = || -> Vec<Box<dyn Query>> {
            vec![
                term("a"),
                Box::new(BoostQuery::new(term("b"), 0.6)),
                term("absent"),
                term("c"),
            ]
        };
        let ours = AnyOfQuery::new(clauses());
        let theirs = BooleanQuery::new(clauses().into_iter().map(|q| (Occur::Should, q)).collect());
        let lazy = || {
            ours.any_of_weight(EnableScoring::enabled_from_searcher(&searcher))
                .expect("weight")
                .scorer_with(reader, 1.0, true)
                .expect("scorer")
        };
        let walk = |mut s: Box<dyn Scorer>| {
            let mut out = Vec::new();
            while s.doc() != TERMINATED {
                out.push((s.doc(), s.score().to_bits()));
                s.advance();
            }
            out
        };
        let all = |q: &dyn Query| {
            let mut s = q
                .weight(EnableScoring::enabled_from_searcher(&searcher))
                .expect("weight")
                .scorer(reader, 1.0)
                .expect("scorer");
            let mut out = Vec::new();
            while s.doc() != TERMINATED {
                out.push((s.doc(), s.score().to_bits()));
                s.advance();
            }
            out
        };
        let stepped = walk(lazy());
        assert!(stepped.len() > 10_000, "{}", stepped.len());
        assert_eq!(stepped, all(&theirs));
        // Buffered unless asked for lazy: tantivy's own union.
        assert_eq!(all(&ours), stepped);
        // Sought by strides.
        for stride in [1u32, 3, 50, 700] {
            let mut s = lazy();
            let mut target = 0;
            let mut sought = Vec::new();
            loop {
                let doc = if s.doc() >= target {
                    s.doc()
                } else {
                    s.seek(target)
                };
                if doc == TERMINATED {
                    break;
                }
                sought.push((doc, s.score().to_bits()));
                target = doc + stride;
            }
            let expected: Vec<(u32, u32)> = {
                let mut next = 0;
                stepped
                    .iter()
                    .filter(|(d, _)| {
                        let keep = *d >= next;
                        if keep {
                            next = d + stride;
                        }
                        keep
                    })
                    .copied()
                    .collect()
            };
            assert_eq!(sought, expected, "stride {stride}");
        }
        // Inside an intersection (where the soft AND asks the clauses
        // that follow for lazy unions), and counted without scores.
        let a = SoftAndQuery::new(
            vec![
                Box::new(AnyOfQuery::new(clauses())),
                term("d"),
                Box::new(AnyOfQuery::new(vec![term("e"), term("a")])),
            ],
            3,
        );
        let b = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(
                    clauses().into_iter().map(|q| (Occur::Should, q)).collect(),
                )) as Box<dyn Query>,
            ),
            (Occur::Must, term("d")),
            (
                Occur::Must,
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, term("e")),
                    (Occur::Should, term("a")),
                ])),
            ),
        ]);
        let top = |q: &dyn Query| scored_docs(&searcher, q);
        assert_eq!(top(&a), top(&b));
        assert!(!top(&a).is_empty());
        assert_eq!(
            searcher.search(&ours, &Count).expect("count"),
            stepped.len()
        );
        let e = ours
            .explain(&searcher, tantivy::DocAddress::new(0, stepped[3].0))
            .expect("explain");
        assert_eq!(e.value().to_bits(), stepped[3].1);
    }

    /// A boosted clause requiring a union, followed inside an
    /// intersection, asks for that union lazy; the documents and scores
    /// are tantivy's `Must` + `Should` boolean queries', to the bit.
    #[test]
    fn boosted_unions_follow_an_intersection_lazily() {
        use tantivy::query::{BooleanQuery, BoostQuery, Occur};
        let words = ["a", "b", "c", "d", "e"];
        let texts: Vec<(String, String)> = (0..20_000u32)
            .map(|i| {
                let mut body = String::new();
                let mut title = String::new();
                for (k, word) in words.iter().enumerate() {
                    let k = k as u32;
                    if (i * 7 + k * 13).is_multiple_of(k * 2 + 2) || i % 89 == k {
                        body.push_str(word);
                        body.push(' ');
                        if i % (k + 3) == 0 {
                            title.push_str(word);
                            title.push(' ');
                        }
                    }
                }
                (body, title)
            })
            .collect();
        let (searcher, fields) = ram_index(
            &["body", "title"],
            texts.iter().map(|(b, t)| vec![b.as_str(), t.as_str()]),
        );
        let (body, title) = (fields[0], fields[1]);
        // A word of two forms, boosted by its title postings.
        let word = |forms: &[&str]| -> Vec<Box<dyn Query>> {
            forms.iter().map(|f| term(body, f)).collect()
        };
        let boosts = |forms: &[&str]| -> Vec<Box<dyn Query>> {
            forms
                .iter()
                .map(|f| Box::new(BoostQuery::new(term(title, f), 1.7)) as Box<dyn Query>)
                .collect()
        };
        let ours_word = |forms: &[&str]| -> Box<dyn Query> {
            Box::new(BoostedQuery::new(
                Box::new(AnyOfQuery::new(word(forms))),
                boosts(forms),
            ))
        };
        let theirs_word = |forms: &[&str]| -> Box<dyn Query> {
            let mut clauses = vec![(
                Occur::Must,
                Box::new(BooleanQuery::new(
                    word(forms)
                        .into_iter()
                        .map(|q| (Occur::Should, q))
                        .collect(),
                )) as Box<dyn Query>,
            )];
            clauses.extend(boosts(forms).into_iter().map(|q| (Occur::Should, q)));
            Box::new(BooleanQuery::new(clauses))
        };
        let groups: [&[&str]; 3] = [&["a", "b"], &["c"], &["d", "e", "absent"]];
        let ours = SoftAndQuery::new(groups.iter().map(|g| ours_word(g)).collect(), 3);
        let theirs = BooleanQuery::new(
            groups
                .iter()
                .map(|g| (Occur::Must, theirs_word(g)))
                .collect(),
        );
        let top = |q: &dyn Query| scored_docs(&searcher, q);
        let (a, b) = (top(&ours), top(&theirs));
        assert!(a.len() > 500, "{}", a.len());
        assert_eq!(a, b);
        // The followers really are lazy: a lazy union scorer under the
        // boosted clause.
        let weight = ClauseWeight::of(
            &*ours_word(&["a", "b"]),
            EnableScoring::enabled_from_searcher(&searcher),
        )
        .expect("weight");
        assert!(weight.has_union());
        let reader = searcher.segment_reader(0);
        let lazy = weight.scorer_lazy(reader, 1.0, true).expect("scorer");
        let boosted = lazy.downcast_ref::<BoostedScorer>().expect("boosted");
        assert!(boosted.required.is::<AnyOfScorer>());
        let buffered = weight.scorer_lazy(reader, 1.0, false).expect("scorer");
        let boosted = buffered.downcast_ref::<BoostedScorer>().expect("boosted");
        assert!(!boosted.required.is::<AnyOfScorer>());
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
