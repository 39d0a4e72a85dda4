//! Every one of a few terms ([`TermsAndQuery`]): the words of an expression
//! taken apart (`préparateur de commandes` → `prepar` ∧ `command`), scored
//! as tantivy's `Must`-only boolean query of term queries — the sum of each
//! term's BM25, to the bit.
//!
//! tantivy intersects two posting lists by leapfrogging: the rarer list's
//! next document, a seek in the other, a seek back, until both agree. Two
//! common words of a million CVs make that a search in a block of the
//! longer list two or three times per match: a fifth of the slowest
//! searches' instructions. Here, in a long search (the rarest list has at
//! least [`DENSE_MIN_LEADER`] documents in the segment), the other terms'
//! documents are read once per segment into bit sets ([`DenseSets`], kept
//! by term): the rarest list is stepped through, each of its documents is
//! checked against the others' bits, and the others are sought only to
//! the documents they do hold, to read their term frequencies for the
//! score. A short search leapfrogs as tantivy does: too few steps to pay
//! for reading a long list whole. The term scorers are our own (tantivy
//! 0.22 does not export its `TermScorer`), so nothing goes through a
//! virtual call.
//!
//! The same check over a soft AND's clauses (a word with its variants and
//! boosts, kept by clause) was tried and not kept: the rarest clause is
//! then a union, whose stepping costs what the bits save.
//!
//! Memory: one bit per document of the segment per kept set, at most
//! [`DENSE_BUDGET_BITS`] in all (64 MB: about five hundred sets of a
//! million-document segment), then they are all dropped and read again as
//! searches ask.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{
    Bm25Weight, BooleanQuery, EmptyScorer, EnableScoring, Explanation, Occur, Query, Scorer,
    TermQuery, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentId, SegmentReader, Term, TERMINATED};
use tantivy_common::BitSet;

use super::term_bits::insert_docs;

/// A search whose rarest term has at least this many documents in a
/// segment checks the other terms against bit sets.
pub(crate) const DENSE_MIN_LEADER: u32 = 4_096;

/// Documents (bits) the kept sets may hold in all: 64 MB, about five hundred
/// sets of a million-document segment.
const DENSE_BUDGET_BITS: u64 = 512 * 1024 * 1024;

/// All of `terms`, each scored by its BM25 (term frequency over the
/// field's norms, as [`TermQuery`] with frequencies).
#[derive(Clone, Debug)]
pub(crate) struct TermsAndQuery {
    terms: Vec<Term>,
}

impl TermsAndQuery {
    /// At least two terms.
    pub(crate) fn new(terms: Vec<Term>) -> TermsAndQuery {
        debug_assert!(terms.len() >= 2);
        TermsAndQuery { terms }
    }

    /// `parts` as one [`TermsAndQuery`] when each of them is a bare
    /// [`TermQuery`] (those of the query builder read frequencies), and
    /// there are two or more; `None` otherwise.
    pub(crate) fn of(parts: &[Box<dyn Query>]) -> Option<TermsAndQuery> {
        if parts.len() < 2 {
            return None;
        }
        let terms = parts
            .iter()
            .map(|p| p.downcast_ref::<TermQuery>().map(|t| t.term().clone()))
            .collect::<Option<Vec<Term>>>()?;
        Some(TermsAndQuery::new(terms))
    }

    /// The same query through tantivy (scores with scoring disabled,
    /// explanations).
    fn boolean(&self) -> BooleanQuery {
        BooleanQuery::new(
            self.terms
                .iter()
                .map(|t| {
                    let q: Box<dyn Query> =
                        Box::new(TermQuery::new(t.clone(), IndexRecordOption::WithFreqs));
                    (Occur::Must, q)
                })
                .collect(),
        )
    }
}

