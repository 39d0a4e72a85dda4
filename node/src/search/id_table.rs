//! The record ids of a segment, by id-column ordinal, decoded once per
//! segment.
//!
//! The `id` fast column is dictionary-encoded: reading one id by ordinal
//! (`StrColumn::ord_to_str`) decompresses a zstd block of the dictionary
//! with a fresh decompression context. Matching reads the ids of every row
//! it keeps and searches read those of every hit, so each ranking paid for
//! tens of block decompressions (7 % of an offer → candidates pass in a
//! profile). A segment never changes once written (deletions only hide
//! documents), so its ids are decoded once, into one buffer, and shared by
//! every search on that segment until it is merged away.
//!
//! Memory: the ids' bytes plus 4 bytes per document (about 40 MB for a
//! million candidates with UUID ids).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::columnar::StrColumn;
use tantivy::{Searcher, SegmentId};

/// The ids of one segment, in ordinal order.
#[derive(Debug, Default)]
pub struct IdTable {
    bytes: Vec<u8>,
    /// End offset in `bytes` of each ordinal's id.
    ends: Vec<u32>,
}

impl IdTable {
    /// Decodes the whole dictionary of an id column (one pass, each block
    /// decompressed once).
    fn build(col: &StrColumn) -> std::io::Result<IdTable> {
        let dict = col.dictionary();
        let n = dict.num_terms();
        let mut table = IdTable {
            bytes: Vec::with_capacity(n * 36),
            ends: Vec::with_capacity(n),
        };
        let mut stream = dict.stream()?;
        while stream.advance() {
            table.bytes.extend_from_slice(stream.key());
            let end = u32::try_from(table.bytes.len())
                .map_err(|_| std::io::Error::other("id dictionary above 4 GiB"))?;
            table.ends.push(end);
        }
        Ok(table)
    }

