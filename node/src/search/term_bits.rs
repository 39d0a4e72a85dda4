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

use std::sync::Arc;

use tantivy::query::{
    BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyError, Term};
use tantivy_common::BitSet;

/// Documents holding any of `terms` (all of field `field`).
#[derive(Clone, Debug)]
pub(crate) struct TermBitsQuery {
    field: Field,
    /// Sorted, without duplicates.
    terms: Arc<[Term]>,
}

impl TermBitsQuery {
    /// Terms of another field than `field` are ignored.
    pub(crate) fn new(field: Field, terms: impl IntoIterator<Item = Term>) -> TermBitsQuery {
        let mut terms: Vec<Term> = terms.into_iter().filter(|t| t.field() == field).collect();
        terms.sort_unstable();
        terms.dedup();
        TermBitsQuery {
            field,
            terms: terms.into(),
        }
    }
}

impl Query for TermBitsQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(TermBitsWeight(self.clone())))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for t in self.terms.iter() {
            visitor(t, false);
        }
    }
}

struct TermBitsWeight(TermBitsQuery);

impl Weight for TermBitsWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut docs = BitSet::with_max_value(reader.max_doc());
        let index = reader.inverted_index(self.0.field)?;
        for term in self.0.terms.iter() {
            let Some(info) = index.get_term_info(term)? else {
                continue;
            };
            let mut postings =
                index.read_block_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
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
        }
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
}
