//! A filter on a set of terms of one field (the communes of a radius, a
//! list of ids), read straight into a bitset of documents from each term's
//! postings.
//!
//! tantivy's `TermSetQuery` does the same work through an automaton: it
//! builds an FST of the terms each time the query is weighted and walks the
//! field's term dictionary with it. For a few hundred exact terms asked
//! once, a dictionary look-up per term is less work than building and
//! walking an automaton (the FST build alone was ~2 % of an HTTP search
//! run's CPU with radius queries).

use std::sync::{Arc, Mutex};

use tantivy::query::{
    BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{
    DocId, DocSet, InvertedIndexReader, Score, SegmentId, SegmentReader, TantivyError, Term,
    TERMINATED,
};
use tantivy_common::BitSet;

/// Documents holding any of `terms` (all of field `field`).
#[derive(Clone, Debug)]
pub(crate) struct TermBitsQuery {
    bits: Arc<SegmentBits>,
}

/// The documents of a term set per segment. A shared set
/// ([`SegmentBits::shared`]) is read once per segment for one search and
/// kept: for the filter ([`TermBitsQuery`]) and the word variants that
/// look at its documents only ([`WithinQuery`]); a set of one filter alone
/// is read each time, kept by nobody.
pub(crate) struct SegmentBits {
    field: Field,
    /// Sorted, without duplicates.
    terms: Arc<[Term]>,
    /// Segments read, when shared.
    read: Option<Mutex<Kept>>,
}

/// The segments a shared set has read, with their documents.
type Kept = Vec<(SegmentId, Arc<BitSet>)>;

impl std::fmt::Debug for SegmentBits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentBits")
            .field("field", &self.field)
            .field("terms", &self.terms.len())
            .finish_non_exhaustive()
    }
}

impl SegmentBits {
    /// A set read each time it is asked for (one filter). Terms of
    /// another field than `field` are ignored.
    pub(crate) fn new(field: Field, terms: impl IntoIterator<Item = Term>) -> SegmentBits {
        let mut terms: Vec<Term> = terms.into_iter().filter(|t| t.field() == field).collect();
        terms.sort_unstable();
        terms.dedup();
        SegmentBits {
            field,
            terms: terms.into(),
            read: None,
        }
    }

    /// A set read once per segment and kept, for several readers.
    pub(crate) fn shared(field: Field, terms: impl IntoIterator<Item = Term>) -> SegmentBits {
        SegmentBits {
            read: Some(Mutex::new(Vec::new())),
            ..SegmentBits::new(field, terms)
        }
    }

    /// The documents of segment `reader` holding any of the terms (when
    /// shared, read on the first call for that segment).
    pub(crate) fn of(&self, reader: &SegmentReader) -> tantivy::Result<Arc<BitSet>> {
        let Some(read) = &self.read else {
            return Ok(Arc::new(self.read_bits(reader)?));
        };
        // A panic while holding the lock left at worst a missing entry.
        let lock = || {
            read.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let id = reader.segment_id();
        if let Some((_, bits)) = lock().iter().find(|(s, _)| *s == id) {
            return Ok(bits.clone());
        }
        let bits = Arc::new(self.read_bits(reader)?);
        let mut read = lock();
        if let Some((_, known)) = read.iter().find(|(s, _)| *s == id) {
            return Ok(known.clone());
        }
        read.push((id, bits.clone()));
        Ok(bits)
    }

    /// Segments read and kept (tests).
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.read
            .as_ref()
            .map_or(0, |r| r.lock().map_or(0, |r| r.len()))
    }

    fn read_bits(&self, reader: &SegmentReader) -> tantivy::Result<BitSet> {
        let mut docs = BitSet::with_max_value(reader.max_doc());
        let index = reader.inverted_index(self.field)?;
        for term in self.terms.iter() {
            insert_docs(&index, term, &mut docs)?;
        }
        Ok(docs)
    }
}

/// Adds the documents of `term`'s postings (deleted ones included) to
/// `docs`, a block of postings at a time; whether the term is in `index`.
pub(crate) fn insert_docs(
    index: &InvertedIndexReader,
    term: &Term,
    docs: &mut BitSet,
) -> tantivy::Result<bool> {
    let Some(info) = index.get_term_info(term)? else {
        return Ok(false);
    };
    let mut postings = index.read_block_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
    loop {
        let block = postings.docs();
        if block.is_empty() {
            break;
        }
        for &doc in block {
            docs.insert(doc);
        }
        postings.advance();
    }
    Ok(true)
}

