//! The offers' side of the search index: the documents of stored rows
//! (read by the journal follower, parsed on its indexing thread) and the
//! full rebuild (`vivier-node reindex`).

use super::model::{docs_of_rows, offer_doc, OfferRow, StoredOffer};
use super::store;
use crate::db::Db;
use crate::error::Result;
use crate::search::OfferDoc;
use crate::server::AppState;

/// The index documents of offers `ids` (closed offers stay in the index
/// with status `closed`), and the ids that must leave the index.
pub async fn index_docs(db: &Db, ids: &[String]) -> Result<(Vec<OfferDoc>, Vec<String>)> {
    docs_of_rows(ids, &index_rows(db, ids).await?)
}

/// The rows [`docs_of_rows`] turns into documents (the follower reads them,
/// then builds the documents on the indexing thread).
pub async fn index_rows(db: &Db, ids: &[String]) -> Result<Vec<OfferRow>> {
    let mut conn = db.pool.acquire().await?;
    store::rows_of(&mut conn, ids).await
}

/// Rebuild the offer index from the database; returns the number indexed.
/// The index then follows the journal from the head it had at the start.
pub async fn reindex(
    state: &AppState,
    progress: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<u64> {
    let seq = crate::journal::head(&state.db).await?;
    reindex_at(state, progress, seq).await
}

/// [`reindex`] recording journal position `seq`.
pub async fn reindex_at(
    state: &AppState,
    progress: Option<&indicatif::ProgressBar>,
    seq: i64,
) -> anyhow::Result<u64> {
    let rows = {
        let mut conn = state.db.pool.acquire().await?;
        store::all_rows(&mut conn).await?
    };
    let mut docs = Vec::with_capacity(rows.len());
    for row in rows {
        match StoredOffer::try_from(row) {
            Ok(o) => docs.push(offer_doc(&o)),
            Err(e) => tracing::warn!(error = %e, "offer skipped while reindexing"),
        }
    }
    if let Some(bar) = progress {
        bar.set_length(docs.len() as u64);
    }
    let bar = progress.cloned();
    let search = state.search.clone();
    let n = tokio::task::spawn_blocking(move || {
        let mut it = docs.into_iter();
        search.offers.rebuild(
            &mut it,
            &|n| {
                if let Some(b) = &bar {
                    b.set_position(n);
                }
            },
            seq,
        )
    })
    .await??;
    Ok(n)
}