impl Query for TermsAndQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let tantivy_weight = self.boolean().weight(scoring)?;
        let EnableScoring::Enabled {
            statistics_provider,
            ..
        } = scoring
        else {
            // Nothing to score: tantivy's intersection is as good.
            return Ok(tantivy_weight);
        };
        let terms = self
            .terms
            .iter()
            .map(|t| {
                Ok((
                    t.clone(),
                    Bm25Weight::for_terms(statistics_provider, std::slice::from_ref(t))?,
                ))
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(TermsAndWeight {
            terms,
            tantivy_weight,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for t in &self.terms {
            visitor(t, false);
        }
    }
}

struct TermsAndWeight {
    terms: Vec<(Term, Bm25Weight)>,
    /// The same query's weight in tantivy, for explanations.
    tantivy_weight: Box<dyn Weight>,
}

impl Weight for TermsAndWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scorers = Vec::with_capacity(self.terms.len());
        for (term, bm25) in &self.terms {
            let field = term.field();
            let Some(postings) = reader
                .inverted_index(field)?
                .read_postings(term, IndexRecordOption::WithFreqs)?
            else {
                return Ok(Box::new(EmptyScorer));
            };
            let norms = reader
                .fieldnorms_readers()
                .get_field(field)?
                .unwrap_or_else(|| FieldNormReader::constant(reader.max_doc(), 1));
            scorers.push(TermScorer {
                term: term.clone(),
                postings,
                norms,
                bm25: bm25.boost_by(boost),
            });
        }
        // As tantivy's intersection: rarest first (a stable sort), which
        // also fixes the order the scores are added in.
        scorers.sort_by_key(|s| s.postings.doc_freq());
        let leader = scorers.remove(0);
        let dense = leader.postings.doc_freq() >= DENSE_MIN_LEADER;
        let followers = scorers
            .into_iter()
            .map(|s| {
                let bits = if dense {
                    DenseSets::global().of(reader, &s.term)
                } else {
                    None
                };
                (s, bits)
            })
            .collect();
        let mut scorer = TermsAndScorer { leader, followers };
        let first = scorer.leader.postings.doc();
        scorer.settle(first);
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.tantivy_weight.explain(reader, doc)
    }
}

/// One term's postings with what scores them.
struct TermScorer {
    term: Term,
    postings: SegmentPostings,
    norms: FieldNormReader,
    bm25: Bm25Weight,
}

impl TermScorer {
    #[inline]
    fn score(&self) -> Score {
        let doc = self.postings.doc();
        self.bm25
            .score(self.norms.fieldnorm_id(doc), self.postings.term_freq())
    }
}

struct TermsAndScorer {
    /// The rarest term: its documents are the candidates.
    leader: TermScorer,
    /// The others, rarest first, with the bit set of their documents in a
    /// long search.
    followers: Vec<(TermScorer, Option<Arc<BitSet>>)>,
}

impl TermsAndScorer {
    /// From the leader's candidate `candidate` on: the first document every
    /// term holds (the leader and the followers left on it).
    #[inline]
    fn settle(&mut self, mut candidate: DocId) -> DocId {
        'candidates: loop {
            if candidate == TERMINATED {
                return TERMINATED;
            }
            for (_, bits) in &self.followers {
                if let Some(bits) = bits {
                    if !bits.contains(candidate) {
                        candidate = self.leader.postings.advance();
                        continue 'candidates;
                    }
                }
            }
            for (follower, _) in &mut self.followers {
                let doc = seek(&mut follower.postings, candidate);
                if doc != candidate {
                    // Not in this follower's bits (it has none, or the
                    // bits would have said): leapfrog.
                    candidate = seek(&mut self.leader.postings, doc);
                    continue 'candidates;
                }
            }
            return candidate;
        }
    }
}

/// `postings` moved to its first document from `target` on (where it is
/// when it is there already: tantivy's seek wants a target ahead).
#[inline]
fn seek(postings: &mut SegmentPostings, target: DocId) -> DocId {
    let doc = postings.doc();
    if doc >= target {
        doc
    } else {
        postings.seek(target)
    }
}

impl DocSet for TermsAndScorer {
    fn advance(&mut self) -> DocId {
        let next = self.leader.postings.advance();
        self.settle(next)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let next = seek(&mut self.leader.postings, target);
        self.settle(next)
    }

    fn doc(&self) -> DocId {
        self.leader.postings.doc()
    }

    fn size_hint(&self) -> u32 {
        self.leader.postings.size_hint()
    }
}

impl Scorer for TermsAndScorer {
    fn score(&mut self) -> Score {
        // tantivy's order: the two rarest, then the sum of the others.
        let mut followers = self.followers.iter();
        let first = followers.next().map_or(0.0, |(f, _)| f.score());
        self.leader.score() + first + followers.map(|(f, _)| f.score()).sum::<Score>()
    }
}

/// The documents of long posting lists, per segment and term, kept while
/// they fit in [`DENSE_BUDGET_BITS`] (a segment never changes once written:
/// deletions only hide documents, which the collector skips). Shared by
/// every index of the process: segment ids are unique.
pub(crate) struct DenseSets {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    sets: HashMap<(SegmentId, Term), Arc<BitSet>>,
    bits: u64,
}