impl TermBitsQuery {
    /// Terms of another field than `field` are ignored.
    pub(crate) fn new(field: Field, terms: impl IntoIterator<Item = Term>) -> TermBitsQuery {
        TermBitsQuery::of(Arc::new(SegmentBits::new(field, terms)))
    }

    /// The filter of a shared term set.
    pub(crate) fn of(bits: Arc<SegmentBits>) -> TermBitsQuery {
        TermBitsQuery { bits }
    }
}

impl Query for TermBitsQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(TermBitsWeight(self.clone())))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for t in self.bits.terms.iter() {
            visitor(t, false);
        }
    }
}

struct TermBitsWeight(TermBitsQuery);

impl Weight for TermBitsWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        // A set nobody else reads comes back unshared: no copy.
        let bits = self.0.bits.of(reader)?;
        let docs = Arc::try_unwrap(bits).unwrap_or_else(|kept| BitSet::clone(&kept));
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc {
            Ok(Explanation::new("TermBitsQuery", 1.0))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} holds none of the terms"
            )))
        }
    }
}

/// `inner`, looking only at the documents of a term set: a word variant
/// under a search's radius. Its scorer steps over the documents outside
/// the set (a bit test) before anyone scores them. A union of many
/// variants otherwise scores every document of every variant in its
/// window before the radius's intersection drops nearly all of them.
/// The documents found are the same once the set is also a filter of the
/// search; the scores of those in the set are unchanged.
#[derive(Debug)]
pub(crate) struct WithinQuery {
    inner: Box<dyn Query>,
    bits: Arc<SegmentBits>,
}

impl Clone for WithinQuery {
    fn clone(&self) -> Self {
        WithinQuery {
            inner: self.inner.box_clone(),
            bits: self.bits.clone(),
        }
    }
}

impl WithinQuery {
    pub(crate) fn new(inner: Box<dyn Query>, bits: Arc<SegmentBits>) -> WithinQuery {
        WithinQuery { inner, bits }
    }
}

impl Query for WithinQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(WithinWeight {
            inner: self.inner.weight(scoring)?,
            bits: self.bits.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

struct WithinWeight {
    inner: Box<dyn Weight>,
    bits: Arc<SegmentBits>,
}

impl Weight for WithinWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scorer = WithinScorer {
            inner: self.inner.scorer(reader, boost)?,
            bits: self.bits.of(reader)?,
        };
        scorer.settle();
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if !self.bits.of(reader)?.contains(doc) {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} is outside the set"
            )));
        }
        self.inner.explain(reader, doc)
    }
}

struct WithinScorer {
    inner: Box<dyn Scorer>,
    bits: Arc<BitSet>,
}

impl WithinScorer {
    /// Move on until the current document is in the set (or none is left).
    fn settle(&mut self) -> DocId {
        let mut doc = self.inner.doc();
        while doc != TERMINATED && !self.bits.contains(doc) {
            doc = self.inner.advance();
        }
        doc
    }
}

impl DocSet for WithinScorer {
    fn advance(&mut self) -> DocId {
        self.inner.advance();
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.inner.doc() >= target {
            return self.inner.doc();
        }
        self.inner.seek(target);
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint().min(self.bits.len() as u32)
    }
}

