//! The values a search page reads for every matching document — the ROME
//! codes counted as facets, the home or workplace points of a radius
//! search — decoded once per segment into flat arrays.
//!
//! Read from tantivy's fast columns, each matching document costs a
//! multi-valued index lookup (two bit-unpacked reads for its row range)
//! plus one read per value: about a tenth of a common query's time at a
//! million candidates, paid again by every search. A segment never changes
//! once written (deletions only hide documents), so its values are decoded
//! once, when the segment first reaches a searcher, and shared by every
//! search on it until it is merged away ([`PerSegment`]).
//!
//! The documents a search leaves out unless asked for (archived
//! candidates) are read the same way: once per segment, from the term's
//! postings into a bit set that the collector looks at
//! ([`DocValues::holding`]), instead of a `NOT` clause whose postings every
//! search would seek alongside each of its matches.
//!
//! Memory: 4 bytes per code and 8 per point, plus 4 bytes per document for
//! a column where some document has several values (about 16 MB for a
//! million candidates); one bit per document for a left-out term.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Searcher, SegmentReader, Term};
use tantivy_common::BitSet;

use super::engine::{F_PT, F_ROME};
use super::id_table::PerSegment;
use super::term_bits::insert_docs;

/// A value that can stand for "none" in a one-value-per-document array.
pub(crate) trait Absent: Copy + PartialEq {
    const NONE: Self;
}

impl Absent for u32 {
    const NONE: u32 = u32::MAX;
}

impl Absent for u64 {
    const NONE: u64 = u64::MAX;
}

/// A multi-valued column of one segment.
#[derive(Debug)]
pub(crate) enum Flat<T> {
    /// No document has more than one value (a candidate's home): the value
    /// of document `d` is `values[d]`, [`Absent::NONE`] for none — one read
    /// per document.
    One(Vec<T>),
    /// The values of document `d` are `values[offsets[d]..offsets[d + 1]]`.
    Many { offsets: Vec<u32>, values: Vec<T> },
}

impl<T> Default for Flat<T> {
    fn default() -> Self {
        Flat::One(Vec::new())
    }
}

impl<T: Absent> Flat<T> {
    /// Reads `values_of(doc)` for every document of a segment of `max_doc`.
    fn build<I: Iterator<Item = T>>(
        max_doc: DocId,
        mut values_of: impl FnMut(DocId) -> I,
    ) -> std::io::Result<Flat<T>> {
        let mut offsets = Vec::with_capacity(max_doc as usize + 1);
        let mut values = Vec::with_capacity(max_doc as usize);
        offsets.push(0u32);
        let mut one = true;
        for doc in 0..max_doc {
            let before = values.len();
            values.extend(values_of(doc));
            one &= values.len() - before <= 1 && values[before..].iter().all(|v| *v != T::NONE);
            let end = u32::try_from(values.len())
                .map_err(|_| std::io::Error::other("more than 2^32 values in a segment"))?;
            offsets.push(end);
        }
        if !one {
            return Ok(Flat::Many { offsets, values });
        }
        let mut dense = vec![T::NONE; max_doc as usize];
        for (slot, w) in dense.iter_mut().zip(offsets.windows(2)) {
            if w[1] > w[0] {
                *slot = values[w[0] as usize];
            }
        }
        Ok(Flat::One(dense))
    }

    /// The values of `doc` (none for a document beyond the segment).
    #[inline]
    pub(crate) fn of(&self, doc: DocId) -> &[T] {
        let d = doc as usize;
        match self {
            Flat::One(values) => match values.get(d) {
                Some(v) if *v != T::NONE => std::slice::from_ref(v),
                _ => &[],
            },
            Flat::Many { offsets, values } => match (offsets.get(d), offsets.get(d + 1)) {
                (Some(&start), Some(&end)) => {
                    values.get(start as usize..end as usize).unwrap_or_default()
                }
                _ => &[],
            },
        }
    }
}

/// The ROME codes of a segment's documents, as ordinals into `names`.
#[derive(Debug, Default)]
pub(crate) struct Codes {
    /// Each code, by ordinal.
    pub names: Vec<String>,
    pub ords: Flat<u32>,
}