    /// The id of ordinal `ord`.
    pub fn get(&self, ord: u64) -> Option<&str> {
        let i = usize::try_from(ord).ok()?;
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => *self.ends.get(i - 1)? as usize,
        };
        std::str::from_utf8(self.bytes.get(start..end)?).ok()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// One segment's id column and its decoded ids.
#[derive(Clone)]
pub struct SegmentIds {
    pub column: StrColumn,
    pub table: Arc<IdTable>,
}

impl SegmentIds {
    /// The id of a document of the segment.
    pub fn of(&self, doc: tantivy::DocId) -> Option<&str> {
        self.table.get(self.column.term_ords(doc).next()?)
    }
}

/// Values derived from a segment once and shared by every search on it
/// until it is merged away (a segment never changes once written;
/// deletions only hide documents).
pub(crate) struct PerSegment<T> {
    by_segment: Mutex<HashMap<SegmentId, Arc<T>>>,
}

impl<T> Default for PerSegment<T> {
    fn default() -> Self {
        PerSegment {
            by_segment: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> PerSegment<T> {
    /// Per segment ordinal of `searcher`: its value (`build` returns `None`
    /// for a segment without one, which is not kept). Values of segments
    /// that are no longer in the searcher are dropped once they outnumber
    /// the live ones.
    pub(crate) fn for_searcher(
        &self,
        searcher: &Searcher,
        build: impl Fn(&tantivy::SegmentReader) -> tantivy::Result<Option<T>>,
    ) -> tantivy::Result<Vec<Option<Arc<T>>>> {
        let readers = searcher.segment_readers();
        let found: Vec<Option<Arc<T>>> = {
            let cache = self.by_segment.lock().unwrap_or_else(|p| p.into_inner());
            readers
                .iter()
                .map(|r| cache.get(&r.segment_id()).cloned())
                .collect()
        };
        // The missing ones are built outside the lock (a large segment
        // takes a while); two searches racing on a new segment both build
        // it, harmlessly.
        let mut built = Vec::new();
        let mut out = Vec::with_capacity(readers.len());
        for (r, f) in readers.iter().zip(found) {
            out.push(match f {
                Some(value) => Some(value),
                None => build(r)?.map(|value| {
                    let value = Arc::new(value);
                    built.push((r.segment_id(), Arc::clone(&value)));
                    value
                }),
            });
        }
        if built.is_empty() {
            return Ok(out);
        }
        let mut cache = self.by_segment.lock().unwrap_or_else(|p| p.into_inner());
        cache.extend(built);
        if cache.len() > 2 * readers.len() + 4 {
            let live: std::collections::HashSet<SegmentId> =
                readers.iter().map(|r| r.segment_id()).collect();
            cache.retain(|id, _| live.contains(id));
        }
        Ok(out)
    }
}

/// The id tables of an index's live segments.
#[derive(Default)]
pub(crate) struct IdTables {
    tables: PerSegment<IdTable>,
}

impl IdTables {
    /// Per segment ordinal of `searcher`: its ids (`None` for a segment
    /// without an id column).
    pub(crate) fn for_searcher(
        &self,
        searcher: &Searcher,
        id_field: &str,
    ) -> tantivy::Result<Vec<Option<SegmentIds>>> {
        let tables =
            self.tables
                .for_searcher(searcher, |r| match r.fast_fields().str(id_field)? {
                    Some(column) => Ok(Some(IdTable::build(&column)?)),
                    None => Ok(None),
                })?;
        let mut out = Vec::with_capacity(tables.len());
        for (r, table) in searcher.segment_readers().iter().zip(tables) {
            out.push(match (r.fast_fields().str(id_field)?, table) {
                (Some(column), Some(table)) => Some(SegmentIds { column, table }),
                _ => None,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{Schema, FAST, STRING};
    use tantivy::{doc, Index, IndexWriter};

    #[test]
    fn ids_by_ordinal_across_segments_and_merges() {
        let mut b = Schema::builder();
        let id = b.add_text_field("id", STRING | FAST);
        let index = Index::create_in_ram(b.build());
        let mut writer: IndexWriter = index.writer(15_000_000).expect("writer");
        // Enough ids for several dictionary blocks, in two segments.
        let ids: Vec<String> = (0..5_000)
            .map(|i| format!("{:08x}-0000-4000-8000-{i:012}", i * 7919 % 5_000))
            .collect();
        for chunk in ids.chunks(2_500) {
            for s in chunk {
                writer.add_document(doc!(id => s.as_str())).expect("add");
            }
            writer.commit().expect("commit");
        }
        let reader = index.reader().expect("reader");
        let tables = IdTables::default();
        let check = |searcher: &Searcher| {
            let per_segment = tables.for_searcher(searcher, "id").expect("tables");
            let mut seen = Vec::new();
            for (r, ids) in searcher.segment_readers().iter().zip(&per_segment) {
                let ids = ids.as_ref().expect("id column");
                assert_eq!(ids.table.len(), ids.column.num_terms());
                for doc in 0..r.max_doc() {
                    let by_table = ids.of(doc).expect("id").to_string();
                    let mut by_column = String::new();
                    let ord = ids.column.term_ords(doc).next().expect("ord");
                    ids.column.ord_to_str(ord, &mut by_column).expect("read");
                    assert_eq!(by_table, by_column);
                    seen.push(by_table);
                }
            }
            seen.sort();
            seen
        };
        let mut expected = ids.clone();
        expected.sort();
        let searcher = reader.searcher();
        assert_eq!(searcher.segment_readers().len(), 2);
        assert_eq!(check(&searcher), expected);
        // Cached: the same tables on the second call.
        let again = tables.for_searcher(&searcher, "id").expect("tables");
        let first = tables.for_searcher(&searcher, "id").expect("tables");
        for (a, b) in again.iter().zip(&first) {
            let (a, b) = (a.as_ref().expect("a"), b.as_ref().expect("b"));
            assert!(Arc::ptr_eq(&a.table, &b.table));
        }
        // After a merge into one segment: new tables, same ids.
        let segments = index.searchable_segment_ids().expect("segments");
        writer.merge(&segments).wait().expect("merge");
        writer.commit().expect("commit");
        reader.reload().expect("reload");
        let merged = reader.searcher();
        assert_eq!(merged.segment_readers().len(), 1);
        assert_eq!(check(&merged), expected);
        assert_eq!(IdTable::default().get(0), None);
    }
}