impl DenseSets {
    fn global() -> &'static DenseSets {
        static SETS: OnceLock<DenseSets> = OnceLock::new();
        SETS.get_or_init(|| DenseSets {
            kept: Mutex::new(Kept::default()),
        })
    }

    /// The documents of `term` in the segment of `reader`; `None` when its
    /// postings cannot be read (the term is then sought as tantivy does).
    fn of(&self, reader: &SegmentReader, term: &Term) -> Option<Arc<BitSet>> {
        let key = (reader.segment_id(), term.clone());
        if let Some(bits) = self.lock().sets.get(&key) {
            return Some(Arc::clone(bits));
        }
        // Read outside the lock; two searches racing both read it.
        let bits = Arc::new(read_bits(reader, term)?);
        let mut kept = self.lock();
        let size = u64::from(reader.max_doc());
        if kept.bits + size > DENSE_BUDGET_BITS {
            // Full: start again (the sets in use stay alive in their
            // searches; the next searches read theirs again).
            kept.sets.clear();
            kept.bits = 0;
        }
        if kept.sets.insert(key, Arc::clone(&bits)).is_none() {
            kept.bits += size;
        }
        Some(bits)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The documents of `term`'s postings in the segment of `reader` (`None`
/// when they cannot be read).
fn read_bits(reader: &SegmentReader, term: &Term) -> Option<BitSet> {
    let mut bits = BitSet::with_max_value(reader.max_doc());
    let index = reader.inverted_index(term.field()).ok()?;
    insert_docs(&index, term, &mut bits).ok()?;
    Some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{Schema, STRING, TEXT};
    use tantivy::{Index, IndexWriter, Searcher, TantivyDocument};

    /// Three segments of 15,000 documents (some deleted), words drawn with
    /// different frequencies, two text fields.
    fn index() -> (
        Index,
        Searcher,
        tantivy::schema::Field,
        tantivy::schema::Field,
    ) {
        let mut b = Schema::builder();
        let body = b.add_text_field("body", TEXT);
        let title = b.add_text_field("title", TEXT);
        let id = b.add_text_field("id", STRING);
        let index = Index::create_in_ram(b.build());
        let mut writer: IndexWriter = index
            .writer_with_num_threads(1, 50_000_000)
            .expect("writer");
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % 1000
        };
        for segment in 0..3 {
            for i in 0..15_000u64 {
                let mut words = Vec::new();
                for (word, per_mille) in [("a", 600), ("b", 400), ("c", 300), ("d", 20)] {
                    if next() < per_mille {
                        let times = usize::try_from(next() % 3 + 1).unwrap_or(1);
                        words.extend(std::iter::repeat_n(word, times));
                    }
                }
                let fillers = usize::try_from(next() % 12).unwrap_or(0);
                words.extend(std::iter::repeat_n("filler", fillers));
                let mut doc = TantivyDocument::default();
                doc.add_text(body, words.join(" "));
                doc.add_text(title, if next() < 300 { "a title" } else { "other" });
                doc.add_text(id, format!("{segment}-{i}"));
                writer.add_document(doc).expect("add");
            }
            writer.commit().expect("commit");
        }
        for i in (0..15_000).step_by(7) {
            writer.delete_term(Term::from_field_text(id, &format!("1-{i}")));
        }
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        assert_eq!(searcher.segment_readers().len(), 3);
        (index, searcher, body, title)
    }

    fn tantivy_and(terms: &[Term]) -> BooleanQuery {
        TermsAndQuery::new(terms.to_vec()).boolean()
    }

    /// Every (document, score bits) of a scorer, from `from` on.
    fn walk(mut s: Box<dyn Scorer>, from: DocId) -> Vec<(DocId, u32)> {
        let mut out = Vec::new();
        let mut doc = if s.doc() < from {
            s.seek(from)
        } else {
            s.doc()
        };
        while doc != TERMINATED {
            out.push((doc, s.score().to_bits()));
            doc = s.advance();
        }
        out
    }

    /// The documents and scores of tantivy's `Must`-only boolean query of
    /// term queries, to the bit, from every segment's start and after a
    /// seek; long searches check the bit sets, short ones leapfrog.
    #[test]
    fn same_documents_and_scores_as_tantivy() {
        let (_index, searcher, body, title) = index();
        let t = |f, w: &str| Term::from_field_text(f, w);
        let cases = [
            (vec![t(body, "a"), t(body, "b")], true),
            (vec![t(body, "c"), t(body, "a"), t(body, "b")], true),
            (vec![t(body, "a"), t(body, "d")], false),
            (vec![t(title, "title"), t(body, "b"), t(body, "a")], true),
            (vec![t(body, "a"), t(body, "absent")], false),
        ];
        let scoring = EnableScoring::enabled_from_searcher(&searcher);
        for (terms, dense) in &cases {
            let ours = TermsAndQuery::new(terms.clone())
                .weight(scoring)
                .expect("weight");
            let theirs = tantivy_and(terms).weight(scoring).expect("weight");
            let mut matched = 0;
            for reader in searcher.segment_readers() {
                let scorer = ours.scorer(reader, 1.5).expect("scorer");
                if let Some(s) = scorer.downcast_ref::<TermsAndScorer>() {
                    let with_bits = s.followers.iter().all(|(_, b)| b.is_some());
                    assert_eq!(with_bits, *dense, "{terms:?}");
                }
                for from in [0, 1, 4_321, 9_999, 14_999, 15_000] {
                    let got = walk(ours.scorer(reader, 1.5).expect("scorer"), from);
                    let want = walk(theirs.scorer(reader, 1.5).expect("scorer"), from);
                    assert_eq!(got, want, "{terms:?} from {from}");
                    if from == 0 {
                        matched += got.len();
                    }
                }
            }
            let absent = terms.iter().any(|t| t.value().as_str() == Some("absent"));
            assert_eq!(matched == 0, absent, "{terms:?}: {matched}");
        }
    }

    /// Steps and seeks mixed mid-way (as a split search and the boosts
    /// move a scorer) land where tantivy's do, with the same scores.
    #[test]
    fn mixed_steps_and_seeks_land_with_tantivy() {
        let (_index, searcher, body, title) = index();
        let t = |f, w: &str| Term::from_field_text(f, w);
        let scoring = EnableScoring::enabled_from_searcher(&searcher);
        for terms in [
            vec![t(body, "a"), t(body, "b")],
            vec![t(body, "b"), t(title, "title"), t(body, "c")],
            vec![t(body, "d"), t(body, "a")],
        ] {
            let ours = TermsAndQuery::new(terms.clone())
                .weight(scoring)
                .expect("weight");
            let theirs = tantivy_and(&terms).weight(scoring).expect("weight");
            for reader in searcher.segment_readers() {
                let mut a = ours.scorer(reader, 1.0).expect("scorer");
                let mut b = theirs.scorer(reader, 1.0).expect("scorer");
                let mut k: u32 = 0;
                while a.doc() != TERMINATED {
                    assert_eq!(a.doc(), b.doc(), "{terms:?}");
                    assert_eq!(a.score().to_bits(), b.score().to_bits(), "{terms:?}");
                    k = k.wrapping_mul(31).wrapping_add(7) % 97;
                    if k.is_multiple_of(3) {
                        // A seek to where it is, or a little ahead.
                        let target = a.doc() + k % 5;
                        let (x, y) = (a.seek(target), b.seek(target));
                        assert_eq!(x, y, "{terms:?} seek {target}");
                    } else {
                        assert_eq!(a.advance(), b.advance(), "{terms:?}");
                    }
                }
                assert_eq!(b.doc(), TERMINATED);
            }
        }
    }

    /// Without scoring, the query is tantivy's (same documents).
    #[test]
    fn unscored_is_tantivys() {
        let (_index, searcher, body, _) = index();
        let terms = vec![
            Term::from_field_text(body, "a"),
            Term::from_field_text(body, "b"),
        ];
        let unscored = EnableScoring::disabled_from_searcher(&searcher);
        let ours = TermsAndQuery::new(terms.clone())
            .weight(unscored)
            .expect("weight");
        let theirs = tantivy_and(&terms).weight(unscored).expect("weight");
        for reader in searcher.segment_readers() {
            let docs = |w: &dyn Weight| {
                let mut s = w.scorer(reader, 1.0).expect("scorer");
                let mut out = Vec::new();
                while s.doc() != TERMINATED {
                    out.push(s.doc());
                    s.advance();
                }
                out
            };
            assert_eq!(docs(&*ours), docs(&*theirs));
        }
    }

    /// Only bare term queries, two or more, make one.
    #[test]
    fn made_of_bare_terms_only() {
        let (_index, _searcher, body, _) = index();
        let term = |w: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(body, w),
                IndexRecordOption::WithFreqs,
            ))
        };
        assert!(TermsAndQuery::of(&[term("a"), term("b")]).is_some());
        assert!(TermsAndQuery::of(&[term("a")]).is_none());
        let boosted: Box<dyn Query> = Box::new(tantivy::query::BoostQuery::new(term("b"), 2.0));
        assert!(TermsAndQuery::of(&[term("a"), boosted]).is_none());
    }
}