impl Codes {
    fn build(column: &StrColumn, max_doc: DocId) -> std::io::Result<Codes> {
        let mut names = Vec::with_capacity(column.num_terms());
        let mut stream = column.dictionary().stream()?;
        while stream.advance() {
            names.push(String::from_utf8_lossy(stream.key()).into_owned());
        }
        let ords = Flat::build(max_doc, |doc| {
            column
                .term_ords(doc)
                .map(|o| u32::try_from(o).unwrap_or(u32::MAX))
        })?;
        Ok(Codes { names, ords })
    }
}

/// A searcher's segments' decoded values, by segment ordinal.
#[derive(Clone, Default)]
pub(crate) struct SegmentValues {
    pub codes: Vec<Option<Arc<Codes>>>,
    /// Empty unless asked for (a radius search).
    pub points: Vec<Option<Arc<Flat<u64>>>>,
    /// The documents left out ([`DocValues::holding`]); empty when none
    /// are.
    pub hidden: Vec<Option<Arc<BitSet>>>,
}

/// The decoded values of an index's live segments.
#[derive(Default)]
pub(crate) struct DocValues {
    codes: PerSegment<Codes>,
    points: PerSegment<Flat<u64>>,
    /// The documents holding a term, per term asked for (a default
    /// exclusion: one or two terms per index, fixed by the code).
    holding: Mutex<HashMap<Term, Arc<PerSegment<BitSet>>>>,
}

impl DocValues {
    /// The values of `searcher`'s segments (decoding those new to it);
    /// `points` only when asked for.
    pub(crate) fn for_searcher(
        &self,
        searcher: &Searcher,
        points: bool,
    ) -> tantivy::Result<SegmentValues> {
        let codes = self.codes.for_searcher(searcher, |r: &SegmentReader| {
            match r.fast_fields().str(F_ROME)? {
                Some(column) => Ok(Some(Codes::build(&column, r.max_doc())?)),
                None => Ok(None),
            }
        })?;
        let points = if points {
            self.points.for_searcher(searcher, |r: &SegmentReader| {
                let column: Option<Column<u64>> = r.fast_fields().column_opt(F_PT)?;
                match column {
                    Some(c) => Ok(Some(Flat::build(r.max_doc(), |doc| c.values_for_doc(doc))?)),
                    None => Ok(None),
                }
            })?
        } else {
            Vec::new()
        };
        Ok(SegmentValues {
            codes,
            points,
            hidden: Vec::new(),
        })
    }