impl Scorer for WithinScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::DocSetCollector;
    use tantivy::query::TermSetQuery;
    use tantivy::schema::{Schema, STRING};
    use tantivy::{doc, Index, IndexWriter};

    use super::*;

    /// The same documents as tantivy's `TermSetQuery` over several
    /// segments with deletions, for sets with absent terms, duplicates,
    /// another field's terms and none at all.
    #[test]
    fn finds_what_a_term_set_finds() {
        let mut schema = Schema::builder();
        let commune = schema.add_text_field("commune", STRING);
        let other = schema.add_text_field("other", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer(15_000_000).expect("writer");
        let code = |i: u32| format!("{:05}", (i * 7919) % 523);
        for round in 0..3u32 {
            for i in 0..700u32 {
                writer
                    .add_document(doc!(commune => code(i + round), other => code(i)))
                    .expect("add");
            }
            writer.commit().expect("commit");
        }
        writer.delete_term(Term::from_field_text(commune, &code(3)));
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        assert!(searcher.segment_readers().len() >= 2);
        let sets: Vec<Vec<Term>> = vec![
            vec![],
            (0..40)
                .map(|i| Term::from_field_text(commune, &code(i)))
                .collect(),
            vec![
                Term::from_field_text(commune, &code(5)),
                Term::from_field_text(commune, &code(5)),
                Term::from_field_text(commune, "absent"),
                Term::from_field_text(commune, &code(3)),
            ],
            (0..600)
                .map(|i| Term::from_field_text(commune, &code(i)))
                .collect(),
        ];
        for terms in sets {
            let ours = searcher
                .search(
                    &TermBitsQuery::new(commune, terms.clone()),
                    &DocSetCollector,
                )
                .expect("ours");
            let theirs = searcher
                .search(&TermSetQuery::new(terms.clone()), &DocSetCollector)
                .expect("theirs");
            assert_eq!(ours, theirs, "{} terms", terms.len());
            assert_eq!(ours.is_empty(), terms.is_empty());
        }
        // Another field's terms are not looked up in this one.
        let foreign = TermBitsQuery::new(commune, [Term::from_field_text(other, &code(5))]);
        assert!(searcher
            .search(&foreign, &DocSetCollector)
            .expect("search")
            .is_empty());
    }

    /// A union of terms looking only at a term set's documents finds, in
    /// every segment, exactly the documents of the union also in the set,
    /// with the same scores, whether walked or sought; the set is read
    /// once per segment.
    #[test]
    fn within_a_set_finds_the_union_s_documents_in_it_with_their_scores() {
        use tantivy::collector::TopDocs;
        use tantivy::query::{BooleanQuery, Occur, TermQuery};
        use tantivy::schema::TEXT;

        let mut schema = Schema::builder();
        let commune = schema.add_text_field("commune", STRING);
        let text = schema.add_text_field("text", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer(15_000_000).expect("writer");
        let words = ["cariste", "magasinier", "soudeur", "cuisinier"];
        for round in 0..3u32 {
            for i in 0..900u32 {
                let w = words[((i * 7 + round) % 4) as usize];
                let v = words[((i * 3 + 1) % 4) as usize];
                writer
                    .add_document(doc!(
                        commune => format!("{:05}", (i * 7919 + round) % 97),
                        text => format!("{w} {v} {w}")
                    ))
                    .expect("add");
            }
            writer.commit().expect("commit");
        }
        let searcher = index.reader().expect("reader").searcher();
        assert!(searcher.segment_readers().len() >= 2);
        let union = || -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                ["cariste", "soudeur", "absent"]
                    .iter()
                    .map(|w| {
                        (
                            Occur::Should,
                            Box::new(TermQuery::new(
                                Term::from_field_text(text, w),
                                IndexRecordOption::WithFreqs,
                            )) as Box<dyn Query>,
                        )
                    })
                    .collect(),
            ))
        };
        let set = || {
            Arc::new(SegmentBits::shared(
                commune,
                (0..97u32)
                    .filter(|c| c % 5 == 0)
                    .map(|c| Term::from_field_text(commune, &format!("{c:05}"))),
            ))
        };
        let top = |q: &dyn Query| {
            let mut v: Vec<(u32, u32, u32)> = searcher
                .search(q, &TopDocs::with_limit(10_000))
                .expect("search")
                .into_iter()
                .map(|(score, a)| (a.segment_ord, a.doc_id, score.to_bits()))
                .collect();
            v.sort_unstable();
            v
        };
        let filtered = BooleanQuery::new(vec![
            (Occur::Must, union()),
            (
                Occur::Must,
                Box::new(tantivy::query::ConstScoreQuery::new(
                    Box::new(TermBitsQuery::of(set())),
                    0.0,
                )) as Box<dyn Query>,
            ),
        ]);
        let bits = set();
        let within = WithinQuery::new(union(), bits.clone());
        let expected = top(&filtered);
        assert!(!expected.is_empty());
        assert_eq!(top(&within), expected);
        // Walked by a leader of its own: the set's documents seeking it.
        let led = BooleanQuery::new(vec![
            (Occur::Must, Box::new(within.clone()) as Box<dyn Query>),
            (
                Occur::Must,
                Box::new(tantivy::query::ConstScoreQuery::new(
                    Box::new(TermBitsQuery::of(bits.clone())),
                    0.0,
                )) as Box<dyn Query>,
            ),
        ]);
        assert_eq!(top(&led), expected);
        assert_eq!(bits.kept(), searcher.segment_readers().len());
    }
}