    /// Decodes everything of `searcher`'s segments new to it: codes,
    /// points and the documents of every term asked for so far.
    pub(crate) fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        self.for_searcher(searcher, true)?;
        let terms: Vec<Term> = {
            let by_term = self.holding.lock().unwrap_or_else(|p| p.into_inner());
            by_term.keys().cloned().collect()
        };
        for term in &terms {
            self.holding(searcher, term)?;
        }
        Ok(())
    }

    /// Per segment ordinal of `searcher`: the documents holding `term`
    /// (deleted ones included: the collector skips those anyway), `None`
    /// for a segment where none does.
    pub(crate) fn holding(
        &self,
        searcher: &Searcher,
        term: &Term,
    ) -> tantivy::Result<Vec<Option<Arc<BitSet>>>> {
        let sets = {
            let mut by_term = self.holding.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(by_term.entry(term.clone()).or_default())
        };
        sets.for_searcher(searcher, |r: &SegmentReader| {
            let mut bits = BitSet::with_max_value(r.max_doc());
            let found = insert_docs(&*r.inverted_index(term.field())?, term, &mut bits)?;
            Ok(found.then_some(bits))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{Schema, FAST, STRING};
    use tantivy::{Index, IndexWriter, TantivyDocument};

    /// At most one value per document: one array read per document; a
    /// value equal to the "none" mark, or a second value, keeps offsets.
    #[test]
    fn one_value_per_document_is_read_without_offsets() {
        let of = |doc: DocId| (!doc.is_multiple_of(3)).then_some(u64::from(doc) * 10);
        let flat = Flat::build(1_000, |doc| of(doc).into_iter()).expect("flat");
        assert!(matches!(flat, Flat::One(_)));
        for doc in 0..1_000 {
            assert_eq!(flat.of(doc), of(doc).as_slice(), "doc {doc}");
        }
        assert!(flat.of(1_000).is_empty());
        let marked =
            Flat::build(10, |doc| (doc == 4).then_some(u32::MAX).into_iter()).expect("flat");
        assert!(matches!(marked, Flat::Many { .. }));
        assert_eq!(marked.of(4), &[u32::MAX]);
        assert!(marked.of(3).is_empty());
        let two =
            Flat::build(10, |doc| vec![doc; usize::from(doc == 7) + 1].into_iter()).expect("flat");
        assert!(matches!(two, Flat::Many { .. }));
        assert_eq!(two.of(7), &[7, 7]);
        assert_eq!(two.of(8), &[8]);
    }

    /// The flat arrays give each document the values its fast columns
    /// hold — none, one or several — across segments and after a merge.
    #[test]
    fn flat_values_are_the_columns_values() {
        let mut b = Schema::builder();
        let rome = b.add_text_field(F_ROME, STRING | FAST);
        let pt = b.add_u64_field(F_PT, FAST);
        let index = Index::create_in_ram(b.build());
        let mut writer: IndexWriter = index.writer(15_000_000).expect("writer");
        for round in 0..2u64 {
            for i in 0..3_000u64 {
                let mut doc = TantivyDocument::default();
                for k in 0..(i % 4) {
                    doc.add_text(rome, format!("K{:04}", (i * 7 + k * 13 + round) % 97));
                }
                for k in 0..(i % 3) {
                    doc.add_u64(pt, i * 1_000 + k);
                }
                writer.add_document(doc).expect("add");
            }
            writer.commit().expect("commit");
        }
        let reader = index.reader().expect("reader");
        let values = DocValues::default();
        let check = |searcher: &Searcher| {
            let v = values.for_searcher(searcher, true).expect("values");
            assert_eq!(v.codes.len(), searcher.segment_readers().len());
            let mut seen = 0;
            for (ord, r) in searcher.segment_readers().iter().enumerate() {
                let codes = v.codes[ord].as_ref().expect("codes");
                let points = v.points[ord].as_ref().expect("points");
                let rome_col = r.fast_fields().str(F_ROME).expect("col").expect("rome");
                let pt_col: Column<u64> =
                    r.fast_fields().column_opt(F_PT).expect("col").expect("pt");
                for doc in 0..r.max_doc() {
                    let want: Vec<String> = rome_col
                        .term_ords(doc)
                        .map(|o| {
                            let mut s = String::new();
                            rome_col.ord_to_str(o, &mut s).expect("term");
                            s
                        })
                        .collect();
                    let got: Vec<String> = codes
                        .ords
                        .of(doc)
                        .iter()
                        .map(|&o| codes.names[o as usize].clone())
                        .collect();
                    assert_eq!(got, want, "doc {doc}");
                    let want: Vec<u64> = pt_col.values_for_doc(doc).collect();
                    assert_eq!(points.of(doc), want.as_slice());
                    seen += usize::from(!want.is_empty());
                }
                assert!(codes.ords.of(r.max_doc()).is_empty());
            }
            assert!(seen > 1_000);
        };
        let searcher = reader.searcher();
        assert_eq!(searcher.segment_readers().len(), 2);
        check(&searcher);
        // Cached: the same arrays on the next search; none decoded without
        // a radius.
        let a = values.for_searcher(&searcher, false).expect("values");
        let b = values.for_searcher(&searcher, false).expect("values");
        assert!(a.points.is_empty());
        assert!(Arc::ptr_eq(
            a.codes[0].as_ref().expect("a"),
            b.codes[0].as_ref().expect("b")
        ));
        let segments = index.searchable_segment_ids().expect("segments");
        writer.merge(&segments).wait().expect("merge");
        writer.commit().expect("commit");
        reader.reload().expect("reload");
        let merged = reader.searcher();
        assert_eq!(merged.segment_readers().len(), 1);
        check(&merged);
    }
}
